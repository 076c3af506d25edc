import { assert, describe, it } from "@effect/vitest"
import { Errors, Session, TokenManager, TokenRefresher, TokenSet, TokenStore } from "@token-refresher/core"
import { MockTokenEndpoint, TestStack } from "@token-refresher/testing"
import { DateTime, Duration, Effect, Fiber, Layer, Option, Redacted, TestClock } from "effect"
import {
  assertError,
  clientId,
  clientSecret,
  refreshFailure,
  refresherWith,
  requestCount,
  savedRefreshToken,
  storedTokens,
  encoded,
  stringBackend,
  tokenUrl
} from "./utils.js"

const tokens = (name: string, expiresAtSeconds: number, issuedAtSeconds?: number) =>
  new TokenSet.TokenSet({
    accessToken: Redacted.make(`access-${name}`),
    refreshToken: Option.some(Redacted.make(`refresh-${name}`)),
    tokenType: "Bearer",
    expiresAt: DateTime.unsafeMake(expiresAtSeconds * 1000),
    scope: [],
    issuedAt: DateTime.unsafeMake((issuedAtSeconds ?? expiresAtSeconds - 3600) * 1000)
  })

/** Answers `access-for-<refresh token>` (and rotates to `<refresh token>+`), for 3600 s. */
const echoReply = MockTokenEndpoint.json((request: MockTokenEndpoint.RecordedRequest) => ({
  access_token: `access-for-${request.form.refresh_token}`,
  refresh_token: `${request.form.refresh_token}+`,
  token_type: "Bearer",
  expires_in: 3600
}))
const echo: MockTokenEndpoint.Handler = () => echoReply

const managerOn = (
  store: Layer.Layer<TokenStore.TokenStore>,
  replies: Iterable<MockTokenEndpoint.Reply> | MockTokenEndpoint.Handler,
  options?: TokenManager.Options
) => TestStack.managerOn(store, replies, { manager: options, refresher: { tokenUrl, clientId, clientSecret } })

const accessToken = Effect.flatMap(TokenManager.TokenManager, (manager) => manager.accessToken)

describe("TokenManager: the double-checked refresh under the store's lock", () => {
  it.effect("tokens another process wrote while this one waited for the lock are adopted: no request", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(1000_000)
      const store = yield* TokenStore.TokenStore
      const locked = yield* Effect.makeLatch()
      // "another process": holds the lock, refreshes (slowly), writes, releases
      const other = yield* Effect.fork(
        store.withLock(TokenStore.defaultKey)(
          Effect.gen(function* () {
            yield* locked.open
            yield* Effect.sleep("2 seconds")
            yield* store.set(TokenStore.defaultKey, Session.active(tokens("other", 5000, 1000)))
          })
        )
      )
      yield* locked.await
      const mine = yield* Effect.fork(accessToken)
      yield* TestClock.adjust("2 seconds")
      yield* Fiber.join(other)
      assert.strictEqual(Redacted.value(yield* Fiber.join(mine)), "access-other")
      assert.strictEqual(yield* requestCount, 0)
    }).pipe(Effect.provide(managerOn(TokenStore.layerMemory(tokens("expired", 0)), [])))
  )

  it.effect("adopted tokens are judged as their writer judged them: the leeway cap comes from issuedAt", () =>
    Effect.gen(function* () {
      // issued at 0 s, expiring at 100 s, leeway 60 s: capped at half the lifetime, so the refresh time is 50 s
      yield* TestClock.setTime(49_000)
      assert.strictEqual(Redacted.value(yield* accessToken), "access-short")
      assert.strictEqual(yield* requestCount, 0)
      yield* TestClock.setTime(51_000)
      assert.strictEqual(Redacted.value(yield* accessToken), "access-for-refresh-short")
      assert.strictEqual(yield* requestCount, 1)
    }).pipe(Effect.provide(managerOn(TokenStore.layerMemory(tokens("short", 100, 0)), echo)))
  )

  it.effect("the refreshed tokens carry issuedAt, the time they were received", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(7_000)
      yield* accessToken
      const stored = yield* storedTokens()
      assert.strictEqual(stored.issuedAt.epochMillis, 7_000)
      assert.strictEqual(stored.expiresAt.epochMillis, 7_000 + 3600_000)
    }).pipe(Effect.provide(managerOn(TokenStore.layerMemory(tokens("expired", 0)), echo)))
  )

  it.effect(
    "on InvalidGrant the store is re-read: a different refresh token found there is adopted and tried once",
    () => {
      const entries = new Map([[TokenStore.defaultKey, encoded(tokens("stale", 0))]])
      const store = Layer.scoped(TokenStore.TokenStore, TokenStore.make(stringBackend(entries)))
      return Effect.gen(function* () {
        assert.strictEqual(Redacted.value(yield* accessToken), "access-for-refresh-login")
        assert.strictEqual(yield* requestCount, 2)
        assert.strictEqual(Redacted.value(Option.getOrThrow((yield* storedTokens()).refreshToken)), "refresh-login+")
      }).pipe(
        Effect.provide(
          managerOn(store, (request) => {
            if (request.form.refresh_token !== "refresh-stale") return echoReply
            // a login (that did not take the lock) saved new tokens while the stale ones were being sent
            entries.set(TokenStore.defaultKey, encoded(tokens("login", 0)))
            return MockTokenEndpoint.invalidGrant()
          })
        )
      )
    }
  )

  it.effect("on InvalidGrant with the same refresh token still stored, the error stands and is remembered", () =>
    Effect.gen(function* () {
      const expected = new Errors.InvalidGrant({ status: 400, description: "Invalid refresh token" })
      assertError(yield* Effect.flip(accessToken), expected)
      assertError(yield* Effect.flip(accessToken), expected)
      assert.strictEqual(yield* requestCount, 1)
    }).pipe(Effect.provide(managerOn(TokenStore.layerMemory(tokens("revoked", 0)), [MockTokenEndpoint.invalidGrant()])))
  )

  it.effect("a logout (the session removed from the store) is NoToken, not a refresh with the old token", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(1000_000)
      assert.strictEqual(Redacted.value(yield* accessToken), "access-live")
      yield* TokenStore.remove()
      const manager = yield* TokenManager.TokenManager
      yield* manager.invalidate
      assertError(yield* Effect.flip(accessToken), new Errors.NoToken({}))
      assert.strictEqual(yield* requestCount, 0)
    }).pipe(Effect.provide(managerOn(TokenStore.layerMemory(tokens("live", 5000, 1000)), [])))
  )

  it.effect("a manager serves the session of its key only", () =>
    Effect.gen(function* () {
      assert.strictEqual(Redacted.value(yield* accessToken), "access-for-refresh-bob")
      assert.strictEqual((yield* TokenManager.TokenManager).key, "bob")
    }).pipe(
      Effect.provide(
        managerOn(
          TokenStore.layerMemory([
            ["alice", tokens("alice", 0)],
            ["bob", tokens("bob", 0)]
          ]),
          echo,
          {
            key: "bob"
          }
        )
      )
    )
  )
})

describe("InvalidGrant.possiblyConsumed", () => {
  it.effect("true when an earlier attempt was sent and its connection was lost", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(refreshFailure())
      yield* TestClock.adjust("5 seconds")
      const error = yield* Fiber.join(fiber)
      assertError(
        error,
        new Errors.InvalidGrant({ status: 400, description: "Invalid refresh token", possiblyConsumed: true })
      )
      assert.include(error.message, "An earlier attempt got no answer: the server may have used the token then")
      assert.strictEqual(yield* requestCount, 2)
    }).pipe(
      Effect.provide(
        refresherWith([MockTokenEndpoint.transportError("other side closed"), MockTokenEndpoint.invalidGrant()], {
          retry: { baseDelay: "1 millis" }
        })
      )
    )
  )

  it.effect("true after a timeout", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(refreshFailure())
      yield* TestClock.adjust("20 seconds")
      const error = yield* Fiber.join(fiber)
      assertError(
        error,
        new Errors.InvalidGrant({ status: 400, description: "Invalid refresh token", possiblyConsumed: true })
      )
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.hang, MockTokenEndpoint.invalidGrant()])))
  )

  it.effect("false when the earlier attempt never left (connection refused), and when there was none", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(refreshFailure())
      yield* TestClock.adjust("5 seconds")
      const refused = yield* Fiber.join(fiber)
      const notConsumed = new Errors.InvalidGrant({ status: 400, description: "Invalid refresh token" })
      assertError(refused, notConsumed)
      const plain = yield* refreshFailure()
      assertError(plain, notConsumed)
      assert.notInclude(plain.message, "earlier attempt")
    }).pipe(
      Effect.provide(
        refresherWith([
          MockTokenEndpoint.transportError(),
          MockTokenEndpoint.invalidGrant(),
          MockTokenEndpoint.invalidGrant()
        ])
      )
    )
  )
})

describe("Retry-After holds back the whole client", () => {
  it.effect("after a Retry-After longer than maxRetryAfter, every refresh fails at once until it has passed", () =>
    Effect.gen(function* () {
      const first = yield* refreshFailure()
      assert.deepStrictEqual([first._tag, (first as Errors.NetworkError).attempts], ["NetworkError", 1])
      yield* TestClock.adjust("1000 seconds")
      const held = (yield* Effect.flip(TokenRefresher.refresh(Redacted.make("another-session")))) as Errors.NetworkError
      assertError(
        held,
        new Errors.NetworkError({
          reason: "Status",
          status: 429,
          attempts: 0,
          retryAfter: Duration.millis(2600_000),
          detail: "not sent: the token endpoint asked this client to wait (Retry-After)"
        })
      )
      assert.strictEqual(held.attempts, 0)
      assert.strictEqual(held.status, 429)
      assert.strictEqual(held.retryAfter === undefined ? undefined : Duration.toMillis(held.retryAfter), 2600_000)
      assert.strictEqual(
        held.message,
        "The token endpoint was not asked: it asked this client to wait (HTTP 429, Retry-After), for another 2600 s."
      )
      assert.strictEqual(yield* requestCount, 1)
      yield* TestClock.adjust("2600 seconds")
      const tokens = yield* TokenRefresher.refresh(savedRefreshToken)
      assert.strictEqual(Redacted.value(tokens.accessToken), "mock-access-token-2")
      assert.strictEqual(yield* requestCount, 2)
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.rateLimited(3600), MockTokenEndpoint.ok()])))
  )
})
