import { assert, it } from "@effect/vitest"
import { TokenRefresher } from "@token-refresher/core"
import { MockTokenEndpoint } from "@token-refresher/testing"
import { Effect, Fiber, Layer, Redacted, TestClock } from "effect"

const tokenUrl = "https://accounts.example.com/token"
const clientId = "client-id"

// the README's "Testing your code" example, as it is written there
const Test = TokenRefresher.layer({ tokenUrl, clientId }).pipe(
  Layer.provideMerge(
    MockTokenEndpoint.layer([MockTokenEndpoint.serverError(503), MockTokenEndpoint.ok({ rotate: true })])
  )
)

it.effect("retries", () =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(TokenRefresher.refresh(Redacted.make("r")))
    yield* TestClock.adjust("1 second")
    yield* Fiber.join(fiber)
    const mock = yield* MockTokenEndpoint.MockTokenEndpoint
    assert.strictEqual(yield* mock.count, 2)
  }).pipe(Effect.provide(Test))
)
