import { assert, describe, it } from "@effect/vitest"
import { Errors, TokenManager, TokenRefresher, Session, TokenStore } from "@token-refresher/core"
import { MockTokenEndpoint } from "@token-refresher/testing"
import { Duration, Effect, Fiber, Layer, Redacted, TestClock } from "effect"
import { parseRetryAfter } from "../src/internal/tokenRefresher.js"
import { assertError, clientId, clientSecret, refreshFailure, refresherWith, requestCount, tokenUrl } from "./utils.js"

const answer = (fields: Record<string, unknown>) =>
  MockTokenEndpoint.json({ access_token: "a", token_type: "Bearer", expires_in: 3600, ...fields })

const schemaError = (detail: string) => new Errors.DecodeError({ status: 200, reason: "Schema", detail })

describe("a hostile token endpoint: every answer is a typed result", () => {
  it.effect("a body longer than maxResponseBytes is DecodeError TooLarge (declared, or found while reading)", () =>
    Effect.gen(function* () {
      const declared = yield* refreshFailure()
      assertError(
        declared,
        new Errors.DecodeError({
          status: 200,
          reason: "TooLarge",
          detail: "the body is longer than 2048 bytes (maxResponseBytes); reading stopped there"
        })
      )
      const chunked = yield* refreshFailure()
      assert.deepStrictEqual([chunked._tag, (chunked as Errors.DecodeError).reason], ["DecodeError", "TooLarge"])
      // never retried
      assert.strictEqual(yield* requestCount, 2)
    }).pipe(
      Effect.provide(
        refresherWith(
          [
            MockTokenEndpoint.text("x".repeat(5000), { status: 200, headers: { "content-length": "5000" } }),
            MockTokenEndpoint.text(`{"access_token":"${"a".repeat(5000)}"}`, { status: 200 })
          ],
          { maxResponseBytes: 2048 }
        )
      )
    )
  )

  it.effect(
    "tokens must be 1 to 65,536 visible ASCII characters: CR/LF, NUL, U+FFFD, spaces and 70 KB are refused",
    () =>
      Effect.gen(function* () {
        const expected = schemaError("access_token: expected 1 to 65536 visible ASCII characters")
        for (let i = 0; i < 5; i++) assertError(yield* refreshFailure(), expected)
        assertError(yield* refreshFailure(), schemaError("refresh_token: expected 1 to 65536 visible ASCII characters"))
      }).pipe(
        Effect.provide(
          refresherWith([
            answer({ access_token: "abc\r\nX-Injected: yes" }),
            answer({ access_token: "abc\u0000def" }),
            answer({ access_token: "abc\ufffddef" }),
            answer({ access_token: "two words" }),
            answer({ access_token: "a".repeat(70_000) }),
            answer({ refresh_token: "r\n" })
          ])
        )
      )
  )

  it.effect("expires_in above ten years is a DecodeError, not a RangeError defect; expires_at too", () =>
    Effect.gen(function* () {
      assertError(
        yield* refreshFailure(),
        schemaError("expires_in: expected a number of seconds from 0 to 315360000 (ten years)")
      )
      assertError(yield* refreshFailure(), schemaError("expires_at: more than ten years ahead"))
      const ok = yield* TokenRefresher.refresh(Redacted.make("r"))
      assert.strictEqual(ok.expiresAt.epochMillis, 315_360_000_000)
    }).pipe(
      Effect.provide(
        refresherWith([
          answer({ expires_in: 1e13 }),
          answer({ expires_in: undefined, expires_at: 1e12 }),
          answer({ expires_in: 315_360_000 })
        ])
      )
    )
  )

  it.effect(
    "error_description: control characters (ANSI, CR/LF) become spaces, and a 900 KB one is cut at 300 characters",
    () =>
      Effect.gen(function* () {
        const ansi = yield* refreshFailure()
        assertError(ansi, new Errors.InvalidGrant({ status: 400, description: "[2J [31mfake prompt$ rm -rf ~  done" }))
        assert.notMatch(ansi.message, /[\u0000-\u001f]/)
        const huge = yield* refreshFailure()
        assert.strictEqual((huge as Errors.InvalidGrant).description, `${"d".repeat(300)}…`)
        assert.isBelow(huge.message.length, 600)
      }).pipe(
        Effect.provide(
          refresherWith([
            MockTokenEndpoint.json(
              { error: "invalid_grant", error_description: "\u001b[2J\u001b[31mfake prompt$\r\nrm -rf ~\u0007 done" },
              { status: 400 }
            ),
            MockTokenEndpoint.json({ error: "invalid_grant", error_description: "d".repeat(900_000) }, { status: 400 })
          ])
        )
      )
  )
})

describe("Retry-After: only delay-seconds and IMF-fixdate (RFC 9110 §10.2.3)", () => {
  const now = Date.parse("2026-11-26T00:00:00Z")
  it("parses digits and IMF-fixdate, ignores the rest, and counts anything above a day as a day", () => {
    const millis = (value: string) => {
      const parsed = parseRetryAfter(value, now)
      return parsed === undefined ? undefined : Duration.toMillis(parsed)
    }
    assert.strictEqual(millis("3600"), 3_600_000)
    assert.strictEqual(millis(" 0 "), 0)
    assert.strictEqual(millis("Thu, 26 Nov 2026 00:00:30 GMT"), 30_000)
    assert.strictEqual(millis("Wed, 25 Nov 2026 00:00:30 GMT"), 0)
    assert.isUndefined(millis("-5"))
    assert.isUndefined(millis("1.5"))
    assert.isUndefined(millis("Thursday, 26-Nov-26 00:00:30 GMT"))
    assert.isUndefined(millis("2026-11-26T00:00:30Z"))
    assert.isUndefined(millis(""))
    assert.strictEqual(millis("9".repeat(400)), 86_400_000)
    assert.strictEqual(millis("999999"), 86_400_000)
  })

  it.effect("a Retry-After of -5 is not a date in 2001: the usual backoff applies", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(TokenRefresher.refresh(Redacted.make("r")))
      yield* TestClock.adjust("150 millis")
      assert.strictEqual(yield* requestCount, 1)
      yield* TestClock.adjust("200 millis")
      assert.strictEqual(yield* requestCount, 2)
      yield* Fiber.join(fiber)
    }).pipe(
      Effect.provide(
        refresherWith([
          MockTokenEndpoint.text("", { status: 429, headers: { "retry-after": "-5" } }),
          MockTokenEndpoint.ok()
        ])
      )
    )
  )

  it.effect("400 digits: a day, more than maxRetryAfter, so it fails at once with retryAfter one day", () =>
    Effect.gen(function* () {
      const error = yield* refreshFailure()
      assertError(
        error,
        new Errors.NetworkError({ reason: "Status", status: 429, attempts: 1, retryAfter: Duration.days(1) })
      )
      assert.match(error.message, /retry after 86400 s/)
    }).pipe(
      Effect.provide(
        refresherWith([MockTokenEndpoint.text("", { status: 429, headers: { "retry-after": "9".repeat(400) } })])
      )
    )
  )
})

describe("expires_in: 0", () => {
  it.effect("100 calls make one refresh: a token is used for minRefreshInterval (1 s) after it was issued", () =>
    Effect.gen(function* () {
      const manager = yield* TokenManager.TokenManager
      yield* Effect.all(
        Array.from({ length: 100 }, () => manager.accessToken),
        { discard: true }
      )
      assert.strictEqual(yield* requestCount, 1)
      yield* TestClock.adjust("1 second")
      yield* Effect.all(
        Array.from({ length: 100 }, () => manager.accessToken),
        { discard: true }
      )
      assert.strictEqual(yield* requestCount, 2)
    }).pipe(
      Effect.provide(
        TokenManager.layer().pipe(
          Layer.provideMerge(TokenStore.layerMemory(Session.seeded("seed"))),
          Layer.provideMerge(TokenRefresher.layer({ tokenUrl, clientId, clientSecret })),
          Layer.provideMerge(MockTokenEndpoint.layer(() => answer({ expires_in: 0 }))),
          Layer.orDie
        )
      )
    )
  )
})
