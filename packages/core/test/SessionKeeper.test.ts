import { assert, describe, it } from "@effect/vitest"
import {
  Errors,
  Session,
  SessionKeeper,
  TokenRefresher,
  TokenSessions,
  TokenSet,
  TokenStore
} from "@token-refresher/core"
import { MockTokenEndpoint } from "@token-refresher/testing"
import { DateTime, Duration, Effect, Fiber, Layer, Option, Ref, Stream, TestClock } from "effect"
import { clientId, clientSecret, requestCount, requests, tokenUrl } from "./utils.js"

const day = 86_400_000
/** The test starts on day 200. */
const today = 200 * day

const issuedOn = (key: string, issuedDay: number, fields?: Partial<TokenSet.MakeOptions>) =>
  Session.active(
    TokenSet.make({
      accessToken: `access-${key}`,
      refreshToken: `refresh-${key}`,
      issuedAt: issuedDay * day,
      expiresAt: issuedDay * day + 3_600_000,
      ...fields
    })
  )

const rejected = new Session.Rejected({
  refreshToken: Option.none(),
  rejectedAt: DateTime.unsafeMake(0),
  error: new Errors.InvalidGrant({ status: 400, description: "revoked" })
})

const stack = (
  replies: Iterable<MockTokenEndpoint.Reply> | MockTokenEndpoint.Handler,
  initial: TokenStore.Initial,
  refresher?: Partial<TokenRefresher.Options>
) =>
  TokenSessions.layer().pipe(
    Layer.provideMerge(TokenStore.layerMemory(initial)),
    Layer.provideMerge(TokenRefresher.layer({ tokenUrl, clientId, clientSecret, ...refresher })),
    Layer.provideMerge(MockTokenEndpoint.layer(replies)),
    Layer.orDie
  )

/**
 * Runs `self` on day 200, with `layer` built then: a layer built earlier would see 200 days pass at once, and
 * `TokenSessions`' idle sweeper would wake up for each of its intervals in between.
 */
const onDay200 = <A, E, R>(layer: Layer.Layer<R>, self: Effect.Effect<A, E, R>) =>
  Effect.zipRight(TestClock.setTime(today), Effect.provide(self, layer))

/** Collects the events of the `TokenSessions` in context from now on. */
const collect = Effect.gen(function* () {
  const seen = yield* Ref.make<ReadonlyArray<string>>([])
  yield* Effect.fork(
    Stream.runForEach(TokenSessions.events, (event) =>
      Ref.update(seen, (all) => [...all, `${event._tag} ${event.key}`])
    )
  )
  for (let i = 0; i < 5; i++) yield* Effect.yieldNow()
  return Effect.zipRight(Effect.repeatN(Effect.yieldNow(), 20), Ref.get(seen))
})

describe("SessionKeeper.sweep", () => {
  it.effect(
    "refreshes the Active sessions issued longer ago than keepAliveAfter, once, and reports the ending ones",
    () =>
      onDay200(
        stack(
          () => MockTokenEndpoint.ok({ rotate: true }),
          [
            ["idle-1", issuedOn("idle-1", 100)],
            ["idle-2", issuedOn("idle-2", 150)],
            ["recent", issuedOn("recent", 190)],
            ["seeded", Session.seeded("refresh-seeded", 0)],
            ["rejected", rejected],
            ["ending", issuedOn("ending", 199, { refreshTokenExpiresAt: today + 3 * day })]
          ]
        ),
        Effect.gen(function* () {
          const events = yield* collect
          const report = yield* SessionKeeper.sweep({ keepAliveAfter: "30 days", pageSize: 2 })
          assert.deepStrictEqual(
            { ...report, durationMillis: 0 },
            { scanned: 6, keptAlive: 2, ending: 1, rejected: 0, failed: 0, skipped: 0, durationMillis: 0 }
          )
          // the two idle sessions, with their own refresh tokens; the seeded and rejected ones are left alone
          assert.deepStrictEqual(
            (yield* requests).map((request) => request.form.refresh_token),
            ["refresh-idle-1", "refresh-idle-2"]
          )
          // in key order: "ending" comes first
          assert.deepStrictEqual(yield* events, [
            "RefreshTokenEnding ending",
            "Refreshed idle-1",
            "KeptAlive idle-1",
            "Refreshed idle-2",
            "KeptAlive idle-2"
          ])
          // refreshed now: the next sweep has nothing to keep alive, and "ending" was reported already
          const again = yield* SessionKeeper.sweep({ keepAliveAfter: "30 days" })
          assert.deepStrictEqual([again.keptAlive, again.ending], [0, 1])
          assert.strictEqual((yield* events).length, 5)
          const ending = Option.getOrThrow(yield* TokenStore.get("ending"))
          assert.strictEqual(
            ending._tag === "Active" && Option.getOrNull(Option.map(ending.endingReported, (at) => at.epochMillis)),
            today + 3 * day
          )
          assert.strictEqual(yield* requestCount, 2)
          const stored = Option.getOrThrow(yield* TokenStore.get("idle-1"))
          assert.strictEqual(stored._tag === "Active" && stored.tokens.issuedAt.epochMillis, today)
        })
      )
  )

  it.effect("without keepAliveAfter: half the provider's refreshTokenIdleTimeout; without either, nothing", () =>
    Effect.gen(function* () {
      const none = yield* onDay200(stack([], [["idle", issuedOn("idle", 100)]]), SessionKeeper.sweep())
      assert.deepStrictEqual([none.scanned, none.keptAlive], [1, 0])
      const provider = {
        name: "idle-90",
        tokenUrl,
        rotatesRefreshTokens: false,
        refreshTokenIdleTimeout: Option.some(Duration.days(90)),
        deviceAuthorizationUrl: Option.none()
      }
      // half of 90 days: day 150 is not due, day 100 is
      const kept = yield* onDay200(
        stack(
          () => MockTokenEndpoint.ok(),
          [
            ["idle", issuedOn("idle", 100)],
            ["fresh", issuedOn("fresh", 160)]
          ],
          { provider, tokenUrl: undefined }
        ),
        SessionKeeper.sweep()
      )
      assert.deepStrictEqual([kept.scanned, kept.keptAlive], [2, 1])
    })
  )

  it.effect("a Retry-After pauses the sweep until it has passed; at most `concurrency` refreshes at once", () =>
    onDay200(
      stack(
        (request) =>
          request.index === 1
            ? MockTokenEndpoint.rateLimited(60)
            : MockTokenEndpoint.delayed("1 second", MockTokenEndpoint.ok()),
        Array.from({ length: 4 }, (_, i) => [`idle-${i}`, issuedOn(`idle-${i}`, 100)] as const),
        { retry: { maxRetries: 0 } }
      ),
      Effect.gen(function* () {
        const settle = Effect.repeatN(Effect.yieldNow(), 50)
        const sweeping = yield* Effect.fork(SessionKeeper.sweep({ keepAliveAfter: "30 days", concurrency: 2 }))
        yield* settle
        // two at once: the first answer is a 429 with Retry-After: 60, the second takes 1 s
        assert.strictEqual(yield* requestCount, 2)
        yield* TestClock.adjust("1 second")
        yield* settle
        // the sweep is paused: nothing more is sent until the Retry-After has passed
        assert.strictEqual(yield* requestCount, 2)
        yield* TestClock.adjust("60 seconds")
        yield* settle
        assert.isAtLeast(yield* requestCount, 3)
        yield* TestClock.adjust("10 seconds")
        const report = yield* Fiber.join(sweeping)
        assert.deepStrictEqual([report.keptAlive, report.failed, report.rejected], [4, 0, 0])
        assert.strictEqual(yield* requestCount, 5)
      })
    )
  )
})

describe("the report of a refresh token's end", () => {
  it.effect("is kept across a refresh while the end stays the same, so it is not made again", () =>
    onDay200(
      stack(
        () => MockTokenEndpoint.ok(),
        [["ending", issuedOn("ending", 199, { refreshTokenExpiresAt: today + 3 * day })]]
      ),
      Effect.gen(function* () {
        const first = yield* SessionKeeper.sweep()
        assert.strictEqual(first.ending, 1)
        // the access token (issued on day 199) has expired: a caller refreshes it, the refresh token stays the same
        yield* TokenSessions.accessToken("ending")
        assert.strictEqual(yield* requestCount, 1)
        const stored = Option.getOrThrow(yield* TokenStore.get("ending"))
        assert.isTrue(stored._tag === "Active" && stored.tokens.issuedAt.epochMillis === today)
        assert.strictEqual(
          stored._tag === "Active" && Option.getOrNull(Option.map(stored.endingReported, (at) => at.epochMillis)),
          today + 3 * day
        )
      })
    )
  )
})

describe("SessionKeeper.layer", () => {
  it.effect("sweeps every interval (±10%), the first one interval after the start", () =>
    onDay200(
      stack(() => MockTokenEndpoint.ok(), [["idle", issuedOn("idle", 100)]]),
      Effect.gen(function* () {
        yield* Effect.gen(function* () {
          yield* TestClock.adjust("53 minutes")
          assert.strictEqual(yield* requestCount, 0)
          yield* TestClock.adjust("14 minutes")
          assert.strictEqual(yield* requestCount, 1)
        }).pipe(Effect.provide(SessionKeeper.layer({ interval: "1 hour", keepAliveAfter: "30 days" })), Effect.scoped)
      })
    )
  )
})
