/**
 * Production layers: the `TokenRefresher` with Node's undici `HttpClient` already provided.
 *
 * @since 0.1.0
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { TokenRefresher } from "@token-refresher/core"
import { Spotify } from "@token-refresher/spotify"
import type * as ConfigError from "effect/ConfigError"
import * as Layer from "effect/Layer"

/**
 * `TokenRefresher` for any RFC 6749 provider, over undici.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: TokenRefresher.Options
): Layer.Layer<TokenRefresher.TokenRefresher, ConfigError.ConfigError> =>
  TokenRefresher.layer(options).pipe(Layer.provide(NodeHttpClient.layerUndici))

/**
 * `TokenRefresher` for any RFC 6749 provider, options read from `Config`, over undici.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: TokenRefresher.OptionsConfig
): Layer.Layer<TokenRefresher.TokenRefresher, ConfigError.ConfigError> =>
  TokenRefresher.layerConfig(options).pipe(Layer.provide(NodeHttpClient.layerUndici))

/**
 * `TokenRefresher` for Spotify from the environment (`SPOTIFY_CLIENT_ID`, optional `SPOTIFY_CLIENT_SECRET` and
 * `SPOTIFY_ACCOUNTS_URL`), over undici.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSpotify = (
  overrides?: Pick<Spotify.Options, "timeout" | "retry">
): Layer.Layer<TokenRefresher.TokenRefresher, ConfigError.ConfigError> =>
  Spotify.layerConfig(overrides).pipe(Layer.provide(NodeHttpClient.layerUndici))
