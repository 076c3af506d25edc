import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as Errors from "../Errors.js"
import * as Session from "../Session.js"
import { TokenRefresher } from "../TokenRefresher.js"
import type * as TokenManager from "../TokenManager.js"
import type { TokenSet } from "../TokenSet.js"
import { defaultKey, TokenStore, type TokenStoreError } from "../TokenStore.js"
import * as SessionEvent from "../SessionEvent.js"
import * as ManagerState from "./managerState.js"
import * as Jose from "./jose.js"
import * as Metrics from "./metrics.js"
import { EventSink } from "./sessionEvents.js"
import * as SingleFlight from "./singleFlight.js"

type State = ManagerState.State

/** The least time between two background refreshes, so a token whose lifetime is below the leeway cannot spin. */
const minimumAheadInterval = Duration.seconds(5)
const idleRecheck = Duration.minutes(1)
const failedAheadRetry = Duration.seconds(30)

/** What a manager holds while its access token is fresh: the token, and when it must be refreshed. */
export interface Fresh {
  readonly tokens: { readonly accessToken: Redacted.Redacted<string> }
  readonly refreshAt: number
}

/** What `TokenSessions` reads and does on a live manager, without an effect. */
export interface Internals {
  /**
   * The fresh tokens the manager holds, if it holds any: `TokenSessions` answers a call for a valid token from there,
   * and keeps only that once the manager is let go.
   */
  readonly fresh: () => Fresh | undefined
  /** Forgets what the manager holds: its next call reads the store (a new login was saved, or a logout). */
  readonly forget: () => void
  /**
   * The keeper's report of a refresh token that ends soon: with the store's lock, re-reads the session and, when it is
   * `Active`, its refresh token ends at `endsAt` and that end was not reported yet, records the report in the session
   * and returns `true`: one report per session and end, whatever the replicas and the sweeps.
   */
  readonly reportEnding: (endsAt: number) => Effect.Effect<boolean, TokenStoreError>
  /**
   * The keeper's refresh: with the store's lock, re-reads the session and refreshes it only if it is `Active` and
   * its tokens were issued before `issuedBefore` (epoch millis); a session refreshed meanwhile (by another replica,
   * say) is adopted and `Skipped`, and a `Seeded` or `Rejected` one is left alone.
   */
  readonly keepAlive: (issuedBefore: number) => Effect.Effect<"KeptAlive" | "Skipped", TokenManager.TokenError>
}

/** The internals of each live manager. */
export const internalsOf = new WeakMap<TokenManager.Service, Internals>()

/** How a manager gets new tokens: with the stored refresh token, or with the client-credentials grant. */
export type Renewal =
  { readonly _tag: "RefreshToken" } | { readonly _tag: "ClientCredentials"; readonly scope: ReadonlyArray<string> }

const refreshTokenRenewal: Renewal = { _tag: "RefreshToken" }

/** The store key of client-credentials tokens for `scope`: the scopes, sorted and deduplicated, are part of it. */
export const clientCredentialsKey = (scope: ReadonlyArray<string> | undefined): string =>
  `client_credentials:${[...new Set(scope ?? [])].sort().join(" ")}`

export const make = (options?: TokenManager.Options) => makeWith(options, refreshTokenRenewal)

export const makeClientCredentials = (options?: TokenManager.ClientCredentialsOptions) =>
  makeWith(
    { ...options, key: options?.key ?? clientCredentialsKey(options?.scope) },
    { _tag: "ClientCredentials", scope: options?.scope ?? [] }
  )

/** The `TokenManager.Options` defaults, which `TokenSessions` and `SessionKeeper` must agree with. */
export const defaultLeeway: Duration.DurationInput = "60 seconds"
export const defaultMinRefreshInterval: Duration.DurationInput = "1 second"
export const defaultRefreshTokenWarning: Duration.DurationInput = "7 days"

/**
 * When a manager refreshes `tokens`: `leeway` before they expire, but not within `minInterval` (ms) of their issue, so
 * `expires_in: 0` cannot make every call refresh.
 */
export const refreshAtMillis = (tokens: TokenSet, leeway: Duration.Duration, minInterval: number): number =>
  Math.max(tokens.refreshAtMillis(leeway), tokens.issuedAt.epochMillis + minInterval)

export const makeWith = Effect.fnUntraced(function* (options: TokenManager.Options | undefined, renewal: Renewal) {
  const refresher = yield* TokenRefresher
  const store = yield* TokenStore
  const key = options?.key ?? defaultKey
  const leeway = Duration.decode(options?.leeway ?? defaultLeeway)
  const warnWithin = Duration.toMillis(Duration.decode(options?.refreshTokenWarning ?? defaultRefreshTokenWarning))
  const providerName = refresher.provider.name
  /** How many token requests this manager started: a refresh that started none adopted what another wrote. */
  let refreshCount = 0
  const countRefresh = (outcome: Metrics.Outcome) =>
    Metric.update(Metrics.refreshes.pipe(Metric.tagged("provider", providerName), Metric.tagged("outcome", outcome)), 1)
  // what happens to the session, for `TokenSessions.events` (a manager made on its own publishes nowhere)
  const sink = yield* Effect.serviceOption(EventSink)
  const publish = Option.getOrElse(sink, () => () => Effect.void)
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
  /** A failed refresh, counted by its outcome (a `NoToken` is no refresh: not counted). */
  const countFailure = (error: { readonly _tag: string }) => {
    const outcome = Metrics.outcomeOf(error)
    return outcome === undefined ? Effect.void : countRefresh(outcome)
  }

  const minInterval = Duration.toMillis(Duration.decode(options?.minRefreshInterval ?? defaultMinRefreshInterval))
  const refreshAtOf = (tokens: TokenSet): number => refreshAtMillis(tokens, leeway, minInterval)
  /**
   * The manager's state: a plain cell rather than a `Ref`, so that the hot path and `internalsOf` read it without an
   * effect. Every change is one synchronous step, as with a `Ref`.
   */
  const cell: { value: State } = { value: ManagerState.unknown }
  /** A DPoP access token served from here is known to `BearerAuth` with its key. */
  const bound = (state: State): State => {
    if (state._tag === "Fresh" || state._tag === "Unsaved") Jose.bind(state.tokens)
    return state
  }
  const getState = Effect.sync(() => cell.value)
  const setState = (next: State) =>
    Effect.sync(() => {
      cell.value = bound(next)
    })
  const updateState = (f: (s: State) => State) =>
    Effect.sync(() => {
      cell.value = bound(f(cell.value))
    })
  const updateAndGetState = (f: (s: State) => State) => Effect.sync(() => (cell.value = bound(f(cell.value))))
  const adopt = (stored: Option.Option<Session.Session>) =>
    updateAndGetState(() => ManagerState.adopt(stored, refreshAtOf))
  /** Reads the store and adopts what it holds unless memory holds it already (a 401 on it stays known). */
  const sync = (stored: Option.Option<Session.Session>) =>
    Effect.flatMap(getState, (current) =>
      ManagerState.holds(current, stored) ? Effect.succeed(current) : adopt(stored)
    )

  /**
   * Writes tokens whose store write failed, under the lock and after a re-read, so the store never goes back to
   * older tokens: what another process wrote since (newer by `issuedAt`) wins, and is adopted instead.
   */
  const writeBack = (unsaved: TokenSet): Effect.Effect<State, TokenManager.TokenError> =>
    store.withLock(key)(
      Effect.gen(function* () {
        const stored = yield* store.get(key)
        const newer = Option.flatMap(stored, Session.tokens)
        if (Option.isSome(newer) && newer.value.issuedAt.epochMillis > unsaved.issuedAt.epochMillis) {
          return yield* adopt(stored)
        }
        if (!ManagerState.storesTokens(stored, unsaved)) {
          yield* store.set(key, Session.active(unsaved))
        }
        return yield* updateAndGetState((s) => ManagerState.saved(s, unsaved))
      })
    )

  /**
   * Gets new tokens, keeps them in memory, then writes them; runs with the lock held. `sent`: the refresh token sent,
   * if any, to tell a rotation.
   */
  const renewWith = (
    renew: Effect.Effect<TokenSet, Errors.RefreshError>,
    sent: Option.Option<Redacted.Redacted<string>>,
    previous?: Session.Active
  ): Effect.Effect<TokenSet, TokenManager.TokenError> =>
    Effect.gen(function* () {
      refreshCount++
      const tokens = yield* renew.pipe(
        // every request's time, whatever its outcome
        (request) =>
          Effect.flatMap(Clock.currentTimeMillis, (started) =>
            Effect.onExit(request, () =>
              Effect.flatMap(Clock.currentTimeMillis, (ended) =>
                Metric.update(
                  Metrics.refreshDuration.pipe(Metric.tagged("provider", providerName)),
                  (ended - started) / 1000
                )
              )
            )
          ),
        Effect.tapError((error) =>
          error._tag === "InvalidGrant" ? Effect.void : publish(SessionEvent.RefreshFailed({ key, error }))
        )
      )
      // memory first: if the write fails, the rotated refresh token is still here for the next call to persist
      yield* setState(ManagerState.refreshed(tokens, refreshAtOf(tokens)))
      const rotated =
        Option.isSome(sent) &&
        Option.isSome(tokens.refreshToken) &&
        Redacted.value(tokens.refreshToken.value) !== Redacted.value(sent.value)
      yield* publish(SessionEvent.Refreshed({ key, rotated, expiresAt: tokens.expiresAt }))
      yield* store.set(key, carryOver(tokens, previous))
      yield* updateState((s) => ManagerState.saved(s, tokens))
      return tokens
    })

  /** The new tokens as a session, keeping the keeper's report of the refresh token's end while that end is the same. */
  const carryOver = (tokens: TokenSet, previous: Session.Active | undefined): Session.Session =>
    previous !== undefined &&
    Option.isSome(previous.endingReported) &&
    Option.isSome(tokens.refreshTokenExpiresAt) &&
    tokens.refreshTokenExpiresAt.value.epochMillis === previous.endingReported.value.epochMillis
      ? new Session.Active({ tokens, endingReported: previous.endingReported })
      : Session.active(tokens)

  /** The provider refused `refreshToken`: every process learns it from the store, and none sends it again. */
  const reject = (refreshToken: Redacted.Redacted<string>) => (error: Errors.InvalidGrant) =>
    Effect.gen(function* () {
      const rejectedAt = yield* DateTime.now
      yield* setState(ManagerState.State.Refused({ refreshToken: Option.some(refreshToken), error }))
      yield* publish(SessionEvent.Rejected({ key, error }))
      yield* store
        .set(key, new Session.Rejected({ refreshToken: Option.some(refreshToken), rejectedAt, error }))
        .pipe(
          Effect.catchAll((storeError) =>
            Effect.logWarning("the rejected session could not be recorded in the store").pipe(
              Effect.annotateLogs({ key, error: storeError.message })
            )
          )
        )
      return yield* Effect.fail(error)
    })

  /** Refreshes `session` (the stored one, with the lock held). */
  const refreshSession = (session: Session.Session): Effect.Effect<TokenSet, TokenManager.TokenError> => {
    switch (session._tag) {
      case "Rejected":
        return Effect.fail(session.error)
      case "Seeded":
        return renewWith(
          refresher.refresh(session.refreshToken, { dpopKey: Option.getOrUndefined(Session.dpopKey(session)) }),
          Option.some(session.refreshToken)
        )
      case "Active": {
        const refreshToken = session.tokens.refreshToken
        if (Option.isNone(refreshToken)) return Effect.fail(new Errors.NoToken({ reason: "NoRefreshToken" }))
        return renewWith(refresher.refresh(refreshToken.value, { previous: session.tokens }), refreshToken, session)
      }
    }
  }

  /**
   * The refresh, with the lock held: re-read the store, adopt what another process wrote while this one waited if it
   * is usable now, otherwise refresh and write.
   */
  const refreshLocked: Effect.Effect<TokenSet, TokenManager.TokenError> = Effect.gen(function* () {
    const stored = yield* store.get(key)
    if (renewal._tag === "ClientCredentials") {
      const current = yield* sync(stored)
      if (ManagerState.usableAt(current, yield* Clock.currentTimeMillis)) return current.tokens
      return yield* renewWith(refresher.clientCredentials({ scope: renewal.scope }), Option.none())
    }
    if (Option.isNone(stored)) {
      // forgotten (a logout) while this process held the tokens
      yield* setState(ManagerState.unknown)
      return yield* new Errors.NoToken()
    }
    const current = yield* sync(stored)
    if (ManagerState.usableAt(current, yield* Clock.currentTimeMillis)) return current.tokens
    const session = stored.value
    return yield* refreshSession(session).pipe(
      Effect.catchTag("InvalidGrant", (error) =>
        Effect.gen(function* () {
          const sent = Option.getOrThrow(Session.refreshToken(session))
          // a process that does not take the lock may have stored another token meanwhile: try that one once
          const again = yield* store.get(key)
          const other = Option.flatMap(again, Session.refreshToken)
          if (Option.isNone(again) || Option.isNone(other) || Redacted.value(other.value) === Redacted.value(sent)) {
            return yield* reject(sent)(error)
          }
          yield* adopt(again)
          return yield* refreshSession(again.value).pipe(Effect.catchTag("InvalidGrant", reject(other.value)))
        })
      )
    )
  })

  /** Brings the state up to date with the store, then refreshes under the lock if the token is not usable. */
  const settle: Effect.Effect<TokenSet, TokenManager.TokenError> = Effect.gen(function* () {
    let current = yield* getState
    let empty = false
    if (current._tag === "Unsaved") {
      current = yield* writeBack(current.tokens)
    } else {
      // a new login, a logout, a rejection, or another process refreshed: the store is newer than memory
      const stored = yield* store.get(key)
      empty = Option.isNone(stored)
      current = yield* sync(stored)
    }
    if (current._tag === "Refused") return yield* current.error
    if (ManagerState.usableAt(current, yield* Clock.currentTimeMillis)) return current.tokens
    if (empty && renewal._tag === "RefreshToken") return yield* new Errors.NoToken()
    // the lock's wait, then the refresh's outcome (a session refreshed meanwhile by another process: `adopted`)
    const waiting = yield* Clock.currentTimeMillis
    const refreshedBefore = refreshCount
    return yield* store
      .withLock(key)(
        Effect.zipRight(
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            Metrics.lockWait.pipe(Metric.tagged("provider", providerName), Metric.update((now - waiting) / 1000))
          ),
          refreshLocked
        )
      )
      .pipe(
        Effect.tapBoth({
          onFailure: countFailure,
          onSuccess: () => countRefresh(refreshCount === refreshedBefore ? "adopted" : "ok")
        })
      )
  })

  const shared = yield* SingleFlight.make(Effect.tap(settle, warnIfEnding))

  const sharedAccessToken = Effect.map(shared, (tokens) => tokens.accessToken)

  /** The access token in memory while it is fresh at `now` (before its refresh time), else `undefined`. */
  const cached = (now: number): Redacted.Redacted<string> | undefined => {
    const s = cell.value
    return s._tag === "Fresh" && now < s.refreshAt ? s.tokens.accessToken : undefined
  }

  // the hot path: one read of the cell and one of the clock, no allocation beyond the effect returned
  const accessToken = Effect.clockWith((clock) => {
    const token = cached(clock.unsafeCurrentTimeMillis())
    return token === undefined ? sharedAccessToken : Effect.succeed(token)
  })

  /** Loads the stored session into memory if nothing is there yet, so that there is something to invalidate. */
  const loaded: Effect.Effect<void> = Effect.flatMap(getState, (s) =>
    s._tag !== "Unknown"
      ? Effect.void
      : store.get(key).pipe(
          Effect.flatMap((stored) =>
            updateState((s) => (s._tag === "Unknown" ? ManagerState.adopt(stored, refreshAtOf) : s))
          ),
          Effect.ignore
        )
  )

  const invalidate = Effect.zipRight(
    loaded,
    updateState((s) => ManagerState.invalidated(s, Option.none()))
  )

  const invalidateToken = (token: Redacted.Redacted<string>) =>
    Effect.zipRight(
      loaded,
      updateState((s) => ManagerState.invalidated(s, Option.some(token)))
    )

  const service: TokenManager.Service = {
    key,
    accessToken,
    current: Effect.flatMap(getState, (s) =>
      Option.match(ManagerState.tokensOf(s), {
        onNone: () => store.get(key),
        onSome: (tokens) => Effect.succeedSome(Session.active(tokens))
      })
    ),
    invalidate,
    invalidateToken,
    refreshNow: Effect.zipRight(invalidate, shared)
  }

  if (options?.refreshAhead === true) {
    const ahead: Effect.Effect<Duration.Duration> = Effect.gen(function* () {
      yield* loaded
      const current = yield* getState
      if (current._tag !== "Fresh") {
        // a seed is refreshed ahead too; nothing stored, or a refused session, waits for a login
        if (current._tag === "Refused" || Option.isNone(yield* store.get(key))) return idleRecheck
        yield* shared
        return minimumAheadInterval
      }
      // one more leeway ahead of the time a request would refresh
      const due = 2 * current.refreshAt - current.tokens.expiresAt.epochMillis
      const now = yield* Clock.currentTimeMillis
      if (now < due) return Duration.millis(due - now)
      yield* invalidateToken(current.tokens.accessToken)
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

  const keepAlive = (issuedBefore: number): Effect.Effect<"KeptAlive" | "Skipped", TokenManager.TokenError> =>
    store
      .withLock(key)(
        Effect.gen(function* () {
          const stored = yield* store.get(key)
          yield* sync(stored)
          if (Option.isNone(stored) || stored.value._tag !== "Active") return "Skipped" as const
          if (stored.value.tokens.issuedAt.epochMillis >= issuedBefore) return "Skipped" as const
          yield* refreshSession(stored.value).pipe(
            Effect.catchTag("InvalidGrant", (error) =>
              reject(Option.getOrThrow(Session.refreshToken(stored.value)))(error)
            )
          )
          yield* publish(SessionEvent.KeptAlive({ key }))
          return "KeptAlive" as const
        })
      )
      .pipe(
        Effect.tapBoth({
          onFailure: countFailure,
          onSuccess: (outcome) => (outcome === "KeptAlive" ? countRefresh("ok") : Effect.void)
        })
      )

  const reportEnding = (endsAt: number): Effect.Effect<boolean, TokenStoreError> =>
    store.withLock(key)(
      Effect.gen(function* () {
        const stored = yield* store.get(key)
        if (Option.isNone(stored) || stored.value._tag !== "Active") return false
        const session = stored.value
        const end = session.tokens.refreshTokenExpiresAt
        if (Option.isNone(end) || end.value.epochMillis !== endsAt) return false
        if (Option.isSome(session.endingReported) && session.endingReported.value.epochMillis === endsAt) return false
        yield* store.set(key, new Session.Active({ tokens: session.tokens, endingReported: end }))
        yield* publish(SessionEvent.RefreshTokenEnding({ key, endsAt: end.value }))
        return true
      })
    )

  /** Forgets what this manager holds: its next call reads the store. */
  const forget = () => {
    cell.value = ManagerState.unknown
  }
  // news from another instance of the store (another tab): what this manager holds may be stale, so it re-reads.
  // Under `TokenSessions` (which publishes events) the sessions service listens once for all its managers.
  if (store.changes !== undefined && Option.isNone(sink)) {
    yield* Effect.forkScoped(
      Stream.runForEach(store.changes, (changed) => (changed === key ? Effect.sync(forget) : Effect.void))
    )
  }

  internalsOf.set(service, {
    fresh: () => (cell.value._tag === "Fresh" ? cell.value : undefined),
    forget,
    keepAlive,
    reportEnding
  })
  return service
})
