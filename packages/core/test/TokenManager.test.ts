import { assert, describe, it } from "@effect/vitest"
import { Errors, Session, TokenManager, TokenRefresher, TokenSet, TokenStore } from "@token-refresher/core"
import { MockTokenEndpoint, TestStack } from "@token-refresher/testing"
import { Context, DateTime, Duration, Effect, Fiber, Layer, Option, Redacted, TestClock } from "effect"
import {
  assertError,
  clientId,
  clientSecret,
  decoded,
  encoded,
  requestCount,
  storedTokens,
  stringBackend,
  tokenUrl
} from "./utils.js"

const freshTokens = (accessToken: string, refreshToken: string, expiresInSeconds = 3600) =>
  new TokenSet.TokenSet({
    accessToken: Redacted.make(accessToken),
    refreshToken: Option.some(Redacted.make(refreshToken)),
    tokenType: "Bearer",
    expiresAt: DateTime.unsafeMake(expiresInSeconds * 1000),
    scope: ["user-read-private"],
    issuedAt: DateTime.unsafeMake(0)
  })

const managerWith = (
  replies: Iterable<MockTokenEndpoint.Reply>,
  store: Layer.Layer<TokenStore.TokenStore>,
  options?: TokenManager.Options
) => TestStack.managerOn(store, replies, { manager: options, refresher: { tokenUrl, clientId, clientSecret } })

const seeded = (replies: Iterable<MockTokenEndpoint.Reply>, options?: TokenManager.Options) =>
  managerWith(replies, TokenStore.layerMemory(Session.seeded("seed-refresh")), options)

/**
 * Background fibers live in the layer's scope, not under the test fiber, so `TestClock.adjust` does not wait for
 * them: yield (a bounded number of times) until the request count reaches `n`.
 */
const settledCount = (n: number) =>
  requestCount.pipe(
    Effect.zipLeft(Effect.yieldNow()),
    Effect.repeat({ until: (count) => count >= n, times: 1000 }),
    Effect.zipRight(requestCount)
  )

const accessToken = Effect.flatMap(TokenManager.TokenManager, (manager) => manager.accessToken)
const stored = storedTokens()
const storedRefreshToken = Effect.map(stored, (tokens) => Redacted.value(Option.getOrThrow(tokens.refreshToken)))

describe("TokenManager", () => {
  it.effect("1,000 concurrent accessToken calls on an expired token make exactly one refresh request", () =>
    Effect.gen(function* () {
      const tokens = yield* Effect.all(
        Array.from({ length: 1000 }, () => accessToken),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(yield* requestCount, 1)
      assert.deepStrictEqual(new Set(tokens.map(Redacted.value)), new Set(["mock-access-token-1"]))
    }).pipe(Effect.provide(seeded([MockTokenEndpoint.ok()])))
  )

  it.effect("leeway: at expiresAt - 61 s no refresh, at expiresAt - 59 s one refresh", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(3600_000 - 61_000)
      assert.strictEqual(Redacted.value(yield* accessToken), "stored-access")
      assert.strictEqual(yield* requestCount, 0)
      yield* TestClock.setTime(3600_000 - 59_000)
      assert.strictEqual(Redacted.value(yield* accessToken), "mock-access-token-1")
      assert.strictEqual(yield* requestCount, 1)
      assert.strictEqual(Redacted.value(yield* accessToken), "mock-access-token-1")
      assert.strictEqual(yield* requestCount, 1)
    }).pipe(
      Effect.provide(
        managerWith([MockTokenEndpoint.ok()], TokenStore.layerMemory(freshTokens("stored-access", "stored-refresh")))
      )
    )
  )

  it.effect("a custom leeway is honoured", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(3600_000 - 5 * 60_000 - 1)
      yield* accessToken
      assert.strictEqual(yield* requestCount, 0)
      yield* TestClock.adjust("2 millis")
      yield* accessToken
      assert.strictEqual(yield* requestCount, 1)
    }).pipe(
      Effect.provide(
        managerWith([MockTokenEndpoint.ok()], TokenStore.layerMemory(freshTokens("stored-access", "r")), {
          leeway: "5 minutes"
        })
      )
    )
  )

  it.effect("rotation: the store holds the rotated refresh token after a refresh", () =>
    Effect.gen(function* () {
      yield* accessToken
      assert.strictEqual(yield* storedRefreshToken, "mock-refresh-token-1")
      const tokens = yield* stored
      assert.strictEqual(Redacted.value(tokens.accessToken), "mock-access-token-1")
    }).pipe(Effect.provide(seeded([MockTokenEndpoint.ok({ rotate: true })])))
  )

  it.effect("no rotation: the store keeps the old refresh token", () =>
    Effect.gen(function* () {
      yield* accessToken
      assert.strictEqual(yield* storedRefreshToken, "seed-refresh")
      const [request] = yield* Effect.flatMap(MockTokenEndpoint.MockTokenEndpoint, (mock) => mock.requests)
      assert.strictEqual(request!.form.refresh_token, "seed-refresh")
    }).pipe(Effect.provide(seeded([MockTokenEndpoint.ok({ rotate: false })])))
  )

  it.effect("each refresh sends the newest refresh token", () =>
    Effect.gen(function* () {
      const manager = yield* TokenManager.TokenManager
      yield* manager.refreshNow
      yield* manager.refreshNow
      const requests = yield* Effect.flatMap(MockTokenEndpoint.MockTokenEndpoint, (mock) => mock.requests)
      assert.deepStrictEqual(
        requests.map((r) => r.form.refresh_token),
        ["seed-refresh", "mock-refresh-token-1"]
      )
      assert.strictEqual(yield* storedRefreshToken, "mock-refresh-token-2")
    }).pipe(Effect.provide(seeded([MockTokenEndpoint.ok({ rotate: true }), MockTokenEndpoint.ok({ rotate: true })])))
  )

  it.effect("a failed store write surfaces as TokenStoreError, and the next call persists the rotated tokens", () => {
    const entries = new Map([[TokenStore.defaultKey, encoded(Session.seeded("seed-refresh", 0))]])
    const backend = stringBackend(entries)
    const backing = {
      writes: 0,
      get value() {
        return Option.map(Option.fromNullable(entries.get(TokenStore.defaultKey)), decoded)
      }
    }
    const flakyStore = Layer.scoped(
      TokenStore.TokenStore,
      TokenStore.make({
        ...backend,
        set: (key, value) =>
          Effect.suspend(() => {
            backing.writes++
            if (backing.writes === 1) {
              return Effect.fail(
                new TokenStore.TokenStoreError({ reason: "Write", location: "test", detail: "disk full" })
              )
            }
            return backend.set(key, value)
          })
      })
    )
    return Effect.gen(function* () {
      const error = yield* Effect.flip(accessToken)
      assertError(error, new TokenStore.TokenStoreError({ reason: "Write", location: "test", detail: "disk full" }))
      assert.strictEqual(
        Redacted.value(Option.getOrThrow(Session.refreshToken(Option.getOrThrow(backing.value)))),
        "seed-refresh"
      )
      assert.strictEqual(Redacted.value(yield* accessToken), "mock-access-token-1")
      assert.strictEqual(yield* requestCount, 1)
      assert.strictEqual(backing.writes, 2)
      assert.strictEqual(
        Redacted.value(Option.getOrThrow(Session.refreshToken(Option.getOrThrow(backing.value)))),
        "mock-refresh-token-1"
      )
    }).pipe(Effect.provide(managerWith([MockTokenEndpoint.ok({ rotate: true })], flakyStore)))
  })

  it.effect("InvalidGrant is requested once, then returned from memory until a new login is stored", () =>
    Effect.gen(function* () {
      const first = yield* Effect.flip(accessToken)
      assertError(first, new Errors.InvalidGrant({ status: 400, description: "Refresh token revoked" }))
      const again = yield* Effect.all(Array.from({ length: 10 }, () => Effect.flip(accessToken)))
      assert.isTrue(again.every((error) => error._tag === "InvalidGrant"))
      assert.strictEqual(yield* requestCount, 1)
      // recorded in the store, for every other process
      const rejected = Option.getOrThrow(yield* TokenStore.get())
      assert.strictEqual(rejected._tag, "Rejected")
      if (rejected._tag === "Rejected") {
        assertError(rejected.error, first as Errors.InvalidGrant)
        assert.deepStrictEqual(Option.map(rejected.refreshToken, Redacted.value), Option.some("seed-refresh"))
      }

      yield* TokenStore.set(TokenStore.defaultKey, Session.seeded("new-login"))
      const mock = yield* MockTokenEndpoint.MockTokenEndpoint
      yield* mock.enqueue(MockTokenEndpoint.ok())
      assert.strictEqual(Redacted.value(yield* accessToken), "mock-access-token-2")
      assert.strictEqual((yield* mock.requests)[1]!.form.refresh_token, "new-login")
    }).pipe(Effect.provide(seeded([MockTokenEndpoint.invalidGrant("Refresh token revoked")])))
  )

  it.effect("concurrent callers share a failed refresh, and a failure is not cached", () =>
    Effect.gen(function* () {
      const errors = yield* Effect.all(
        Array.from({ length: 50 }, () => Effect.flip(accessToken)),
        {
          concurrency: "unbounded"
        }
      )
      assert.isTrue(errors.every((error) => error._tag === "DecodeError"))
      assert.strictEqual(yield* requestCount, 1)
      assert.strictEqual(Redacted.value(yield* accessToken), "mock-access-token-2")
      assert.strictEqual(yield* requestCount, 2)
    }).pipe(Effect.provide(seeded([MockTokenEndpoint.html(403), MockTokenEndpoint.ok()])))
  )

  it.effect("an empty store is NoToken, with the fix in its message, and nothing is sent", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(accessToken)
      assertError(error, new Errors.NoToken())
      assert.match(error.message, /log in first/)
      assert.strictEqual(yield* requestCount, 0)
    }).pipe(Effect.provide(managerWith([], TokenStore.layerMemory())))
  )

  it.effect("invalidate forces a refresh of a token that has not expired", () =>
    Effect.gen(function* () {
      const manager = yield* TokenManager.TokenManager
      assert.strictEqual(Redacted.value(yield* manager.accessToken), "stored-access")
      yield* manager.invalidate
      assert.strictEqual(Redacted.value(yield* manager.accessToken), "mock-access-token-1")
      assert.strictEqual(yield* requestCount, 1)
    }).pipe(
      Effect.provide(managerWith([MockTokenEndpoint.ok()], TokenStore.layerMemory(freshTokens("stored-access", "r"))))
    )
  )

  it.effect("a caller that gives up does not cancel the refresh the others wait for", () =>
    Effect.gen(function* () {
      const impatient = yield* Effect.fork(accessToken)
      const patient = yield* Effect.fork(accessToken)
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(impatient)
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(Redacted.value(yield* Fiber.join(patient)), "mock-access-token-1")
      assert.strictEqual(yield* requestCount, 1)
      assert.strictEqual(yield* storedRefreshToken, "mock-refresh-token-1")
    }).pipe(Effect.provide(seeded([MockTokenEndpoint.delayed("3 seconds", MockTokenEndpoint.ok({ rotate: true }))])))
  )

  it.effect("current reads without refreshing", () =>
    Effect.gen(function* () {
      const manager = yield* TokenManager.TokenManager
      const current = yield* manager.current
      assert.strictEqual(
        Redacted.value(Option.getOrThrow(Session.refreshToken(Option.getOrThrow(current)))),
        "seed-refresh"
      )
      assert.strictEqual(yield* requestCount, 0)
    }).pipe(Effect.provide(seeded([])))
  )

  it.effect("refreshAhead refreshes in the background at expiresAt - 2 × leeway, so requests never wait", () =>
    Effect.gen(function* () {
      yield* TestClock.adjust(Duration.seconds(3600 - 120 - 1))
      assert.strictEqual(yield* settledCount(1), 0)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* settledCount(1), 1)
      assert.strictEqual(Redacted.value(yield* accessToken), "mock-access-token-1")
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(yield* requestCount, 1)
      // the next one is due 3600 - 120 s after the first refresh
      yield* TestClock.adjust(Duration.seconds(3480 - 60 - 1))
      assert.strictEqual(yield* settledCount(2), 1)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* settledCount(2), 2)
    }).pipe(
      Effect.provide(
        managerWith(
          [MockTokenEndpoint.ok(), MockTokenEndpoint.ok()],
          TokenStore.layerMemory(freshTokens("stored-access", "r")),
          { refreshAhead: true }
        )
      )
    )
  )

  it.effect("refreshAhead stops with the layer's scope", () =>
    Effect.gen(function* () {
      // the mock outlives the manager's scope, so a leaked refresh-ahead fiber would reach it and be counted
      const mock = yield* Layer.build(MockTokenEndpoint.layer(() => MockTokenEndpoint.ok()))
      const endpoint = Context.get(mock, MockTokenEndpoint.MockTokenEndpoint)
      const store = yield* Layer.build(TokenStore.layerMemory(freshTokens("a", "r")))
      const rootsBefore = new Set((yield* Fiber.roots).map((fiber) => fiber.id()))
      yield* Effect.scoped(
        Layer.build(
          TokenManager.layer({ refreshAhead: true }).pipe(
            Layer.provide(Layer.succeedContext(store)),
            Layer.provide(TokenRefresher.layer({ tokenUrl, clientId, clientSecret })),
            Layer.provide(Layer.succeedContext(mock)),
            Layer.orDie
          )
        )
      )
      // with the scope closed, no fiber of the manager is left: a daemon would still be sleeping, as a root fiber
      const leaked = (yield* Fiber.roots).filter((fiber) => !rootsBefore.has(fiber.id()))
      assert.strictEqual(leaked.length, 0)
      // and nothing wakes up to send a request
      yield* TestClock.adjust("2 hours")
      yield* Effect.repeat(Effect.yieldNow(), { times: 100 })
      assert.strictEqual(yield* endpoint.count, 0)
    }).pipe(Effect.scoped)
  )

  it.effect("refreshAhead refreshes in the background while the scope lives (the control for the test above)", () =>
    Effect.gen(function* () {
      const mock = yield* Layer.build(MockTokenEndpoint.layer(() => MockTokenEndpoint.ok()))
      const endpoint = Context.get(mock, MockTokenEndpoint.MockTokenEndpoint)
      yield* Layer.build(
        TokenManager.layer({ refreshAhead: true }).pipe(
          Layer.provide(TokenStore.layerMemory(freshTokens("a", "r"))),
          Layer.provide(TokenRefresher.layer({ tokenUrl, clientId, clientSecret })),
          Layer.provide(Layer.succeedContext(mock)),
          Layer.orDie
        )
      )
      yield* TestClock.adjust("2 hours")
      yield* Effect.repeat(Effect.yieldNow(), { times: 100 })
      assert.isAbove(yield* endpoint.count, 0)
    }).pipe(Effect.scoped)
  )
})

describe("TokenManager.invalidate", () => {
  it.effect("works before anything was loaded: the next accessToken refreshes", () =>
    Effect.gen(function* () {
      const manager = yield* TokenManager.TokenManager
      yield* manager.invalidate
      assert.strictEqual(Redacted.value(yield* manager.accessToken), "mock-access-token-1")
      assert.strictEqual(yield* requestCount, 1)
    }).pipe(
      Effect.provide(managerWith([MockTokenEndpoint.ok()], TokenStore.layerMemory(freshTokens("stored-access", "r"))))
    )
  )

  it.effect("invalidateToken ignores a token that is no longer current", () =>
    Effect.gen(function* () {
      const manager = yield* TokenManager.TokenManager
      yield* manager.invalidateToken(Redacted.make("some-older-token"))
      assert.strictEqual(Redacted.value(yield* manager.accessToken), "stored-access")
      assert.strictEqual(yield* requestCount, 0)
    }).pipe(Effect.provide(managerWith([], TokenStore.layerMemory(freshTokens("stored-access", "r")))))
  )
})

describe("TokenManager with tokens shorter-lived than the leeway", () => {
  it.effect("the leeway shrinks to half the lifetime, so there is no refresh on every call", () =>
    Effect.gen(function* () {
      yield* accessToken
      assert.strictEqual(yield* requestCount, 1)
      yield* TestClock.adjust("14 seconds")
      yield* Effect.all(Array.from({ length: 10 }, () => accessToken))
      assert.strictEqual(yield* requestCount, 1)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(Redacted.value(yield* accessToken), "mock-access-token-2")
      assert.strictEqual(yield* requestCount, 2)
    }).pipe(Effect.provide(seeded([MockTokenEndpoint.ok({ expiresIn: 30 }), MockTokenEndpoint.ok({ expiresIn: 30 })])))
  )
})
