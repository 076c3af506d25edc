/**
 * GitHub (GitHub Apps with expiring user access tokens, and OAuth apps).
 *
 * Quirks, from https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/refreshing-user-access-tokens
 * and https://docs.github.com/en/apps/oauth-apps/maintaining-oauth-apps/troubleshooting-oauth-app-access-token-request-errors:
 * - errors come with HTTP 200 and an `error` field (`bad_refresh_token`, `bad_verification_code`,
 *   `incorrect_client_credentials`, `redirect_uri_mismatch`, …): `normalize` turns them into 4xx RFC 6749 errors;
 * - the answer is JSON only when asked for with `Accept: application/json` (this library always sends it);
 * - `client_id` and `client_secret` go in the body;
 * - a refresh returns a new refresh token (rotation), with `refresh_token_expires_in` (about six months), which the
 *   common decoding turns into `TokenSet.refreshTokenExpiresAt`;
 * - there is no RFC 7009 revocation endpoint (tokens are deleted through the REST API).
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
 * The options of `GitHub.layer` and `GitHub.layerConfig`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends CommonOptions {}

const errorCodes: Readonly<Record<string, string>> = {
  bad_refresh_token: "invalid_grant",
  bad_verification_code: "invalid_grant",
  incorrect_client_credentials: "invalid_client",
  redirect_uri_mismatch: "invalid_grant",
  unsupported_grant_type: "unsupported_grant_type"
}

/**
 * GitHub's answer in RFC 6749 form: an `error` sent with 200 becomes a 400 (401 for `invalid_client`).
 *
 * @since 0.1.0
 * @category normalize
 */
export const normalize = (raw: Provider.RawResponse): Provider.RawResponse => {
  const body = record(raw.body)
  if (raw.status !== 200 || body === undefined || typeof body.error !== "string") return raw
  const error = errorCodes[body.error] ?? body.error
  return oauthError(raw, error === "invalid_client" ? 401 : 400, error, body.error_description)
}

/**
 * The GitHub provider.
 *
 * @since 0.1.0
 * @category constants
 */
export const provider: Provider.Provider = Provider.make({
  name: "github",
  tokenUrl: "https://github.com/login/oauth/access_token",
  authorizeUrl: "https://github.com/login/oauth/authorize",
  authMethod: "client_secret_post",
  // https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps#device-flow
  deviceAuthorizationUrl: "https://github.com/login/device/code",
  rotatesRefreshTokens: true,
  normalize
})

/**
 * `GITHUB_CLIENT_ID`, and `GITHUB_CLIENT_SECRET` when set.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all(clientConfig("GITHUB"))

const layers = makeLayers<Options>(() => provider, config)

/**
 * `TokenRefresher` for GitHub. Needs an `HttpClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options: Options) => PresetLayer = layers.layer

/**
 * `TokenRefresher` for GitHub, with options read from `Config` (default: {@link config}). Needs an `HttpClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: (config?: Config.Config.Wrap<Options>) => PresetLayer = layers.layerConfig
