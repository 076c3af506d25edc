/**
 * Many sessions in one process: one `TokenManager` per key at a time, created on first use and released when idle.
 *
 * @since 0.2.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as RcMap from "effect/RcMap"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as TokenManager from "./TokenManager.js"
import type { TokenRefresher } from "./TokenRefresher.js"
import type { TokenSet } from "./TokenSet.js"
import { TokenStore, type TokenStoreError } from "./TokenStore.js"

/**
 * @since 0.2.0
 * @category models
 */
export interface Service {
  /** A valid access token for the session `key` (its manager's `accessToken`). */
  readonly accessToken: (key: string) => Effect.Effect<Redacted.Redacted<string>, TokenManager.TokenError>
  /** The one shared manager for `key`, held while the scope lives. */
  readonly manager: (key: string) => Effect.Effect<TokenManager.Service, never, Scope.Scope>
  /** Stores the tokens of a login under `key`; the live manager of `key`, if any, stops serving what it cached. */
  readonly save: (key: string, tokens: TokenSet) => Effect.Effect<void, TokenStoreError>
  /** Forgets the session `key` (a logout), in the store and in memory. */
  readonly remove: (key: string) => Effect.Effect<void, TokenStoreError>
}

/**
 * @since 0.2.0
 * @category tags
 */
export class TokenSessions extends Context.Tag("@token-refresher/core/TokenSessions")<TokenSessions, Service>() {}

/**
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** As `TokenManager.Options.leeway`. Default: 60 seconds. */
  readonly leeway?: Duration.DurationInput | undefined
  /** As `TokenManager.Options.refreshAhead`, for every live session. Default: false. */
  readonly refreshAhead?: boolean | undefined
  /** A manager unused this long is released (and its refresh-ahead fiber stopped). Default: 5 minutes. */
  readonly idleTimeToLive?: Duration.DurationInput | undefined
}

/**
 * Builds the service. There is one manager, and so one single flight, per key at a time; a manager is released
 * `idleTimeToLive` after its last use, so memory does not grow with the number of keys ever seen.
 *
 * A `Retry-After` from the token endpoint holds back every session of the process that uses the same
 * `TokenRefresher`: until it passes they fail at once with a `NetworkError` carrying `retryAfter`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (options?: Options): Effect.Effect<Service, never, TokenRefresher | TokenStore | Scope.Scope> =>
  Effect.gen(function* () {
    const store = yield* TokenStore
    const managers = yield* RcMap.make({
      lookup: (key: string) => TokenManager.make({ key, leeway: options?.leeway, refreshAhead: options?.refreshAhead }),
      idleTimeToLive: options?.idleTimeToLive ?? "5 minutes"
    })
    const manager = (key: string) => RcMap.get(managers, key)

    /** The live manager of `key` (if any) re-reads the store on its next call; then it is dropped. */
    const forget = (key: string) =>
      Effect.zipRight(
        Effect.flatMap(RcMap.has(managers, key), (live) =>
          live ? Effect.scoped(Effect.flatMap(manager(key), (m) => m.invalidate)) : Effect.void
        ),
        RcMap.invalidate(managers, key)
      )

    return TokenSessions.of({
      accessToken: (key) => Effect.scoped(Effect.flatMap(manager(key), (m) => m.accessToken)),
      manager,
      save: (key, tokens) => Effect.zipRight(store.set(key, tokens), forget(key)),
      remove: (key) => Effect.zipRight(store.remove(key), forget(key))
    })
  })

/**
 * @since 0.2.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<TokenSessions, never, TokenRefresher | TokenStore> =>
  Layer.scoped(TokenSessions, make(options))

/**
 * @since 0.2.0
 * @category accessors
 */
export const accessToken = (
  key: string
): Effect.Effect<Redacted.Redacted<string>, TokenManager.TokenError, TokenSessions> =>
  Effect.flatMap(TokenSessions, (sessions) => sessions.accessToken(key))
