/**
 * Keeps idle sessions alive: a sweep, every `interval`, refreshes the sessions whose refresh token would otherwise
 * die unused (Google: six months; Microsoft: 90 days), and tells when a refresh token is about to end.
 *
 * @since 0.5.0
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as internalManager from "./internal/tokenManager.js"
import { TokenRefresher } from "./TokenRefresher.js"
import { TokenSessions } from "./TokenSessions.js"
import { allKeys, type Service as StoreService, TokenStore, type TokenStoreError } from "./TokenStore.js"

/**
 * What a sweep does.
 *
 * @since 0.5.0
 * @category models
 */
export interface SweepOptions {
  /**
   * An `Active` session whose tokens were issued longer ago than this is refreshed, so its refresh token stays alive.
   * Default: half the provider's `refreshTokenIdleTimeout`; without one, nothing is kept alive.
   */
  readonly keepAliveAfter?: Duration.DurationInput | undefined
  /** At most this many refreshes at once. Default: 4. */
  readonly concurrency?: number | undefined
  /** A refresh token that ends within this is reported (`ending`, `RefreshTokenEnding`). Default: 7 days. */
  readonly refreshTokenWarning?: Duration.DurationInput | undefined
  /** How many keys a sweep reads at a time. Default: 1,000. */
  readonly pageSize?: number | undefined
}

/**
 * The options of {@link layer}.
 *
 * @since 0.5.0
 * @category models
 */
export interface Options extends SweepOptions {
  /** The time between two sweeps (the first comes one interval after the start), ±10% at random. Default: 1 hour. */
  readonly interval?: Duration.DurationInput | undefined
}

/**
 * What one sweep found and did.
 *
 * @since 0.5.0
 * @category models
 */
export interface SweepReport {
  /** The sessions read. */
  readonly scanned: number
  /** The idle sessions refreshed to keep them alive. */
  readonly keptAlive: number
  /** The sessions whose refresh token ends within `refreshTokenWarning`. */
  readonly ending: number
  /** The sessions whose keep-alive refresh got `invalid_grant` (now `Rejected`: the user must log in again). */
  readonly rejected: number
  /** The keep-alive refreshes that failed otherwise (the session is left as it was, for the next sweep). */
  readonly failed: number
  /** The sessions due for a keep-alive that another process (or a caller) refreshed first. */
  readonly skipped: number
  readonly durationMillis: number
}

/**
 * The name of the store lock that one sweeping replica holds at a time.
 *
 * @since 0.5.0
 * @category constants
 */
export const lockKey = "token-refresher:keeper"

/**
 * One sweep now: pages through the store's keys (never all at once), refreshes each `Active` session issued longer
 * ago than `keepAliveAfter` (through the session's manager of `TokenSessions`: the store's lock, a re-read, one
 * refresh per session whatever the callers do), and counts the refresh tokens that end within
 * `refreshTokenWarning`, publishing `RefreshTokenEnding` for each. `Seeded` and `Rejected` sessions are never
 * refreshed. A `Retry-After` from the token endpoint pauses the sweep until it has passed.
 *
 * @since 0.5.0
 * @category constructors
 */
export const sweep = (
  options?: SweepOptions
): Effect.Effect<SweepReport, TokenStoreError, TokenSessions | TokenStore | TokenRefresher> =>
  Effect.gen(function* () {
    const sessions = yield* TokenSessions
    const store = yield* TokenStore
    const refresher = yield* TokenRefresher
    const keepAliveAfter = Option.orElse(
      Option.map(Option.fromNullable(options?.keepAliveAfter), Duration.decode),
      () => Option.map(refresher.provider.refreshTokenIdleTimeout, (idle) => Duration.times(idle, 0.5))
    )
    const warnWithin = Duration.toMillis(
      Duration.decode(options?.refreshTokenWarning ?? internalManager.defaultRefreshTokenWarning)
    )
    const concurrency = Math.max(1, Math.floor(options?.concurrency ?? 4))
    const pageSize = Math.max(1, Math.floor(options?.pageSize ?? 1000))
    const started = yield* Clock.currentTimeMillis
    const counts = { scanned: 0, keptAlive: 0, ending: 0, rejected: 0, failed: 0, skipped: 0 }
    /** Until when a `Retry-After` holds the sweep back (epoch millis). */
    const pausedUntil = yield* Ref.make(0)

    /** Runs `f` on the internals of the session's manager, held for the call. */
    const onManager = <A, E>(key: string, f: (internals: internalManager.Internals) => Effect.Effect<A, E>) =>
      Effect.scoped(Effect.flatMap(sessions.manager(key), (manager) => f(internalManager.internalsOf.get(manager)!)))

    const keepAlive = (key: string, issuedBefore: number): Effect.Effect<void> =>
      Effect.gen(function* () {
        const until = yield* Ref.get(pausedUntil)
        const now = yield* Clock.currentTimeMillis
        if (until > now) yield* Effect.sleep(Duration.millis(until - now))
        const attempt = Effect.either(onManager(key, (internals) => internals.keepAlive(issuedBefore)))
        let outcome = yield* attempt
        if (Either.isLeft(outcome) && outcome.left._tag === "NetworkError" && outcome.left.retryAfter !== undefined) {
          // the endpoint asked to wait: the whole sweep waits, then this session is tried once more
          const retryAfter = outcome.left.retryAfter
          const retryAt = (yield* Clock.currentTimeMillis) + Duration.toMillis(retryAfter)
          yield* Ref.update(pausedUntil, (current) => Math.max(current, retryAt))
          yield* Effect.sleep(retryAfter)
          outcome = yield* attempt
        }
        if (Either.isRight(outcome)) {
          if (outcome.right === "KeptAlive") counts.keptAlive++
          else counts.skipped++
        } else if (outcome.left._tag === "InvalidGrant") counts.rejected++
        else counts.failed++
      })

    const visit = (key: string): Effect.Effect<void, TokenStoreError> =>
      Effect.gen(function* () {
        const stored = yield* store.get(key)
        counts.scanned++
        if (Option.isNone(stored) || stored.value._tag !== "Active") return
        const tokens = stored.value.tokens
        const now = yield* Clock.currentTimeMillis
        if (Option.isSome(tokens.refreshTokenExpiresAt)) {
          const endsAt = tokens.refreshTokenExpiresAt.value
          if (endsAt.epochMillis - now < warnWithin) {
            counts.ending++
            // reported once per session and end, recorded in the session: no other replica, no later sweep again
            const already =
              Option.isSome(stored.value.endingReported) &&
              stored.value.endingReported.value.epochMillis === endsAt.epochMillis
            if (!already) yield* onManager(key, (internals) => internals.reportEnding(endsAt.epochMillis))
          }
        }
        if (Option.isNone(keepAliveAfter)) return
        const issuedBefore = now - Duration.toMillis(keepAliveAfter.value)
        if (tokens.issuedAt.epochMillis < issuedBefore) yield* keepAlive(key, issuedBefore)
      })

    // a page at a time, as `TokenStore.allKeys` reads them (never every key at once)
    yield* Effect.provideService(
      Stream.runDrain(Stream.mapEffect(allKeys({ pageSize }), visit, { concurrency, unordered: true })),
      TokenStore,
      store
    )
    return { ...counts, durationMillis: (yield* Clock.currentTimeMillis) - started }
  })

/**
 * Runs {@link sweep} every `interval` (±10%, so replicas started together do not sweep together; the first one
 * interval after the start), for as long as the layer lives. One replica sweeps at a time: a round first takes the
 * store's lock {@link lockKey} if it is free within 2 seconds, and a replica that cannot have it skips that round; if the sweeping
 * replica dies, the lock is freed as any store lock is, and the next round of another replica sweeps. A sweep that
 * fails is logged and the next round comes as planned.
 *
 * @since 0.5.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<never, never, TokenSessions | TokenStore | TokenRefresher> =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const store = yield* TokenStore
      const interval = Duration.toMillis(Duration.decode(options?.interval ?? "1 hour"))
      const round = Effect.gen(function* () {
        const jitter = yield* Random.nextRange(0.9, 1.1)
        yield* Effect.sleep(Duration.millis(interval * jitter))
        yield* sweepAlone(store, options).pipe(
          Effect.tap((report) =>
            Option.match(report, {
              onNone: () => Effect.logDebug("another replica is sweeping: this round is skipped"),
              onSome: (done) => Effect.logDebug("sessions swept").pipe(Effect.annotateLogs({ ...done }))
            })
          ),
          Effect.catchAll((error) =>
            Effect.logWarning("the session sweep failed").pipe(Effect.annotateLogs({ error: error.message }))
          )
        )
      })
      yield* Effect.forkScoped(Effect.forever(round))
    })
  )

/** A sweep with the keeper's lock, or `None` when another replica holds it (the lock is not waited for). */
const sweepAlone = (
  store: StoreService,
  options: SweepOptions | undefined
): Effect.Effect<Option.Option<SweepReport>, TokenStoreError, TokenSessions | TokenStore | TokenRefresher> =>
  Effect.gen(function* () {
    const taken = yield* Deferred.make<void>()
    const fiber = yield* Effect.fork(
      store.withLock(lockKey)(Effect.zipRight(Deferred.succeed(taken, undefined), sweep(options)))
    )
    // "without waiting": the lock is free at once, or the round is skipped (a free lock takes a store round trip)
    const got = yield* Deferred.await(taken).pipe(Effect.timeoutOption("2 seconds"))
    if (Option.isNone(got)) {
      yield* Fiber.interrupt(fiber)
      return Option.none()
    }
    return Option.some(yield* Fiber.join(fiber))
  })
