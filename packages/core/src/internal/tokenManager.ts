import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Errors from "../Errors.js"
import { TokenRefresher } from "../TokenRefresher.js"
import type * as TokenManager from "../TokenManager.js"
import type { TokenSet } from "../TokenSet.js"
import { defaultKey, TokenStore } from "../TokenStore.js"

interface State {
  /** The newest tokens this manager knows; ahead of the store when `unsaved`. */
  readonly tokens: Option.Option<TokenSet>
  /** The store write of `tokens` failed; the next call writes them (under the lock) before anything else. */
  readonly unsaved: boolean
  /** The access token was invalidated (a 401): refresh even if it has not expired. */
  readonly stale: boolean
  /** The server said `invalid_grant` for this refresh token: do not send it again. */
  readonly revoked: Option.Option<{
    readonly refreshToken: Redacted.Redacted<string>
    readonly error: Errors.InvalidGrant
  }>
  /** When `tokens` should be refreshed (epoch milliseconds), see `TokenSet.refreshAtMillis`. */
  readonly refreshAt: number
}

const initial: State = { tokens: Option.none(), unsaved: false, stale: false, revoked: Option.none(), refreshAt: 0 }

const sameTokens = (a: TokenSet, b: Option.Option<TokenSet>): boolean =>
  Option.isSome(b) &&
  Equal.equals(a.accessToken, b.value.accessToken) &&
  Equal.equals(a.refreshToken, b.value.refreshToken)

const issuedAtMillis = (tokens: TokenSet): number => (tokens.issuedAt === undefined ? 0 : tokens.issuedAt.epochMillis)

/** The least time between two background refreshes, so a token whose lifetime is below the leeway cannot spin. */
const minimumAheadInterval = Duration.seconds(5)
const idleRecheck = Duration.minutes(1)
const failedAheadRetry = Duration.seconds(30)

/** How a manager gets new tokens: with the stored refresh token, or with the client-credentials grant. */
export type Renewal =
  { readonly _tag: "RefreshToken" } | { readonly _tag: "ClientCredentials"; readonly scope: ReadonlyArray<string> }

const refreshTokenRenewal: Renewal = { _tag: "RefreshToken" }

/** The store key of client-credentials tokens for `scope`: the scopes, sorted and deduplicated, are part of it. */
export const clientCredentialsKey = (scope: ReadonlyArray<string> | undefined): string =>
  `client_credentials:${[...new Set(scope ?? [])].sort().join(" ")}`

const accessTokenOf = (tokens: TokenSet): Effect.Effect<Redacted.Redacted<string>, Errors.NoToken> =>
  Option.isSome(tokens.accessToken) ? Effect.succeed(tokens.accessToken.value) : new Errors.NoToken()

export const make = (options?: TokenManager.Options) => makeWith(options, refreshTokenRenewal)

export const makeClientCredentials = (options?: TokenManager.ClientCredentialsOptions) =>
  makeWith(
    { ...options, key: options?.key ?? clientCredentialsKey(options?.scope) },
    { _tag: "ClientCredentials", scope: options?.scope ?? [] }
  )

export const makeWith = Effect.fnUntraced(function* (options: TokenManager.Options | undefined, renewal: Renewal) {
  const refresher = yield* TokenRefresher
  const store = yield* TokenStore
  const scope = yield* Effect.scope
  const key = options?.key ?? defaultKey
  const leeway = Duration.decode(options?.leeway ?? "60 seconds")
  const warnWithin = Duration.toMillis(Duration.decode(options?.refreshTokenWarning ?? "7 days"))
  /** The refresh-token end (epoch millis) already warned about: one warning per end, not one per call. */
  const warned = yield* Ref.make(Number.NaN)
  const warnIfEnding = (tokens: TokenSet): Effect.Effect<void> =>
    Option.match(tokens.refreshTokenExpiresAt, {
      onNone: () => Effect.void,
      onSome: (end) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const left = end.epochMillis - now
          if (left >= warnWithin) return Effect.void
          return Effect.flatMap(
            Ref.modify(warned, (at) => [at !== end.epochMillis, end.epochMillis]),
            (first) =>
              first
                ? Effect.logWarning(
                    "the refresh token reaches its end of life soon: the user must log in again before then"
                  ).pipe(
                    Effect.annotateLogs({
                      key,
                      refreshTokenExpiresAt: DateTime.formatIso(end),
                      remaining: Duration.format(Duration.millis(Math.max(0, left)))
                    })
                  )
                : Effect.void
          )
        })
    })

  const minInterval = Duration.toMillis(Duration.decode(options?.minRefreshInterval ?? "1 second"))
  // a token is used for at least `minRefreshInterval` after it was issued: `expires_in: 0` cannot make every call refresh
  const refreshAtOf = (tokens: TokenSet): number =>
    tokens.issuedAt === undefined || Option.isNone(tokens.accessToken)
      ? tokens.refreshAtMillis(leeway)
      : Math.max(tokens.refreshAtMillis(leeway), tokens.issuedAt.epochMillis + minInterval)
  const stateOf = (tokens: Option.Option<TokenSet>): State => ({
    ...initial,
    tokens,
    refreshAt: Option.match(tokens, { onNone: () => 0, onSome: refreshAtOf })
  })
  const state = yield* Ref.make(initial)
  const inflight = yield* Ref.make(Option.none<Deferred.Deferred<TokenSet, TokenManager.TokenError>>())
  const adopt = (stored: Option.Option<TokenSet>) => Ref.setAndGet(state, stateOf(stored))
  const usableAt = (s: State, now: number): s is State & { readonly tokens: Option.Some<TokenSet> } =>
    Option.isSome(s.tokens) && !s.stale && now < s.refreshAt && Option.isSome(s.tokens.value.accessToken)

  /**
   * Writes tokens whose store write failed, under the lock and after a re-read, so the store never goes back to
   * older tokens: what another process wrote since (newer by `issuedAt`) wins, and is adopted instead.
   */
  const writeBack = (unsaved: TokenSet): Effect.Effect<State, TokenManager.TokenError> =>
    store.withLock(key)(
      Effect.gen(function* () {
        const stored = yield* store.get(key)
        if (Option.isSome(stored) && issuedAtMillis(stored.value) > issuedAtMillis(unsaved)) return yield* adopt(stored)
        if (!sameTokens(unsaved, stored)) yield* store.set(key, unsaved)
        return yield* Ref.updateAndGet(state, (s) =>
          Option.contains(s.tokens, unsaved) ? { ...s, unsaved: false } : s
        )
      })
    )

  /** Gets new tokens, keeps them in memory, then writes them; runs with the lock held. */
  const renewWith = (
    renew: Effect.Effect<TokenSet, TokenManager.TokenError>
  ): Effect.Effect<TokenSet, TokenManager.TokenError> =>
    Effect.gen(function* () {
      const refreshed = yield* renew
      // memory first: if the write fails, the rotated refresh token is still here for the next call to persist
      yield* Ref.set(state, { ...stateOf(Option.some(refreshed)), unsaved: true })
      yield* store.set(key, refreshed)
      yield* Ref.update(state, (s) => (Option.contains(s.tokens, refreshed) ? { ...s, unsaved: false } : s))
      return refreshed
    })

  /**
   * The refresh, with the lock held: re-read the store, adopt what another process wrote while this one waited if it
   * is usable now, otherwise refresh and write.
   */
  const refreshLocked: Effect.Effect<TokenSet, TokenManager.TokenError> = Effect.gen(function* () {
    const stored = yield* store.get(key)
    let current = yield* Ref.get(state)
    if (renewal._tag === "ClientCredentials") {
      if (Option.isSome(stored) && !sameTokens(stored.value, current.tokens)) {
        current = yield* adopt(stored)
        if (usableAt(current, yield* Clock.currentTimeMillis)) return current.tokens.value
      }
      return yield* renewWith(refresher.clientCredentials({ scope: renewal.scope }))
    }
    if (Option.isNone(stored)) {
      // forgotten (a logout) while this process held the tokens
      yield* Ref.set(state, initial)
      return yield* new Errors.NoToken()
    }
    if (!sameTokens(stored.value, current.tokens)) {
      current = yield* adopt(stored)
      if (usableAt(current, yield* Clock.currentTimeMillis)) return current.tokens.value
    }
    const tokens = stored.value
    /** The server refused `refreshToken`: do not send it again until the store holds another one. */
    const revoked = (refreshToken: Redacted.Redacted<string>) => (error: Errors.InvalidGrant) =>
      Effect.zipRight(
        Ref.update(state, (s) => ({ ...s, revoked: Option.some({ refreshToken, error }) })),
        Effect.fail(error)
      )
    if (Option.isNone(tokens.refreshToken)) return yield* new Errors.NoToken({ reason: "NoRefreshToken" })
    const refreshToken = tokens.refreshToken.value
    return yield* renewWith(refresher.refresh(refreshToken, { previous: tokens })).pipe(
      Effect.catchTag("InvalidGrant", (error) =>
        Effect.gen(function* () {
          // a login (or a process that does not take the lock) may have stored another token meanwhile: try it once
          const again = yield* store.get(key)
          if (
            Option.isNone(again) ||
            Option.isNone(again.value.refreshToken) ||
            Equal.equals(again.value.refreshToken.value, refreshToken)
          ) {
            return yield* revoked(refreshToken)(error)
          }
          yield* adopt(again)
          const other = again.value.refreshToken.value
          return yield* renewWith(refresher.refresh(other, { previous: again.value })).pipe(
            Effect.catchTag("InvalidGrant", revoked(other))
          )
        })
      )
    )
  })

  /** Brings the state up to date with the store, then refreshes under the lock if the token is not usable. */
  const settle: Effect.Effect<TokenSet, TokenManager.TokenError> = Effect.gen(function* () {
    let current = yield* Ref.get(state)
    if (current.unsaved && Option.isSome(current.tokens)) {
      current = yield* writeBack(current.tokens.value)
    } else {
      const stored = yield* store.get(key)
      if (Option.isSome(current.revoked)) {
        if (Option.isNone(stored) || Option.contains(stored.value.refreshToken, current.revoked.value.refreshToken)) {
          return yield* current.revoked.value.error
        }
        current = yield* adopt(stored)
      } else if (Option.isNone(stored) || !sameTokens(stored.value, current.tokens)) {
        // a new login, a logout, or another process refreshed: the store is newer than memory
        current = yield* adopt(stored)
      }
    }
    if (Option.isNone(current.tokens) && renewal._tag === "RefreshToken") return yield* new Errors.NoToken()
    if (usableAt(current, yield* Clock.currentTimeMillis)) return current.tokens.value
    return yield* store.withLock(key)(refreshLocked)
  })

  type Flight = Deferred.Deferred<TokenSet, TokenManager.TokenError>

  /** Every caller waits on one `settle`, run in the manager's scope so an interrupted caller does not cancel it. */
  const shared: Effect.Effect<TokenSet, TokenManager.TokenError> = Effect.uninterruptibleMask((restore) =>
    Effect.gen(function* () {
      // only the leader allocates a Deferred: the others find the one in flight
      const [flight, leader] = yield* Effect.fiberIdWith((fiberId) =>
        Ref.modify(inflight, (running): [[Flight, boolean], Option.Option<Flight>] => {
          if (Option.isSome(running)) return [[running.value, false], running]
          const mine: Flight = Deferred.unsafeMake<TokenSet, TokenManager.TokenError>(fiberId)
          return [[mine, true], Option.some(mine)]
        })
      )
      if (leader) {
        yield* settle.pipe(
          Effect.tap(warnIfEnding),
          Effect.interruptible,
          Effect.exit,
          Effect.flatMap((exit) => Effect.zipRight(Ref.set(inflight, Option.none()), Deferred.done(flight, exit))),
          Effect.forkIn(scope)
        )
      }
      return yield* restore(Deferred.await(flight))
    })
  )

  const sharedAccessToken = Effect.flatMap(shared, accessTokenOf)

  // the hot path: one Ref read and one clock read, no allocation beyond the effects themselves
  const accessToken = Effect.flatMap(Ref.get(state), (s) => {
    if (s.unsaved || s.stale || Option.isSome(s.revoked) || Option.isNone(s.tokens)) return sharedAccessToken
    const access = s.tokens.value.accessToken
    if (Option.isNone(access)) return sharedAccessToken
    return Effect.flatMap(Clock.currentTimeMillis, (now) =>
      now < s.refreshAt ? Effect.succeed(access.value) : sharedAccessToken
    )
  })

  /** Loads the stored tokens into memory if nothing is there yet, so that there is something to invalidate. */
  const loaded: Effect.Effect<void> = Effect.flatMap(Ref.get(state), (s) =>
    Option.isSome(s.tokens)
      ? Effect.void
      : store.get(key).pipe(
          Effect.flatMap((stored) => Ref.update(state, (s) => (Option.isNone(s.tokens) ? stateOf(stored) : s))),
          Effect.ignore
        )
  )

  const invalidate = Effect.zipRight(
    loaded,
    Ref.update(state, (s) => ({ ...s, stale: Option.isSome(s.tokens) }))
  )

  const invalidateToken = (token: Redacted.Redacted<string>) =>
    Effect.zipRight(
      loaded,
      Ref.update(state, (s) =>
        Option.isSome(s.tokens) && Option.contains(s.tokens.value.accessToken, token) ? { ...s, stale: true } : s
      )
    )

  const service: TokenManager.Service = {
    key,
    accessToken,
    current: Effect.flatMap(Ref.get(state), (s) =>
      Option.isSome(s.tokens) ? Effect.succeed(s.tokens) : store.get(key)
    ),
    invalidate,
    invalidateToken,
    refreshNow: Effect.zipRight(invalidate, shared)
  }

  if (options?.refreshAhead === true) {
    const ahead: Effect.Effect<Duration.Duration> = Effect.gen(function* () {
      yield* loaded
      const current = yield* Ref.get(state)
      if (Option.isNone(current.tokens)) return idleRecheck
      const tokens = current.tokens.value
      // one more leeway ahead of the time a request would refresh
      const due = 2 * current.refreshAt - tokens.expiresAt.epochMillis
      const now = yield* Clock.currentTimeMillis
      if (now < due) return Duration.millis(due - now)
      yield* Option.match(tokens.accessToken, { onNone: () => invalidate, onSome: invalidateToken })
      yield* shared
      return minimumAheadInterval
    }).pipe(
      Effect.catchAll((error) =>
        Effect.as(
          Effect.logWarning("background token refresh failed").pipe(Effect.annotateLogs({ error: error.message })),
          error._tag === "NetworkError" && error.retryAfter !== undefined
            ? Duration.max(error.retryAfter, failedAheadRetry)
            : error._tag === "InvalidGrant" || error._tag === "NoToken"
              ? idleRecheck
              : failedAheadRetry
        )
      )
    )
    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(ahead, Effect.sleep)))
  }

  return service
})
