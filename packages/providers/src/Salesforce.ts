/**
 * Salesforce, with the instance (login) URL as an option.
 *
 * Quirks, from https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_refresh_token_flow.htm,
 * https://help.salesforce.com/s/articleView?id=sf.remoteaccess_revoke_token.htm and
 * https://help.salesforce.com/s/articleView?id=sf.admin_sessions.htm:
 * - the answer has no `expires_in` (it sends `issued_at` and `instance_url`): the access token is assumed to live for
 *   the default session timeout, 2 hours (`defaultExpiresIn`; set the option if your org's timeout differs);
 * - refresh tokens are not rotated by default: a refresh returns no `refresh_token`;
 * - `client_id` and `client_secret` go in the body;
 * - the endpoints are on the login host: `https://login.salesforce.com`, `https://test.salesforce.com` for
 *   sandboxes, or the org's My Domain URL;
 * - revocation is RFC 7009 at `/services/oauth2/revoke`.
 *
 * @since 0.1.0
 */
import { Provider } from "@token-refresher/core"
import * as Config from "effect/Config"
import { type CommonOptions, type PresetLayer, clientConfig, makeLayers } from "./internal/preset.js"

/**
 * The options of `Salesforce.layer` and `Salesforce.layerConfig`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends CommonOptions {
  /** The login host: a sandbox's `https://test.salesforce.com` or a My Domain URL. Default: `https://login.salesforce.com`. */
  readonly instanceUrl?: string | undefined
}

/**
 * The provider for the login host `instanceUrl` (default `https://login.salesforce.com`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const provider = (instanceUrl = "https://login.salesforce.com"): Provider.Provider => {
  const base = `${instanceUrl.replace(/\/+$/, "")}/services/oauth2`
  return Provider.make({
    name: "salesforce",
    tokenUrl: `${base}/token`,
    authorizeUrl: `${base}/authorize`,
    revocationUrl: `${base}/revoke`,
    authMethod: "client_secret_post",
    rotatesRefreshTokens: false,
    defaultExpiresIn: "2 hours"
  })
}

/**
 * `SALESFORCE_CLIENT_ID`, `SALESFORCE_CLIENT_SECRET` when set, and `SALESFORCE_INSTANCE_URL` (default
 * `https://login.salesforce.com`).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  ...clientConfig("SALESFORCE"),
  instanceUrl: Config.string("SALESFORCE_INSTANCE_URL").pipe(Config.withDefault("https://login.salesforce.com"))
})

const layers = makeLayers<Options>((options) => provider(options.instanceUrl), config)

/**
 * `TokenRefresher` for Salesforce. Needs an `HttpClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options: Options) => PresetLayer = layers.layer

/**
 * `TokenRefresher` for Salesforce, with options read from `Config` (default: {@link config}). Needs an `HttpClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: (config?: Config.Config.Wrap<Options>) => PresetLayer = layers.layerConfig
