/**
 * Slack (OAuth v2 with token rotation).
 *
 * Quirks, from https://api.slack.com/authentication/rotation and https://api.slack.com/methods/oauth.v2.access:
 * - every answer is HTTP 200; a failure is `{"ok":false,"error":"invalid_refresh_token"}`: `normalize` turns it into
 *   a 400 RFC 6749 error (`invalid_refresh_token`, `invalid_code` and `code_already_used` are `invalid_grant`;
 *   `invalid_client_id` and `bad_client_secret` are `invalid_client`);
 * - `token_type` is `bot` or `user`; both are sent as `Authorization: Bearer`, so `normalize` reports `Bearer`;
 * - a user token of a user-scope install comes under `authed_user`: `normalize` lifts it when there is no bot token;
 * - `client_id` and `client_secret` go in the body;
 * - each answer carries a refresh token: keep the latest (rotation);
 * - `auth.revoke` is a Web API method, not RFC 7009: there is no revocation endpoint here.
 *
 * @since 0.1.0
 */
import { Provider } from "@token-refresher/core"
import * as Config from "effect/Config"
import {
  type CommonOptions,
  type PresetLayer,
  clientConfig,
  makeLayers,
  oauthError,
  record
} from "./internal/preset.js"

/**
 * The options of `Slack.layer` and `Slack.layerConfig`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends CommonOptions {}

const errorCodes: Readonly<Record<string, string>> = {
  invalid_refresh_token: "invalid_grant",
  invalid_code: "invalid_grant",
  code_already_used: "invalid_grant",
  code_expired: "invalid_grant",
  invalid_client_id: "invalid_client",
  bad_client_secret: "invalid_client",
  invalid_grant_type: "unsupported_grant_type"
}

/**
 * Slack's answer in RFC 6749 form.
 *
 * @since 0.1.0
 * @category normalize
 */
export const normalize = (raw: Provider.RawResponse): Provider.RawResponse => {
  const body = record(raw.body)
  if (body === undefined || raw.status !== 200) return raw
  if (body.ok === false) {
    const code = typeof body.error === "string" ? body.error : "invalid_request"
    const error = errorCodes[code] ?? code
    return oauthError(raw, error === "invalid_client" ? 401 : 400, error, `Slack: ${code}`)
  }
  const user = record(body.authed_user)
  const tokens = body.access_token === undefined && user !== undefined ? { ...body, ...user } : body
  return { ...raw, body: { ...tokens, token_type: "Bearer" } }
}

/**
 * The Slack provider.
 *
 * @since 0.1.0
 * @category constants
 */
export const provider: Provider.Provider = Provider.make({
  name: "slack",
  tokenUrl: "https://slack.com/api/oauth.v2.access",
  authorizeUrl: "https://slack.com/oauth/v2/authorize",
  authMethod: "client_secret_post",
  rotatesRefreshTokens: true,
  normalize
})

/**
 * `SLACK_CLIENT_ID`, and `SLACK_CLIENT_SECRET` when set.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all(clientConfig("SLACK"))

const layers = makeLayers<Options>(() => provider, config)

/**
 * `TokenRefresher` for Slack. Needs an `HttpClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options: Options) => PresetLayer = layers.layer

/**
 * `TokenRefresher` for Slack, with options read from `Config` (default: {@link config}). Needs an `HttpClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: (config?: Config.Config.Wrap<Options>) => PresetLayer = layers.layerConfig
