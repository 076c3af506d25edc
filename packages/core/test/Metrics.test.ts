import { assert, describe, it } from "@effect/vitest"
import { Session, TokenRefresher, TokenSessions, TokenStore } from "@token-refresher/core"
import { MockTokenEndpoint } from "@token-refresher/testing"
import { Effect, Layer, Metric } from "effect"
import * as Metrics from "../src/internal/metrics.js"
import { clientId, clientSecret } from "./utils.js"

// a provider name of its own (the token URL's host), so that no other test's refreshes count here
const provider = "metrics-test.example"

const counter = (outcome: string) =>
  Metric.value(Metrics.refreshes.pipe(Metric.tagged("provider", provider), Metric.tagged("outcome", outcome))).pipe(
    Effect.map((state) => state.count)
  )

describe("metrics", () => {
  it.effect("refreshes by outcome, the refresh and lock-wait histograms, and the live sessions", () =>
    Effect.gen(function* () {
      const sessions = yield* TokenSessions.TokenSessions
      yield* sessions.accessToken("ok")
      yield* Effect.flip(sessions.accessToken("refused"))
      yield* Effect.flip(sessions.accessToken("down"))
      yield* Effect.flip(sessions.accessToken("client"))
      const counts = yield* Effect.all({
        ok: counter("ok"),
        invalid_grant: counter("invalid_grant"),
        network: counter("network"),
        client: counter("client"),
        adopted: counter("adopted")
      })
      assert.deepStrictEqual(counts, { ok: 1, invalid_grant: 1, network: 1, client: 1, adopted: 0 })
      const durations = yield* Metric.value(Metrics.refreshDuration.pipe(Metric.tagged("provider", provider)))
      assert.strictEqual(durations.count, 4)
      const waits = yield* Metric.value(Metrics.lockWait.pipe(Metric.tagged("provider", provider)))
      assert.strictEqual(waits.count, 4)
      const live = yield* Metric.value(Metrics.sessionsLive)
      assert.isAtLeast(live.value, 1)
    }).pipe(
      Effect.provide(
        TokenSessions.layer().pipe(
          Layer.provideMerge(
            TokenStore.layerMemory(
              ["ok", "refused", "down", "client"].map((key) => [key, Session.seeded(`r-${key}`)] as const)
            )
          ),
          Layer.provideMerge(
            TokenRefresher.layer({
              tokenUrl: `https://${provider}/token`,
              clientId,
              clientSecret,
              retry: { maxRetries: 0 }
            })
          ),
          Layer.provideMerge(
            MockTokenEndpoint.layer([
              MockTokenEndpoint.ok(),
              MockTokenEndpoint.invalidGrant(),
              MockTokenEndpoint.serverError(503),
              MockTokenEndpoint.invalidClient()
            ])
          ),
          Layer.orDie
        )
      )
    )
  )
})
