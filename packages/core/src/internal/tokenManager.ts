import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Errors from "../Errors.js"
import { TokenRefresher } from "../TokenRefresher.js"
import type * as TokenManager from "../TokenManager.js"
import type { TokenSet } from "../TokenSet.js"
import { TokenStore } from "../TokenStore.js"

interface State {
  /** The newest tokens this manager knows; ahead of the store when `unsaved`. */
  readonly tokens: Option.Option<TokenSet>
  /** The store write of `tokens` failed; the next call writes them before anything else. */
  readonly unsaved: boolean
  /** The access token was invalidated (a 401): refresh even if it has not expired. */
  readonly stale: boolean
  /** The server said `invalid_grant` for this refresh token: do not send it again. */
  readonly revoked: Option.Option<{ readonly refreshToken: string; readonly error: Errors.InvalidGrant }>
  /** When `tokens` should be refreshed (epoch milliseconds): `expiresAt - leeway`, see `refreshAtOf`. */
  readonly refreshAt: number
}

const initial: State = { tokens: Option.none(), unsaved: false, stale: false, revoked: Option.none(), refreshAt: 0 }

const sameTokens = (a: TokenSet, b: Option.Option<TokenSet>): boolean =>
  Option.isSome(b) &&
  Redacted.value(a.accessToken) === Redacted.value(b.value.accessToken) &&
  Redacted.value(a.refreshToken) === Redacted.value(b.value.refreshToken)

/** The least time between two background refreshes, so a token whose lifetime is below the leeway cannot spin. */
const minimumAheadInterval = Duration.seconds(5)
const idleRecheck = Duration.minutes(1)
const failedAheadRetry = Duration.seconds(30)

export const make = Effect.fnUntraced(function* (options?: TokenManager.Options) {
  const refresher = yield* TokenRefresher
  const store = yield* TokenStore
  const scope = yield* Effect.scope
  const leeway = Duration.decode(options?.leeway ?? "60 seconds")
  const leewayMillis = Duration.toMillis(leeway)

  /**
   * `expiresAt - leeway`; for tokens this manager just received (at `receivedAt`), the leeway is at most half their
   * lifetime, so a server that grants tokens shorter-lived than the leeway does not cause a refresh on every call.
   */
  const refreshAtOf = (tokens: TokenSet, receivedAt?: number): number => {
    const expiresAt = tokens.expiresAt.epochMillis
    return receivedAt === undefined
      ? expiresAt - leewayMillis
      : expiresAt - Math.min(leewayMillis, Math.max(0, expiresAt - receivedAt) / 2)
  }
  const fromStore = (stored: Option.Option<TokenSet>): State => ({
    ...initial,
    tokens: stored,
    refreshAt: Option.match(stored, { onNone: () => 0, onSome: (tokens) => refreshAtOf(tokens) })
  })
  const state = yield* Ref.make(initial)
  const inflight = yield* Ref.make(Option.none<Deferred.Deferred<TokenSet, TokenManager.TokenError>>())

  /** Brings the state up to date with the store, then refreshes if the token is not usable. Runs one at a time. */
  const settle: Effect.Effect<TokenSet, TokenManager.TokenError> = Effect.gen(function* () {
    let current = yield* Ref.get(state)
    if (Option.isSome(current.revoked)) {
      const stored = yield* store.get
      if (Option.isNone(stored) || Redacted.value(stored.value.refreshToken) === current.revoked.value.refreshToken) {
        return yield* current.revoked.value.error
      }
      current = yield* Ref.setAndGet(state, fromStore(stored))
    } else if (current.unsaved && Option.isSome(current.tokens)) {
      yield* store.set(current.tokens.value)
      current = yield* Ref.updateAndGet(state, (s) => ({ ...s, unsaved: false }))
    } else {
      const stored = yield* store.get
      if (Option.isSome(stored) && !sameTokens(stored.value, current.tokens)) {
        // a new login, or another process refreshed: the store is newer than memory
        current = yield* Ref.setAndGet(state, fromStore(stored))
      }
    }
    if (Option.isNone(current.tokens)) return yield* new Errors.NoToken()
    const tokens = current.tokens.value
    if (!current.stale && (yield* Clock.currentTimeMillis) < current.refreshAt) return tokens

    const refreshed = yield* refresher.refresh(tokens.refreshToken).pipe(
      Effect.tapErrorTag("InvalidGrant", (error) =>
        Ref.update(state, (s) => ({
          ...s,
          revoked: Option.some({ refreshToken: Redacted.value(tokens.refreshToken), error })
        }))
      )
    )
    // memory first: if the write fails, the rotated refresh token is still here for the next call to persist
    const receivedAt = yield* Clock.currentTimeMillis
    yield* Ref.set(state, {
      ...initial,
      tokens: Option.some(refreshed),
      unsaved: true,
      refreshAt: refreshAtOf(refreshed, receivedAt)
    })
    yield* store.set(refreshed)
    yield* Ref.update(state, (s) => (Option.contains(s.tokens, refreshed) ? { ...s, unsaved: false } : s))
    return refreshed
  })

  type Flight = Deferred.Deferred<TokenSet, TokenManager.TokenError>

  /** Every caller waits on one `settle`, run in the manager's scope so an interrupted caller does not cancel it. */
  const shared: Effect.Effect<TokenSet, TokenManager.TokenError> = Effect.uninterruptibleMask((restore) =>
    Effect.gen(function* () {
      const mine: Flight = yield* Deferred.make<TokenSet, TokenManager.TokenError>()
      const [flight, leader] = yield* Ref.modify(inflight, (running): [[Flight, boolean], Option.Option<Flight>] =>
        Option.isSome(running) ? [[running.value, false], running] : [[mine, true], Option.some(mine)]
      )
      if (leader) {
        yield* settle.pipe(
          Effect.interruptible,
          Effect.exit,
          Effect.flatMap((exit) => Effect.zipRight(Ref.set(inflight, Option.none()), Deferred.done(flight, exit))),
          Effect.forkIn(scope)
        )
      }
      return yield* restore(Deferred.await(flight))
    })
  )

  const sharedAccessToken = Effect.map(shared, (tokens) => tokens.accessToken)

  // the hot path: one Ref read and one clock read, no allocation beyond the effects themselves
  const accessToken = Effect.flatMap(Ref.get(state), (s) => {
    if (s.unsaved || s.stale || Option.isSome(s.revoked) || Option.isNone(s.tokens)) return sharedAccessToken
    const tokens = s.tokens.value
    return Effect.flatMap(Clock.currentTimeMillis, (now) =>
      now < s.refreshAt ? Effect.succeed(tokens.accessToken) : sharedAccessToken
    )
  })

  /** Loads the stored tokens into memory if nothing is there yet, so that there is something to invalidate. */
  const loaded: Effect.Effect<void> = Effect.flatMap(Ref.get(state), (s) =>
    Option.isSome(s.tokens)
      ? Effect.void
      : store.get.pipe(
          Effect.flatMap((stored) => Ref.update(state, (s) => (Option.isNone(s.tokens) ? fromStore(stored) : s))),
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
        Option.isSome(s.tokens) && Redacted.value(s.tokens.value.accessToken) === Redacted.value(token)
          ? { ...s, stale: true }
          : s
      )
    )

  const service: TokenManager.Service = {
    accessToken,
    current: Effect.flatMap(Ref.get(state), (s) => (Option.isSome(s.tokens) ? Effect.succeed(s.tokens) : store.get)),
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
      yield* invalidateToken(tokens.accessToken)
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
