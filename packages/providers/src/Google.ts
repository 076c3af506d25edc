/**
 * Google (OAuth 2.0 for web server apps).
 *
 * Quirks, from https://developers.google.com/identity/protocols/oauth2/web-server:
 * - the token endpoint takes `client_id` and `client_secret` in the body ("Refreshing an access token");
 * - refresh tokens are not rotated: an answer to a refresh carries no `refresh_token`, and the one sent stays valid;
 * - a refresh token is only granted with `access_type=offline` on the authorization request (pass it in
 *   `Provider.authorizationUrl`'s `params`);
 * - revocation is RFC 7009 at `https://oauth2.googleapis.com/revoke` ("Revoking a token");
 * - the refresh tokens of apps in "Testing" publishing status expire after 7 days; that is an app setting, not a
 *   documented policy of every token, so no `refreshTokenLifetime` is set;
 * - a refresh token "has not been used for six months" is one of the documented reasons it stops working
 *   ("Refresh token expiration"): `refreshTokenIdleTimeout` is 180 days, the shortest six months.
 *
 * @since 0.1.0
 */
import { Provider } from "@token-refresher/core"
import * as Config from "effect/Config"
import { type CommonOptions, type PresetLayer, clientConfig, makeLayers } from "./internal/preset.js"

/**
 * The options of `Google.layer` and `Google.layerConfig`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends CommonOptions {}

/**
 * The Google provider.
 *
 * @since 0.1.0
 * @category constants
 */
export const provider: Provider.Provider = Provider.make({
  name: "google",
  tokenUrl: "https://oauth2.googleapis.com/token",
  authorizeUrl: "https://accounts.google.com/o/oauth2/v2/auth",
  revocationUrl: "https://oauth2.googleapis.com/revoke",
  // https://developers.google.com/identity/protocols/oauth2/limited-input-device
  deviceAuthorizationUrl: "https://oauth2.googleapis.com/device/code",
  authMethod: "client_secret_post",
  rotatesRefreshTokens: false,
  refreshTokenIdleTimeout: "180 days"
})

/**
 * `GOOGLE_CLIENT_ID`, and `GOOGLE_CLIENT_SECRET` when set.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all(clientConfig("GOOGLE"))

const layers = makeLayers<Options>(() => provider, config)

/**
 * `TokenRefresher` for Google. Needs an `HttpClient`.
 *
 * @example
 * ```ts
 * import { Provider } from "@token-refresher/core"
 * import { NodeTokenClient } from "@token-refresher/node"
 * import { Google } from "@token-refresher/providers"
 * import { Layer, Redacted } from "effect"
 *
 * const Refresher = Google.layer({ clientId: "…apps.googleusercontent.com", clientSecret: Redacted.make("…") }).pipe(
 *   Layer.provide(NodeTokenClient.layer())
 * )
 *
 * // Google grants a refresh token only when the login asks for offline access
 * const loginUrl = Provider.authorizationUrl(Google.provider, {
 *   clientId: "…apps.googleusercontent.com",
 *   redirectUri: "http://127.0.0.1:8888/callback",
 *   state: "random-state",
 *   scope: ["openid", "email"],
 *   params: { access_type: "offline", prompt: "consent" }
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options: Options) => PresetLayer = layers.layer

/**
 * `TokenRefresher` for Google, with options read from `Config` (default: {@link config}). Needs an `HttpClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: (config?: Config.Config.Wrap<Options>) => PresetLayer = layers.layerConfig
