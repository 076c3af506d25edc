import { assert, describe, it } from "@effect/vitest"
import { Errors, TokenRefresher } from "@token-refresher/core"
import { MockTokenEndpoint } from "@token-refresher/testing"
import { Duration, Effect, Fiber, Random, Redacted, TestClock } from "effect"
import { assertError, refresherWith, refreshFailure, requestCount, requests, savedRefreshToken } from "./utils.js"

const gaps = Effect.map(requests, (all) => all.slice(1).map((request, i) => request.at - all[i]!.at))

describe("TokenRefresher: retries with backoff", () => {
  it.effect("with the jitter fixed (Random.fixed), the gaps are exactly 250, 500 and 1000 ms; maxDelay caps them", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(TokenRefresher.refresh(savedRefreshToken))
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      const at = (yield* requests).map((request) => request.at)
      assert.deepStrictEqual(
        at.slice(1).map((t, i) => t - at[i]!),
        [250, 500, 800]
      )
    }).pipe(
      // 0.5 is the middle of the ±20% jitter: a factor of exactly 1
      Effect.withRandom(Random.fixed([0.5])),
      Effect.provide(
        refresherWith(
          [
            MockTokenEndpoint.serverError(503),
            MockTokenEndpoint.serverError(503),
            MockTokenEndpoint.serverError(503),
            MockTokenEndpoint.ok()
          ],
          { retry: { maxDelay: "800 millis" } }
        )
      )
    )
  )

  it.effect("503, 503, 200 succeeds on the third attempt, and the waits grow", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(TokenRefresher.refresh(savedRefreshToken))
      yield* TestClock.adjust("1 minute")
      const tokens = yield* Fiber.join(fiber)
      assert.strictEqual(Redacted.value(tokens.accessToken), "mock-access-token-3")
      assert.strictEqual(yield* requestCount, 3)
      const [first, second] = yield* gaps
      // 250 ms, then 500 ms, each with ±20% jitter
      assert.isTrue(first! >= 200 && first! <= 300, `first wait ${first}`)
      assert.isTrue(second! >= 400 && second! <= 600, `second wait ${second}`)
    }).pipe(
      Effect.provide(
        refresherWith([MockTokenEndpoint.serverError(503), MockTokenEndpoint.serverError(503), MockTokenEndpoint.ok()])
      )
    )
  )

  it.effect("nothing is sent again before the backoff has passed", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(TokenRefresher.refresh(savedRefreshToken))
      yield* TestClock.adjust("199 millis")
      assert.strictEqual(yield* requestCount, 1)
      yield* TestClock.adjust("101 millis")
      assert.strictEqual(yield* requestCount, 2)
      yield* Fiber.join(fiber)
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.serverError(502), MockTokenEndpoint.ok()])))
  )

  it.effect("the computed delay is capped by maxDelay", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(TokenRefresher.refresh(savedRefreshToken))
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(yield* gaps, [1000, 1000, 1000])
    }).pipe(
      Effect.provide(
        refresherWith(
          [
            MockTokenEndpoint.serverError(500),
            MockTokenEndpoint.serverError(504),
            MockTokenEndpoint.text("", { status: 408 }),
            MockTokenEndpoint.ok()
          ],
          { retry: { baseDelay: "2 seconds", maxDelay: "1 second" } }
        )
      )
    )
  )

  it.effect("Retry-After: 2 waits exactly 2 seconds", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(TokenRefresher.refresh(savedRefreshToken))
      yield* TestClock.adjust("1999 millis")
      assert.strictEqual(yield* requestCount, 1)
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(yield* gaps, [2000])
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.rateLimited(2), MockTokenEndpoint.ok()])))
  )

  it.effect("Retry-After as an HTTP-date waits until that date", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(Date.parse("2026-11-25T12:00:00Z"))
      const fiber = yield* Effect.fork(TokenRefresher.refresh(savedRefreshToken))
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(yield* gaps, [5000])
    }).pipe(
      Effect.provide(
        refresherWith([
          MockTokenEndpoint.text("", { status: 503, headers: { "retry-after": "Wed, 25 Nov 2026 12:00:05 GMT" } }),
          MockTokenEndpoint.ok()
        ])
      )
    )
  )

  it.effect("Retry-After: 3600 fails at once with NetworkError carrying retryAfter", () =>
    Effect.gen(function* () {
      const error = yield* refreshFailure()
      assertError(
        error,
        new Errors.NetworkError({ reason: "Status", status: 429, retryAfter: Duration.seconds(3600), attempts: 1 })
      )
      assert.strictEqual(
        error.message,
        "The token endpoint answered HTTP 429 after 1 attempt; it asked to retry after 3600 s."
      )
      assert.strictEqual(yield* requestCount, 1)
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.rateLimited(3600), MockTokenEndpoint.ok()])))
  )

  it.effect("retries stop at maxRetries and the error records the attempts", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(refreshFailure())
      yield* TestClock.adjust("1 minute")
      const error = yield* Fiber.join(fiber)
      assertError(error, new Errors.NetworkError({ reason: "Status", status: 503, attempts: 3 }))
      assert.strictEqual(yield* requestCount, 3)
    }).pipe(
      Effect.provide(
        refresherWith(
          Array.from({ length: 4 }, () => MockTokenEndpoint.serverError(503)),
          {
            retry: { maxRetries: 2 }
          }
        )
      )
    )
  )

  it.effect("by default a refresh is tried 4 times (3 retries)", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(refreshFailure())
      yield* TestClock.adjust("1 minute")
      const error = yield* Fiber.join(fiber)
      assertError(error, new Errors.NetworkError({ reason: "Status", status: 500, attempts: 4 }))
      assert.strictEqual(yield* requestCount, 4)
    }).pipe(Effect.provide(refresherWith(Array.from({ length: 5 }, () => MockTokenEndpoint.serverError(500)))))
  )

  it.effect("an HTML 502 from a proxy is transient", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(TokenRefresher.refresh(savedRefreshToken))
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      assert.strictEqual(yield* requestCount, 2)
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.html(502), MockTokenEndpoint.ok()])))
  )

  it.effect("a 5xx that is not transient (501) fails at once", () =>
    Effect.gen(function* () {
      const error = yield* refreshFailure()
      assertError(error, new Errors.NetworkError({ reason: "Status", status: 501, attempts: 1 }))
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.serverError(501)])))
  )

  it.effect("a transport failure is retried, and reported with its cause when retries run out", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(refreshFailure())
      yield* TestClock.adjust("1 minute")
      const error = yield* Fiber.join(fiber)
      assertError(
        error,
        new Errors.NetworkError({ reason: "Transport", attempts: 2, detail: "connect ECONNREFUSED 127.0.0.1:443" })
      )
    }).pipe(
      Effect.provide(
        refresherWith([MockTokenEndpoint.transportError(), MockTokenEndpoint.transportError()], {
          retry: { maxRetries: 1 }
        })
      )
    )
  )

  it.effect("a hanging request ends in NetworkError Timeout", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(refreshFailure())
      yield* TestClock.adjust("9999 millis")
      assert.isNull(fiber.unsafePoll())
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(fiber)
      assertError(error, new Errors.NetworkError({ reason: "Timeout", attempts: 1, detail: "no answer within 10s" }))
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.hang], { retry: { maxRetries: 0 } })))
  )

  it.effect("a timed-out attempt is retried", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(TokenRefresher.refresh(savedRefreshToken))
      yield* TestClock.adjust("3 seconds")
      const tokens = yield* Fiber.join(fiber)
      assert.strictEqual(Redacted.value(tokens.accessToken), "mock-access-token-2")
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.hang, MockTokenEndpoint.ok()], { timeout: "2 seconds" })))
  )

  it.effect("a slow answer within the timeout is accepted", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(TokenRefresher.refresh(savedRefreshToken))
      yield* TestClock.adjust("9 seconds")
      yield* Fiber.join(fiber)
      assert.strictEqual(yield* requestCount, 1)
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.delayed("9 seconds", MockTokenEndpoint.ok())])))
  )
})
