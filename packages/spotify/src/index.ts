/**
 * The Spotify preset: `Spotify.tokenUrl`, `Spotify.layer(...)`, `Spotify.layerConfig()`, and the CLI's session:
 * `Spotify.sessionKey`, `Spotify.seedFromEnv`.
 *
 * @since 0.1.0
 */
export * as Spotify from "./Spotify.js"

/**
 * The Spotify Web API with bearer auth: `SpotifyApi.layer()`, `SpotifyApi.me`.
 *
 * @since 0.1.0
 */
export * as SpotifyApi from "./SpotifyApi.js"
