/**
 * Always a valid access token: reads the `TokenStore`, refreshes through the `TokenRefresher` when the token is about
 * to expire (one refresh at a time, however many fibers ask), and writes the new tokens back before anyone gets them.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { NoToken, RefreshError } from "./Errors.js"
import * as internal from "./internal/tokenManager.js"
import type * as Session from "./Session.js"
import type { TokenRefresher } from "./TokenRefresher.js"
import type { TokenSet } from "./TokenSet.js"
import type { TokenStore, TokenStoreError } from "./TokenStore.js"
import * as TokenStoreModule from "./TokenStore.js"

/**
 * Every way getting a token can fail.
 *
 * @since 0.1.0
 * @category errors
 */
export type TokenError = RefreshError | TokenStoreError | NoToken

/**
 * The `TokenManager` service.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The session this manager serves: its key in the `TokenStore`. */
  readonly key: string
  /**
   * A valid access token: the stored one while `now < expiresAt - leeway`, otherwise a refreshed one. Concurrent
   * callers share one refresh.
   */
  readonly accessToken: Effect.Effect<Redacted.Redacted<string>, TokenError>
  /**
   * The session as this manager knows it, without refreshing: the tokens it holds in memory (as `Session.Active`),
   * else what the store holds.
   */
  readonly current: Effect.Effect<Option.Option<Session.Session>, TokenStoreError>
  /** Marks the current access token as unusable (the API answered 401): the next `accessToken` refreshes. */
  readonly invalidate: Effect.Effect<void>
  /**
   * Like `invalidate`, but only while `accessToken` is still the current one: callers that all saw a 401 for the same
   * token cause one refresh, not one each.
   */
  readonly invalidateToken: (accessToken: Redacted.Redacted<string>) => Effect.Effect<void>
  /** Refreshes now, whatever the expiry (shares a refresh already under way). */
  readonly refreshNow: Effect.Effect<TokenSet, TokenError>
}

/**
 * The tag of the `TokenManager` service.
 *
 * @since 0.1.0
 * @category tags
 */
export class TokenManager extends Context.Tag("@token-refresher/core/TokenManager")<TokenManager, Service>() {}

/**
 * The options of `TokenManager.layer` and `TokenManager.make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The session to manage: its key in the `TokenStore`. Default: `TokenStore.defaultKey`. */
  readonly key?: string | undefined
  /**
   * Refresh this long before the access token expires (at most half the lifetime of a token just received).
   * Default: 60 seconds.
   */
  readonly leeway?: Duration.DurationInput | undefined
  /**
   * Refresh in a background fiber at `expiresAt - 2 × leeway`, so requests never wait for a refresh. It stops with
   * the layer's scope. Default: false.
   */
  readonly refreshAhead?: boolean | undefined
  /**
   * Log one warning per session when the refresh token's known end of life (`TokenSet.refreshTokenExpiresAt`) is
   * closer than this, so the app can ask the user to log in again before `invalid_grant`. Default: 7 days.
   */
  readonly refreshTokenWarning?: Duration.DurationInput | undefined
  /**
   * The least time between two refreshes of the session: tokens are used for at least this long after they were
   * issued, so a server that answers `expires_in: 0` (or a tiny lifetime) cannot make every call refresh. Default:
   * 1 second.
   */
  readonly minRefreshInterval?: Duration.DurationInput | undefined
}

/**
 * The options of a manager of app tokens (client credentials).
 *
 * @since 0.3.0
 * @category models
 */
export interface ClientCredentialsOptions {
  /** The scopes to ask for; tokens for other scopes are never shared with these. Default: the server's default. */
  readonly scope?: ReadonlyArray<string> | undefined
  /** Get a new token this long before the current one expires (at most half its lifetime). Default: 60 seconds. */
  readonly leeway?: Duration.DurationInput | undefined
  /** As `Options.refreshAhead`. Default: false. */
  readonly refreshAhead?: boolean | undefined
  /** The key in the `TokenStore`. Default: `clientCredentialsKey(scope)`. */
  readonly key?: string | undefined
}

/**
 * Builds a manager for one session. Its refresh is double-checked: one fiber per process goes further (single
 * flight), takes the store's lock for the session, re-reads the store and adopts tokens that another process wrote
 * meanwhile if they are usable, and only otherwise refreshes and writes, before it releases the lock.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: Options) => Effect.Effect<Service, never, TokenRefresher | TokenStore | Scope.Scope> =
  internal.make

/**
 * The `TokenManager` service as a layer: one session, read from and written to the `TokenStore`.
 *
 * @example
 * ```ts
 * import { Session, TokenManager, TokenRefresher, TokenStore } from "@token-refresher/core"
 * import { NodeTokenClient } from "@token-refresher/node"
 * import { Effect, Layer } from "effect"
 *
 * const Manager = TokenManager.layer({ key: "alice", leeway: "2 minutes" }).pipe(
 *   Layer.provide(TokenStore.layerMemory([["alice", Session.seeded("alice-refresh-token")]])),
 *   Layer.provide(TokenRefresher.layer({ tokenUrl: "https://auth.example.com/token", clientId: "my-app" })),
 *   Layer.provide(NodeTokenClient.layer())
 * )
 *
 * const token = Effect.flatMap(TokenManager.TokenManager, (manager) => manager.accessToken).pipe(
 *   Effect.provide(Manager)
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<TokenManager, never, TokenRefresher | TokenStore> =>
  Layer.scoped(TokenManager, make(options))

/**
 * The store key of the client-credentials tokens for `scope` (`client_credentials:` and the sorted, deduplicated
 * scopes): different scopes never share a token.
 *
 * @since 0.3.0
 * @category constructors
 */
export const clientCredentialsKey: (scope?: ReadonlyArray<string> | undefined) => string = internal.clientCredentialsKey

/**
 * A manager of app tokens (the client-credentials grant, RFC 6749 §4.4): it gets a token on first use and a new one
 * when it is about to expire, with single flight and leeway as for a refresh. The tokens live in the `TokenStore` in
 * context under `clientCredentialsKey(scope)`, so replicas sharing a store share the token.
 *
 * @since 0.3.0
 * @category constructors
 */
export const makeClientCredentials: (
  options?: ClientCredentialsOptions
) => Effect.Effect<Service, never, TokenRefresher | TokenStore | Scope.Scope> = internal.makeClientCredentials

/**
 * A `TokenManager` of app tokens (client credentials) that needs only a `TokenRefresher`: the tokens are kept in
 * memory. Use `layerClientCredentialsStore` to keep them in a shared store instead.
 *
 * @since 0.3.0
 * @category layers
 */
export const layerClientCredentials = (
  options?: ClientCredentialsOptions
): Layer.Layer<TokenManager, never, TokenRefresher> =>
  Layer.scoped(TokenManager, makeClientCredentials(options)).pipe(Layer.provide(TokenStoreModule.layerMemory()))

/**
 * A `TokenManager` of app tokens (client credentials) kept in the `TokenStore` in context.
 *
 * @since 0.3.0
 * @category layers
 */
export const layerClientCredentialsStore = (
  options?: ClientCredentialsOptions
): Layer.Layer<TokenManager, never, TokenRefresher | TokenStore> =>
  Layer.scoped(TokenManager, makeClientCredentials(options))
