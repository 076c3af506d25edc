import { assert, describe, it } from "@effect/vitest"
import { TokenRefresher } from "@token-refresher/core"
import { NodeTokenRefresher } from "@token-refresher/node"
import { Config, ConfigProvider, Effect, Layer, Redacted } from "effect"
import { sendJson, testServer } from "./server.js"

describe("the README's generic-provider example", () => {
  it.live("layerConfig mixes plain values and Config, and refreshes over real HTTP", () =>
    Effect.gen(function* () {
      const server = yield* testServer((_, response) =>
        sendJson(response, 200, { access_token: "a", token_type: "Bearer", expires_in: 60 })
      )
      const Refresher = NodeTokenRefresher.layerConfig({
        tokenUrl: `${server.url}/oauth/token`,
        clientId: Config.string("CLIENT_ID"),
        clientSecret: Config.redacted("CLIENT_SECRET"),
        authMethod: "client_secret_post",
        timeout: "5 seconds",
        retry: { maxRetries: 5, maxRetryAfter: "2 minutes" }
      })
      const env = ConfigProvider.fromMap(
        new Map([
          ["CLIENT_ID", "id"],
          ["CLIENT_SECRET", "secret"]
        ])
      )
      yield* TokenRefresher.refresh(Redacted.make("saved"), { scope: ["read"] }).pipe(
        Effect.provide(Refresher.pipe(Layer.provide(Layer.setConfigProvider(env))))
      )
      assert.strictEqual(
        server.received[0]!.body,
        "grant_type=refresh_token&refresh_token=saved&scope=read&client_id=id&client_secret=secret"
      )
    }).pipe(Effect.scoped)
  )
})
