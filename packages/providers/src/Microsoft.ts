/**
 * Microsoft identity platform (Entra ID, v2.0 endpoints), with the tenant as an option.
 *
 * Quirks, from https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow ("Refresh the access
 * token") and https://learn.microsoft.com/en-us/entra/identity-platform/refresh-tokens:
 * - the endpoints are per tenant: `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`, where the tenant
 *   is `common`, `organizations`, `consumers` or a tenant id;
 * - confidential clients send `client_id` and `client_secret` in the body;
 * - every refresh returns a new refresh token, and the old one is not revoked: both stay valid;
 * - "the default lifetime for the refresh tokens is 24 hours for single page apps and 90 days for all other
 *   scenarios", and each new refresh token starts its own lifetime: a sliding 90 days from issue;
 * - there is no RFC 7009 revocation endpoint.
 *
 * @since 0.1.0
 */
import { Provider } from "@token-refresher/core"
import * as Config from "effect/Config"
import { type CommonOptions, type PresetLayer, clientConfig, makeLayers } from "./internal/preset.js"

/**
 * The options of `Microsoft.layer` and `Microsoft.layerConfig`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends CommonOptions {
  /** `common`, `organizations`, `consumers` or a tenant id. Default: `common`. */
  readonly tenant?: string | undefined
}

/**
 * The provider for `tenant` (default `common`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const provider = (tenant = "common"): Provider.Provider => {
  const base = `https://login.microsoftonline.com/${encodeURIComponent(tenant)}/oauth2/v2.0`
  return Provider.make({
    name: "microsoft",
    tokenUrl: `${base}/token`,
    authorizeUrl: `${base}/authorize`,
    // https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code
    deviceAuthorizationUrl: `${base}/devicecode`,
    authMethod: "client_secret_post",
    rotatesRefreshTokens: true,
    refreshTokenLifetime: { from: "issue", length: { days: 90 } },
    // https://learn.microsoft.com/entra/identity-platform/refresh-tokens: a refresh token not used for 90 days
    // (its inactivity window) is no longer accepted
    refreshTokenIdleTimeout: "90 days"
  })
}

/**
 * `MICROSOFT_CLIENT_ID`, `MICROSOFT_CLIENT_SECRET` when set, and `MICROSOFT_TENANT` (default `common`).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  ...clientConfig("MICROSOFT"),
  tenant: Config.string("MICROSOFT_TENANT").pipe(Config.withDefault("common"))
})

const layers = makeLayers<Options>((options) => provider(options.tenant), config)

/**
 * `TokenRefresher` for Microsoft. Needs an `HttpClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options: Options) => PresetLayer = layers.layer

/**
 * `TokenRefresher` for Microsoft, with options read from `Config` (default: {@link config}). Needs an `HttpClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: (config?: Config.Config.Wrap<Options>) => PresetLayer = layers.layerConfig
