/**
 * Dropbox.
 *
 * Quirks, from https://developers.dropbox.com/oauth-guide and
 * https://www.dropbox.com/developers/documentation/http/documentation#oauth2-token:
 * - a refresh token is only granted with `token_access_type=offline` on the authorization request;
 * - refresh tokens are long-lived and never rotate: a refresh returns no `refresh_token`;
 * - the client authenticates with HTTP Basic or in the body;
 * - `/2/auth/token/revoke` is an API call with the access token, not RFC 7009: there is no revocation endpoint here.
 *
 * @since 0.1.0
 */
import { Provider } from "@token-refresher/core"
import * as Config from "effect/Config"
import { type CommonOptions, type PresetLayer, clientConfig, makeLayers } from "./internal/preset.js"

/**
 * The options of `Dropbox.layer` and `Dropbox.layerConfig`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends CommonOptions {}

/**
 * The Dropbox provider.
 *
 * @since 0.1.0
 * @category constants
 */
export const provider: Provider.Provider = Provider.make({
  name: "dropbox",
  tokenUrl: "https://api.dropboxapi.com/oauth2/token",
  authorizeUrl: "https://www.dropbox.com/oauth2/authorize",
  authMethod: "client_secret_basic",
  rotatesRefreshTokens: false
})

/**
 * `DROPBOX_CLIENT_ID`, and `DROPBOX_CLIENT_SECRET` when set.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all(clientConfig("DROPBOX"))

const layers = makeLayers<Options>(() => provider, config)

/**
 * `TokenRefresher` for Dropbox. Needs an `HttpClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options: Options) => PresetLayer = layers.layer

/**
 * `TokenRefresher` for Dropbox, with options read from `Config` (default: {@link config}). Needs an `HttpClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: (config?: Config.Config.Wrap<Options>) => PresetLayer = layers.layerConfig
