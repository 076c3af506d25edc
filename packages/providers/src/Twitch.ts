/**
 * Twitch.
 *
 * Quirks, from https://dev.twitch.tv/docs/authentication/refresh-tokens/ and
 * https://dev.twitch.tv/docs/authentication/revoke-tokens/:
 * - `scope` comes as a JSON array, not a space-separated string;
 * - errors are `{"status":400,"message":"Invalid refresh token"}` (sometimes with `"error":"Bad Request"`), not RFC
 *   6749 objects: `normalize` maps "Invalid refresh token" to `invalid_grant`, a 401/403 or a message about the
 *   client to `invalid_client`, and anything else to `invalid_request` with the message as its description;
 * - `client_id` and `client_secret` go in the body;
 * - a refresh returns a refresh token, which may be a new one: always keep the latest (rotation);
 * - revocation is at `https://id.twitch.tv/oauth2/revoke`, with `client_id` and `token` in the body.
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
 * The options of `Twitch.layer` and `Twitch.layerConfig`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends CommonOptions {}

/**
 * Twitch's answer in RFC 6749 form.
 *
 * @since 0.1.0
 * @category normalize
 */
export const normalize = (raw: Provider.RawResponse): Provider.RawResponse => {
  const body = record(raw.body)
  if (body === undefined) return raw
  if (raw.status >= 200 && raw.status < 300) {
    return Array.isArray(body.scope)
      ? { ...raw, body: { ...body, scope: body.scope.filter((s) => typeof s === "string").join(" ") } }
      : raw
  }
  if (typeof body.message !== "string" || isTransient(raw)) return raw
  const message = body.message
  if (/invalid refresh token/i.test(message)) return oauthError(raw, 400, "invalid_grant", message)
  if (raw.status === 401 || raw.status === 403 || /client/i.test(message)) {
    return oauthError(raw, 401, "invalid_client", message)
  }
  return oauthError(raw, raw.status, "invalid_request", message)
}

/**
 * The Twitch provider.
 *
 * @since 0.1.0
 * @category constants
 */
export const provider: Provider.Provider = Provider.make({
  name: "twitch",
  tokenUrl: "https://id.twitch.tv/oauth2/token",
  authorizeUrl: "https://id.twitch.tv/oauth2/authorize",
  revocationUrl: "https://id.twitch.tv/oauth2/revoke",
  authMethod: "client_secret_post",
  rotatesRefreshTokens: true,
  normalize
})

/**
 * `TWITCH_CLIENT_ID`, and `TWITCH_CLIENT_SECRET` when set.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all(clientConfig("TWITCH"))

const layers = makeLayers<Options>(() => provider, config)

/**
 * `TokenRefresher` for Twitch. Needs an `HttpClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options: Options) => PresetLayer = layers.layer

/**
 * `TokenRefresher` for Twitch, with options read from `Config` (default: {@link config}). Needs an `HttpClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: (config?: Config.Config.Wrap<Options>) => PresetLayer = layers.layerConfig
