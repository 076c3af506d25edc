/**
 * The Spotify preset: `Spotify.tokenUrl`, `Spotify.layer(...)` and `Spotify.layerConfig()`.
 *
 * @since 0.1.0
 */
export * as Spotify from "./Spotify.js"
