import { assert, describe, it } from "@effect/vitest"
import { TokenRefresher } from "@token-refresher/core"
import { MockTokenEndpoint } from "@token-refresher/testing"
import { Effect, Fiber, TestClock } from "effect"
import { recordingTracer, refresherWith, savedRefreshToken } from "./utils.js"

/** Runs `effect` with a tracer that records the spans it creates, and returns the refresh span's attributes. */
const refreshSpan = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const { spans, tracer } = yield* recordingTracer
    const fiber = yield* Effect.fork(Effect.exit(Effect.withTracer(effect, tracer)))
    yield* TestClock.adjust("1 minute")
    yield* Fiber.join(fiber)
    const span = spans.find((s) => s.name === "TokenRefresher.refresh")
    assert.isDefined(span)
    return Object.fromEntries(span!.attributes)
  })

describe("TokenRefresher: the refresh span", () => {
  it.effect("records host, auth method, attempts and a success", () =>
    Effect.gen(function* () {
      const attributes = yield* refreshSpan(TokenRefresher.refresh(savedRefreshToken))
      assert.deepStrictEqual(attributes, {
        "token_refresher.host": "accounts.spotify.com",
        "token_refresher.auth_method": "client_secret_basic",
        "token_refresher.attempts": 2,
        "token_refresher.outcome": "success"
      })
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.serverError(503), MockTokenEndpoint.ok()])))
  )

  it.effect("records the error tag as the outcome of a failure", () =>
    Effect.gen(function* () {
      const attributes = yield* refreshSpan(TokenRefresher.refresh(savedRefreshToken))
      assert.strictEqual(attributes["token_refresher.outcome"], "InvalidGrant")
      assert.strictEqual(attributes["token_refresher.attempts"], 1)
      assert.strictEqual(attributes["token_refresher.auth_method"], "client_secret_post")
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.invalidGrant()], { authMethod: "client_secret_post" })))
  )
})
