/**
 * Production layers: the `TokenRefresher` with `NodeTokenClient` (undici, keep-alive, a connection cap, the deadline
 * enforced by the client) already provided. For another client, use `TokenRefresher.layer` from core and provide it,
 * e.g. `NodeHttpClient.layerUndici`.
 *
 * @since 0.1.0
 */
import { TokenRefresher } from "@token-refresher/core"
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
