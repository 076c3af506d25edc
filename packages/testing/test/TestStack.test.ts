import { assert, describe, it } from "@effect/vitest"
import { TokenManager } from "@token-refresher/core"
import { MockTokenEndpoint, TestStack } from "@token-refresher/testing"
import { Effect, Option, Redacted, TestClock } from "effect"

describe("TestStack", () => {
  it("tokens: test defaults, any field overridden", () => {
    const tokens = TestStack.tokens({ accessToken: "a1" })
    assert.strictEqual(Redacted.value(tokens.accessToken), "a1")
    assert.strictEqual(Option.getOrUndefined(Option.map(tokens.refreshToken, Redacted.value)), "refresh")
    assert.strictEqual(tokens.expiresAt.epochMillis, 3_600_000)
    assert.strictEqual(tokens.issuedAt.epochMillis, 0)
  })

  it.effect("manager: the stored token while valid, a refresh through the mock after", () =>
    Effect.gen(function* () {
      const manager = yield* TokenManager.TokenManager
      assert.strictEqual(Redacted.value(yield* manager.accessToken), "access")
      yield* TestClock.adjust("1 hour")
      assert.strictEqual(Redacted.value(yield* manager.accessToken), "mock-access-token-1")
      const [request] = yield* Effect.flatMap(MockTokenEndpoint.MockTokenEndpoint, (mock) => mock.requests)
      assert.deepStrictEqual(request!.form, { grant_type: "refresh_token", refresh_token: "refresh" })
      assert.strictEqual(request!.url, TestStack.refresherOptions.tokenUrl)
    }).pipe(Effect.provide(TestStack.manager([MockTokenEndpoint.ok()], TestStack.tokens())))
  )
})
