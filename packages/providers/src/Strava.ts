/**
 * Strava.
 *
 * Quirks, from https://developers.strava.com/docs/authentication/:
 * - the answer has an absolute `expires_at` (epoch seconds) next to `expires_in`; the common decoding uses
 *   `expires_at` as it is;
 * - errors are Strava faults, `{"message":"Bad Request","errors":[{"resource":"RefreshToken","field":"refresh_token",
 *   "code":"invalid"}]}`: `normalize` maps an invalid refresh token or code to `invalid_grant`, an invalid
 *   application (client id or secret) to `invalid_client`, and anything else to `invalid_request`;
 * - `client_id` and `client_secret` go in the body;
 * - "refresh tokens may change": keep the latest (rotation);
 * - deauthorization is not RFC 7009: there is no revocation endpoint here.
 *
 * @since 0.1.0
 */
import { Provider } from "@token-refresher/core"
import * as Config from "effect/Config"
import {
  type CommonOptions,
  type PresetLayer,
  clientConfig,
  isTransient,
  makeLayers,
  oauthError,
  record
} from "./internal/preset.js"

/**
 * The options of `Strava.layer` and `Strava.layerConfig`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends CommonOptions {}

/**
 * Strava's answer in RFC 6749 form.
 *
 * @since 0.1.0
 * @category normalize
 */
export const normalize = (raw: Provider.RawResponse): Provider.RawResponse => {
  const body = record(raw.body)
  if (body === undefined || (raw.status >= 200 && raw.status < 300) || !Array.isArray(body.errors)) return raw
  if (isTransient(raw)) return raw
  const faults = body.errors.map(record).filter((fault) => fault !== undefined)
  const description = faults.map((f) => `${String(f.resource)} ${String(f.field)} ${String(f.code)}`).join(", ")
  if (faults.some((f) => f.resource === "RefreshToken" || f.resource === "AuthorizationCode" || f.field === "code")) {
    return oauthError(raw, 400, "invalid_grant", description)
  }
  if (faults.some((f) => f.resource === "Application" || f.field === "client_id" || f.field === "client_secret")) {
    return oauthError(raw, 401, "invalid_client", description)
  }
  return oauthError(raw, raw.status, "invalid_request", description)
}

/**
 * The Strava provider.
 *
 * @since 0.1.0
 * @category constants
 */
export const provider: Provider.Provider = Provider.make({
  name: "strava",
  tokenUrl: "https://www.strava.com/oauth/token",
  authorizeUrl: "https://www.strava.com/oauth/authorize",
  authMethod: "client_secret_post",
  rotatesRefreshTokens: true,
  normalize
})

/**
 * `STRAVA_CLIENT_ID`, and `STRAVA_CLIENT_SECRET` when set.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all(clientConfig("STRAVA"))

const layers = makeLayers<Options>(() => provider, config)

/**
 * `TokenRefresher` for Strava. Needs an `HttpClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options: Options) => PresetLayer = layers.layer

/**
 * `TokenRefresher` for Strava, with options read from `Config` (default: {@link config}). Needs an `HttpClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: (config?: Config.Config.Wrap<Options>) => PresetLayer = layers.layerConfig
