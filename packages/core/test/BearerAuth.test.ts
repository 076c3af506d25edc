import { HttpClient, HttpClientError } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { BearerAuth, Errors, TokenManager, TokenRefresher, TokenSet, TokenStore } from "@token-refresher/core"
import { MockTokenEndpoint } from "@token-refresher/testing"
import { DateTime, Effect, Layer, Option, Redacted } from "effect"
import { assertError, clientId, clientSecret, storedTokens, tokenUrl } from "./utils.js"

const apiUrl = "https://api.example.com/v1/me"

const valid = (accessToken: string) =>
  new TokenSet.TokenSet({
    accessToken: Redacted.make(accessToken),
    refreshToken: Option.some(Redacted.make("stored-refresh")),
    tokenType: "Bearer",
    expiresAt: DateTime.unsafeMake(3600_000),
    scope: [],
    issuedAt: DateTime.unsafeMake(0)
  })

/**
 * One mock serves both the token endpoint and the API: the API answers 200 for the accepted tokens and 401 for any
 * other (or always 401 when `alwaysUnauthorized`).
 */
const stack = (options: { readonly accepted: ReadonlyArray<string>; readonly alwaysUnauthorized?: boolean }) => {
  let refreshes = 0
  const endpoint = MockTokenEndpoint.layer((request) => {
    if (request.url === tokenUrl) {
      refreshes++
      return MockTokenEndpoint.ok({ accessToken: `refreshed-${refreshes}`, rotate: true })
    }
    const token = request.headers.authorization?.replace(/^Bearer /, "") ?? ""
    return options.alwaysUnauthorized !== true && options.accepted.includes(token)
      ? MockTokenEndpoint.json({ id: "user-1" })
      : MockTokenEndpoint.json({ error: { status: 401, message: "The access token expired" } }, { status: 401 })
  })
  return TokenManager.layer().pipe(
    Layer.provideMerge(TokenStore.layerMemory(valid("old-access"))),
    Layer.provideMerge(TokenRefresher.layer({ tokenUrl, clientId, clientSecret })),
    Layer.provideMerge(endpoint),
    Layer.orDie
  )
}

const split = Effect.map(
  Effect.flatMap(MockTokenEndpoint.MockTokenEndpoint, (mock) => mock.requests),
  (all) => ({
    token: all.filter((r) => r.url === tokenUrl),
    api: all.filter((r) => r.url === apiUrl)
  })
)

const authenticated = Effect.flatMap(HttpClient.HttpClient, BearerAuth.make)

describe("BearerAuth", () => {
  it.effect("sends the manager's access token as a Bearer header", () =>
    Effect.gen(function* () {
      const client = yield* authenticated
      const response = yield* client.get(apiUrl)
      assert.strictEqual(response.status, 200)
      const { api, token } = yield* split
      assert.strictEqual(api[0]!.headers.authorization, "Bearer old-access")
      assert.strictEqual(token.length, 0)
    }).pipe(Effect.provide(stack({ accepted: ["old-access"] })))
  )

  it.effect("401 then 200: one refresh and two requests, the second with the new token", () =>
    Effect.gen(function* () {
      const client = yield* authenticated
      const response = yield* client.get(apiUrl)
      assert.strictEqual(response.status, 200)
      const { api, token } = yield* split
      assert.strictEqual(token.length, 1)
      assert.deepStrictEqual(
        api.map((r) => r.headers.authorization),
        ["Bearer old-access", "Bearer refreshed-1"]
      )
      assert.strictEqual(
        Redacted.value(Option.getOrThrow((yield* storedTokens()).refreshToken)),
        "mock-refresh-token-2" // the mock numbers tokens by request: the API call was request 1
      )
    }).pipe(Effect.provide(stack({ accepted: ["refreshed-1"] })))
  )

  it.effect("a second 401 is returned to the caller, after exactly one refresh", () =>
    Effect.gen(function* () {
      const client = yield* authenticated
      const response = yield* client.get(apiUrl)
      assert.strictEqual(response.status, 401)
      const { api, token } = yield* split
      assert.strictEqual(token.length, 1)
      assert.strictEqual(api.length, 2)
    }).pipe(Effect.provide(stack({ accepted: [], alwaysUnauthorized: true })))
  )

  it.effect("100 concurrent requests that all get 401 cause one refresh", () =>
    Effect.gen(function* () {
      const client = yield* authenticated
      const responses = yield* Effect.all(
        Array.from({ length: 100 }, () => client.get(apiUrl)),
        { concurrency: "unbounded" }
      )
      assert.isTrue(responses.every((response) => response.status === 200))
      const { api, token } = yield* split
      assert.strictEqual(token.length, 1)
      assert.strictEqual(api.filter((r) => r.headers.authorization === "Bearer old-access").length, 100)
      assert.strictEqual(api.filter((r) => r.headers.authorization === "Bearer refreshed-1").length, 100)
    }).pipe(Effect.provide(stack({ accepted: ["refreshed-1"] })))
  )

  it.effect("token failures stay typed with make", () =>
    Effect.gen(function* () {
      const client = yield* authenticated
      const error = yield* Effect.flip(client.get(apiUrl))
      assertError(error as Errors.NoToken, new Errors.NoToken({}))
    }).pipe(
      Effect.provide(
        TokenManager.layer().pipe(
          Layer.provideMerge(TokenStore.layerMemory()),
          Layer.provideMerge(TokenRefresher.layer({ tokenUrl, clientId, clientSecret })),
          Layer.provideMerge(MockTokenEndpoint.layer([])),
          Layer.orDie
        )
      )
    )
  )

  it.effect("layer replaces the HttpClient in context; a token failure is a RequestError that gives it back", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(HttpClient.get(apiUrl))
      assert.isTrue(HttpClientError.isHttpClientError(error))
      assert.strictEqual(error._tag, "RequestError")
      assert.match(error.message, /no access token: No tokens are stored yet/)
      const cause = BearerAuth.tokenError(error)
      assertError(Option.getOrThrow(cause), new Errors.NoToken({}))
    }).pipe(
      Effect.provide(
        BearerAuth.layer.pipe(
          Layer.provideMerge(TokenManager.layer()),
          Layer.provideMerge(TokenStore.layerMemory()),
          Layer.provideMerge(TokenRefresher.layer({ tokenUrl, clientId, clientSecret })),
          Layer.provide(MockTokenEndpoint.layer([])),
          Layer.orDie
        )
      )
    )
  )

  it.effect("layer: requests through the context client carry the token", () =>
    Effect.gen(function* () {
      const response = yield* HttpClient.get(apiUrl)
      assert.strictEqual(response.status, 200)
    }).pipe(
      Effect.provide(
        BearerAuth.layer.pipe(
          Layer.provideMerge(TokenManager.layer()),
          Layer.provideMerge(TokenStore.layerMemory(valid("old-access"))),
          Layer.provideMerge(TokenRefresher.layer({ tokenUrl, clientId, clientSecret })),
          Layer.provide(
            MockTokenEndpoint.layer((request) =>
              request.headers.authorization === "Bearer old-access"
                ? MockTokenEndpoint.json({ id: "u" })
                : MockTokenEndpoint.text("", { status: 401 })
            )
          ),
          Layer.orDie
        )
      )
    )
  )
})
