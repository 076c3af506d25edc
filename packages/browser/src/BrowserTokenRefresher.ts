/**
 * The `TokenRefresher` in the browser, over `fetch`: for public clients (PKCE) only.
 *
 * @since 0.6.0
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { TokenRefresher } from "@token-refresher/core"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/**
 * The options of {@link layer}: those of `TokenRefresher`, without a client secret.
 *
 * @since 0.6.0
 * @category models
 */
export type Options = TokenRefresher.Options

/** A page's code is public: a secret in it is anybody's. Refused with a `ConfigError` that says so. */
const refuseSecret = (
  options: TokenRefresher.Options
): Effect.Effect<TokenRefresher.Options, ConfigError.ConfigError> =>
  options.clientSecret !== undefined
    ? Effect.fail(
        ConfigError.InvalidData(
          ["clientSecret"],
          "a browser cannot keep a client secret: every visitor can read the page's code and storage. Register a " +
            "public client (PKCE, no secret), or keep the tokens on a backend"
        )
      )
    : Effect.succeed(options)

/**
 * `TokenRefresher` for any RFC 6749 provider, over the browser's `fetch` (`FetchHttpClient`). Public clients only:
 * a `clientSecret` fails the layer with a `ConfigError`. The token endpoint must answer the page's origin with CORS
 * headers (Spotify, Google, Microsoft and most servers do for their public clients).
 *
 * @example
 * ```ts
 * import { BrowserTokenRefresher } from "@token-refresher/browser"
 * import { Spotify } from "@token-refresher/spotify"
 *
 * const Refresher = BrowserTokenRefresher.layer({ provider: Spotify.provider, clientId: "my-app" })
 * ```
 *
 * @since 0.6.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<TokenRefresher.TokenRefresher, ConfigError.ConfigError> =>
  Layer.effect(TokenRefresher.TokenRefresher, Effect.flatMap(refuseSecret(options), TokenRefresher.make)).pipe(
    Layer.provide(FetchHttpClient.layer)
  )

/**
 * {@link layer} with options read from `Config`, as `TokenRefresher.layerConfig`.
 *
 * @since 0.6.0
 * @category layers
 */
export const layerConfig = (
  options: TokenRefresher.OptionsConfig
): Layer.Layer<TokenRefresher.TokenRefresher, ConfigError.ConfigError> =>
  Layer.effect(
    TokenRefresher.TokenRefresher,
    Effect.flatMap(Effect.flatMap(TokenRefresher.config(options), refuseSecret), TokenRefresher.make)
  ).pipe(Layer.provide(FetchHttpClient.layer))
