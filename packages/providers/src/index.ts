/**
 * Discord: rotating refresh tokens, RFC 7009 revocation.
 *
 * @since 0.1.0
 */
export * as Discord from "./Discord.js"

/**
 * Dropbox: long-lived refresh tokens that never rotate.
 *
 * @since 0.1.0
 */
export * as Dropbox from "./Dropbox.js"

/**
 * GitHub: errors with HTTP 200, rotation with `refresh_token_expires_in`.
 *
 * @since 0.1.0
 */
export * as GitHub from "./GitHub.js"

/**
 * Google: no rotation, RFC 7009 revocation.
 *
 * @since 0.1.0
 */
export * as Google from "./Google.js"

/**
 * Microsoft identity platform: per-tenant endpoints, rotation that keeps the old token valid, 90-day refresh tokens.
 *
 * @since 0.1.0
 */
export * as Microsoft from "./Microsoft.js"

/**
 * Salesforce: no `expires_in` (2-hour default), per-instance endpoints, RFC 7009 revocation.
 *
 * @since 0.1.0
 */
export * as Salesforce from "./Salesforce.js"

/**
 * Slack: `{"ok":false}` errors with HTTP 200, `bot`/`user` token types.
 *
 * @since 0.1.0
 */
export * as Slack from "./Slack.js"

/**
 * Strava: absolute `expires_at`, fault-shaped errors.
 *
 * @since 0.1.0
 */
export * as Strava from "./Strava.js"

/**
 * Twitch: `scope` as an array, `{"status","message"}` errors.
 *
 * @since 0.1.0
 */
export * as Twitch from "./Twitch.js"

/**
 * Every preset by its `name`, for tools that pick one at run time (the CLI's `--provider`).
 *
 * @since 0.1.0
 */
export * as Providers from "./Providers.js"
