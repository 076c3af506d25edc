import { assert, it } from "@effect/vitest"
import { Session, TokenManager, TokenStore } from "@token-refresher/core"
import { NodeTokenRefresher } from "@token-refresher/node"
import { FakeAuthorizationServer } from "@token-refresher/testing/node"
import { Effect, Layer, Redacted, TestClock } from "effect"

// The README's example ("Testing your code"): token expiry through the fake server, driven by TestClock.
it.effect("an hour on the TestClock: the token expires at the server and the manager refreshes it once", () =>
  Effect.gen(function* () {
    const server = yield* FakeAuthorizationServer.make() // its clock is this test's TestClock
    const { refreshToken } = yield* server.issueTokens()
    const Manager = TokenManager.layer().pipe(
      Layer.provide(NodeTokenRefresher.layer(FakeAuthorizationServer.confidentialOptions(server.url))),
      Layer.provide(TokenStore.layerMemory(Session.seeded(refreshToken)))
    )
    const me = (token: Redacted.Redacted<string>) =>
      Effect.promise(() =>
        fetch(`${server.apiUrl}/me`, { headers: { authorization: `Bearer ${Redacted.value(token)}` } })
      ).pipe(Effect.map((response) => response.status))

    yield* Effect.gen(function* () {
      const manager = yield* TokenManager.TokenManager
      const first = yield* manager.accessToken // the seed is refreshed: the token lives an hour
      yield* TestClock.adjust("58 minutes")
      assert.strictEqual(yield* manager.accessToken, first) // still fresh: no request
      assert.strictEqual(yield* me(first), 200)

      yield* TestClock.adjust("3 minutes")
      assert.strictEqual(yield* me(first), 401) // the server's clock moved too
      const second = yield* manager.accessToken // expired: one refresh
      assert.notStrictEqual(Redacted.value(second), Redacted.value(first))
      assert.strictEqual(yield* me(second), 200)
      assert.strictEqual((yield* server.stats).refreshesServed, 2)
    }).pipe(Effect.provide(Manager))
  }).pipe(Effect.scoped)
)
