/**
 * Production layers: the `TokenRefresher` with `NodeTokenClient` (undici, keep-alive, a connection cap, the deadline
 * enforced by the client) already provided. For another client, use `TokenRefresher.layer` from core and provide it,
 * e.g. `NodeHttpClient.layerUndici`.
 *
 * @since 0.1.0
 */
import { TokenRefresher } from "@token-refresher/core"
import { Spotify } from "@token-refresher/spotify"
import type * as ConfigError from "effect/ConfigError"
import * as Layer from "effect/Layer"
import * as NodeTokenClient from "./NodeTokenClient.js"

/**
 * `TokenRefresher` for any RFC 6749 provider, over `NodeTokenClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: TokenRefresher.Options
): Layer.Layer<TokenRefresher.TokenRefresher, ConfigError.ConfigError> =>
  TokenRefresher.layer(options).pipe(Layer.provide(NodeTokenClient.layer()))

/**
 * `TokenRefresher` for any RFC 6749 provider, options read from `Config`, over `NodeTokenClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: TokenRefresher.OptionsConfig
): Layer.Layer<TokenRefresher.TokenRefresher, ConfigError.ConfigError> =>
  TokenRefresher.layerConfig(options).pipe(Layer.provide(NodeTokenClient.layer()))

/**
 * `TokenRefresher` for Spotify from the environment (`SPOTIFY_CLIENT_ID`, optional `SPOTIFY_CLIENT_SECRET` and
 * `SPOTIFY_ACCOUNTS_URL`), over `NodeTokenClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSpotify = (
  overrides?: Pick<Spotify.Options, "timeout" | "retry">
): Layer.Layer<TokenRefresher.TokenRefresher, ConfigError.ConfigError> =>
  Spotify.layerConfig(overrides).pipe(Layer.provide(NodeTokenClient.layer()))
