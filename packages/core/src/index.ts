/**
 * The typed errors of a refresh: `InvalidGrant`, `InvalidClient`, `OAuthError`, `NetworkError`, `DecodeError`.
 *
 * @since 0.1.0
 */
export * as Errors from "./Errors.js"

/**
 * The `TokenRefresher` service: exchanges a refresh token for a new `TokenSet`, with retries and typed errors.
 *
 * @since 0.1.0
 */
export * as TokenRefresher from "./TokenRefresher.js"

/**
 * The `TokenSet` model: access and refresh tokens (redacted), type, expiry and scopes.
 *
 * @since 0.1.0
 */
export * as TokenSet from "./TokenSet.js"
