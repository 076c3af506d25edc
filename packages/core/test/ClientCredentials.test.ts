import { assert, describe, it } from "@effect/vitest"
import { Errors, TokenManager, TokenRefresher, TokenSessions, TokenStore } from "@token-refresher/core"
import { MockTokenEndpoint } from "@token-refresher/testing"
import { DateTime, Effect, Encoding, Fiber, Layer, Option, Redacted, TestClock } from "effect"
import {
  assertError,
  clientId,
  clientSecret,
  refresherWith,
  requestCount,
  requests,
  storedTokens,
  tokenUrl
} from "./utils.js"

const basic = `Basic ${Encoding.encodeBase64("client-id:client-secret")}`

const appManager = (replies: Iterable<MockTokenEndpoint.Reply>, options?: TokenManager.ClientCredentialsOptions) =>
  TokenManager.layerClientCredentials(options).pipe(
    Layer.provideMerge(TokenRefresher.layer({ tokenUrl, clientId, clientSecret })),
    Layer.provideMerge(MockTokenEndpoint.layer(replies)),
    Layer.orDie
  )

const accessToken = Effect.flatMap(TokenManager.TokenManager, (manager) => manager.accessToken)

describe("TokenRefresher.clientCredentials", () => {
  it.effect("client_secret_basic: grant_type and scope in the body, the client in the Basic header", () =>
    Effect.gen(function* () {
      const tokens = yield* TokenRefresher.clientCredentials({ scope: ["catalog:read", "search"] })
      const [request] = yield* requests
      assert.strictEqual(request!.method, "POST")
      assert.strictEqual(request!.url, tokenUrl)
      assert.deepStrictEqual(request!.form, { grant_type: "client_credentials", scope: "catalog:read search" })
      assert.strictEqual(request!.headers["authorization"], basic)
      assert.deepStrictEqual(Redacted.value(tokens.accessToken), "mock-access-token-1")
      assert.isTrue(Option.isNone(tokens.refreshToken))
      assert.deepStrictEqual(tokens.scope, ["catalog:read", "search"])
      assert.strictEqual(tokens.expiresAt.epochMillis, 3_600_000)
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.ok()])))
  )

  it.effect(
    "client_secret_post: the id and secret in the body, no Authorization header; no scope, no scope field",
    () =>
      Effect.gen(function* () {
        yield* TokenRefresher.clientCredentials()
        const [request] = yield* requests
        assert.deepStrictEqual(request!.form, {
          grant_type: "client_credentials",
          client_id: "client-id",
          client_secret: "client-secret"
        })
        assert.isUndefined(request!.headers["authorization"])
      }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.ok()], { authMethod: "client_secret_post" })))
  )

  it.effect("a refused client is InvalidClient, and nothing is retried", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(TokenRefresher.clientCredentials())
      assertError(error, new Errors.InvalidClient({ status: 400, description: "Invalid client secret" }))
      assert.strictEqual(yield* requestCount, 1)
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.invalidClient()])))
  )
})

describe("TokenManager.layerClientCredentials", () => {
  it.effect("gets a token on first use, keeps it, and gets a new one at expiresAt - leeway", () =>
    Effect.gen(function* () {
      assert.strictEqual(Redacted.value(yield* accessToken), "mock-access-token-1")
      assert.strictEqual(Redacted.value(yield* accessToken), "mock-access-token-1")
      assert.strictEqual(yield* requestCount, 1)
      yield* TestClock.adjust("3539 seconds") // 61 s before expiry
      assert.strictEqual(Redacted.value(yield* accessToken), "mock-access-token-1")
      yield* TestClock.adjust("2 seconds") // 59 s before expiry
      assert.strictEqual(Redacted.value(yield* accessToken), "mock-access-token-2")
      assert.strictEqual(yield* requestCount, 2)
      const [first, second] = yield* requests
      assert.deepStrictEqual(first!.form, { grant_type: "client_credentials", scope: "playlist-read" })
      assert.deepStrictEqual(second!.form, { grant_type: "client_credentials", scope: "playlist-read" })
    }).pipe(Effect.provide(appManager([MockTokenEndpoint.ok(), MockTokenEndpoint.ok()], { scope: ["playlist-read"] })))
  )

  it.effect("1,000 concurrent callers share one request", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(
        Effect.all(
          Array.from({ length: 1000 }, () => accessToken),
          { concurrency: 1000 }
        )
      )
      yield* TestClock.adjust("1 second")
      const tokens = yield* Fiber.join(fiber)
      assert.strictEqual(yield* requestCount, 1)
      assert.deepStrictEqual(new Set(tokens.map(Redacted.value)), new Set(["mock-access-token-1"]))
    }).pipe(Effect.provide(appManager([MockTokenEndpoint.delayed("100 millis", MockTokenEndpoint.ok())])))
  )

  it.effect("the token lives in the store under clientCredentialsKey(scope), with no refresh token", () =>
    Effect.gen(function* () {
      yield* accessToken
      const manager = yield* TokenManager.TokenManager
      assert.strictEqual(manager.key, "client_credentials:a b")
      const stored = yield* storedTokens("client_credentials:a b")
      assert.isTrue(Option.isNone(stored.refreshToken))
      assert.strictEqual(TokenManager.clientCredentialsKey(["b", "a", "b"]), "client_credentials:a b")
    }).pipe(
      Effect.provide(
        TokenManager.layerClientCredentialsStore({ scope: ["b", "a"] }).pipe(
          Layer.provideMerge(TokenStore.layerMemory()),
          Layer.provideMerge(TokenRefresher.layer({ tokenUrl, clientId, clientSecret })),
          Layer.provideMerge(MockTokenEndpoint.layer([MockTokenEndpoint.ok()])),
          Layer.orDie
        )
      )
    )
  )
})

describe("TokenSessions.clientCredentials", () => {
  const sessions = (replies: MockTokenEndpoint.Handler | Iterable<MockTokenEndpoint.Reply>) =>
    TokenSessions.layer().pipe(
      Layer.provideMerge(TokenStore.layerMemory()),
      Layer.provideMerge(TokenRefresher.layer({ tokenUrl, clientId, clientSecret })),
      Layer.provideMerge(MockTokenEndpoint.layer(replies)),
      Layer.orDie
    )

  it.effect("concurrent requests for different scopes never share a token; the same scopes share one", () =>
    Effect.gen(function* () {
      const service = yield* TokenSessions.TokenSessions
      const fiber = yield* Effect.fork(
        Effect.all(
          [
            service.clientCredentials({ scope: ["a"] }),
            service.clientCredentials({ scope: ["b"] }),
            service.clientCredentials({ scope: ["a"] }),
            service.clientCredentials({ scope: ["b"] })
          ],
          { concurrency: "unbounded" }
        )
      )
      yield* TestClock.adjust("1 second")
      const [a1, b1, a2, b2] = (yield* Fiber.join(fiber)).map(Redacted.value)
      assert.strictEqual(yield* requestCount, 2)
      const sent = (yield* requests).map((request) => request.form.scope).sort()
      assert.deepStrictEqual(sent, ["a", "b"])
      assert.strictEqual(a1, a2)
      assert.strictEqual(b1, b2)
      assert.notStrictEqual(a1, b1)
      // each token is the one asked for with its own scope
      const byScope = new Map(
        (yield* requests).map((request) => [request.form.scope, `mock-access-token-${request.index}`])
      )
      assert.strictEqual(a1, byScope.get("a"))
      assert.strictEqual(b1, byScope.get("b"))
    }).pipe(
      Effect.provide(
        sessions([
          MockTokenEndpoint.delayed("100 millis", MockTokenEndpoint.ok()),
          MockTokenEndpoint.delayed("100 millis", MockTokenEndpoint.ok())
        ])
      )
    )
  )
})

describe("TokenRefresher.exchangeCode", () => {
  it.effect("authorizedAt is the time of the exchange", () =>
    Effect.gen(function* () {
      yield* TestClock.adjust("5 seconds")
      const tokens = yield* Effect.flatMap(TokenRefresher.TokenRefresher, (refresher) =>
        refresher.exchangeCode({ code: Redacted.make("code"), redirectUri: "http://127.0.0.1:8888/callback" })
      )
      assert.deepStrictEqual(Option.getOrUndefined(tokens.authorizedAt), DateTime.unsafeMake(5000))
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.ok({ rotate: true })])))
  )
})
