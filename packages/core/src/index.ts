/**
 * An `HttpClient` that sends the `TokenManager`'s access token and recovers from a 401 with one refresh.
 *
 * @since 0.1.0
 */
export * as BearerAuth from "./BearerAuth.js"

/**
 * How an `HttpClient` enforces the per-attempt deadline itself (`Deadline.Enforced`, `Deadline.current`).
 *
 * @since 0.3.0
 */
export * as Deadline from "./Deadline.js"

/**
 * The typed errors: `InvalidGrant`, `InvalidClient`, `OAuthError`, `NetworkError`, `DecodeError`, `NoToken`,
 * `DiscoveryError` and `RevocationUnsupported`.
 *
 * @since 0.1.0
 */
export * as Errors from "./Errors.js"

/**
 * The grants a `TokenRefresher` sends, as data: `RefreshToken`, `AuthorizationCode`, `ClientCredentials`.
 *
 * @since 0.3.0
 */
export * as Grant from "./Grant.js"

/**
 * PKCE (RFC 7636) verifiers and S256 challenges for logins without a client secret.
 *
 * @since 0.1.0
 */
export * as Pkce from "./Pkce.js"

/**
 * The `Provider` model: an authorization server's endpoints, auth method, refresh-token policy and quirks; `discover`
 * finds one from its issuer URL, `authorizationUrl` starts a login.
 *
 * @since 0.3.0
 */
export * as Provider from "./Provider.js"

/**
 * What happens to the sessions of a `TokenSessions`, as events (`TokenSessions.events`). No event holds a token.
 *
 * @since 0.5.0
 */
export * as SessionEvent from "./SessionEvent.js"

/**
 * Keeps idle sessions alive: a sweep every `interval` refreshes the sessions whose refresh token would die unused, and
 * reports those about to end.
 *
 * @since 0.5.0
 */
export * as SessionKeeper from "./SessionKeeper.js"

/**
 * What a store keeps under a key: a seeded refresh token, a working session or a rejected one.
 *
 * @since 0.4.0
 */
export * as Session from "./Session.js"

/**
 * The `TokenManager` service: always a valid access token, one refresh at a time, rotation persisted first.
 *
 * @since 0.1.0
 */
export * as TokenManager from "./TokenManager.js"

/**
 * The `TokenRefresher` service: exchanges a refresh token for a new `TokenSet`, with retries and typed errors.
 *
 * @since 0.1.0
 */
export * as TokenRefresher from "./TokenRefresher.js"

/**
 * The `TokenSessions` service: many sessions in one process, one manager per key, released when idle.
 *
 * @since 0.2.0
 */
export * as TokenSessions from "./TokenSessions.js"

/**
 * The `TokenSet` model: access and refresh tokens (redacted), type, expiry and scopes.
 *
 * @since 0.1.0
 */
export * as TokenSet from "./TokenSet.js"

/**
 * The `TokenStore` service: where each session's tokens are kept between refreshes, and the refresh lock shared by
 * every process that uses the store; `layerMemory` here, a file store in `@token-refresher/node`.
 *
 * @since 0.1.0
 */
export * as TokenStore from "./TokenStore.js"
