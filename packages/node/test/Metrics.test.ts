import { Metrics, Resource } from "@effect/opentelemetry"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Session, TokenRefresher, TokenSessions, TokenStore } from "@token-refresher/core"
import { FakeAuthorizationServer } from "@token-refresher/testing/node"
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus"
import { Effect, Layer } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

/** The README's export: Effect's metrics through `@effect/opentelemetry` to a Prometheus exporter, scraped over HTTP. */
describe("metrics, exported to Prometheus", () => {
  it.live(
    "a scrape finds the refreshes by outcome, the histograms and the live sessions, tagged with the provider",
    () =>
      Effect.gen(function* () {
        const exporter = new PrometheusExporter({ preventServerStart: true })
        const endpoint = yield* Effect.acquireRelease(
          Effect.async<Http.Server>((resume) => {
            const server = Http.createServer((request, response) =>
              exporter.getMetricsRequestHandler(request, response)
            )
            server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
          }),
          (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
        )
        const scrapeUrl = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/metrics`
        const MetricsLive = Metrics.layer(() => exporter).pipe(
          Layer.provide(Resource.layer({ serviceName: "token-refresher-test" }))
        )
        const server = yield* FakeAuthorizationServer.make({ rotate: true })
        const store = yield* TokenStore.makeMemory([
          ["alice", Session.seeded((yield* server.issueTokens()).refreshToken)],
          ["bob", Session.seeded((yield* server.issueTokens()).refreshToken)],
          ["carol", Session.seeded("a-token-the-server-never-issued")]
        ])
        const Sessions = TokenSessions.layer().pipe(
          Layer.provide(Layer.succeed(TokenStore.TokenStore, store)),
          Layer.provide(
            TokenRefresher.layer(FakeAuthorizationServer.confidentialOptions(server.url)).pipe(
              Layer.provide(NodeHttpClient.layerUndici)
            )
          )
        )
        yield* Effect.gen(function* () {
          yield* TokenSessions.accessToken("alice")
          yield* TokenSessions.accessToken("bob")
          yield* Effect.flip(TokenSessions.accessToken("carol"))
          const scraped = yield* Effect.promise(() => fetch(scrapeUrl).then((response) => response.text()))
          const lines = scraped.split("\n")
          /** The value of the sample `name` whose labels include `labels` (the exporter adds its scope's). */
          const sample = (name: string, labels: Record<string, string>) => {
            const found = lines.find(
              (l) =>
                l.startsWith(`${name}{`) &&
                Object.entries(labels).every(([label, value]) => l.includes(`${label}="${value}"`))
            )
            return found?.slice(found.lastIndexOf(" ") + 1)
          }
          // the provider's name is the token URL's host here
          const provider = new URL(server.tokenUrl).host
          console.log(lines.filter((l) => l.startsWith("token_refresher_") && !l.includes("_bucket")).join("\n"))
          assert.deepStrictEqual(
            {
              ok: sample("token_refresher_refreshes_total", { provider, outcome: "ok" }),
              invalidGrant: sample("token_refresher_refreshes_total", { provider, outcome: "invalid_grant" }),
              refreshDurations: sample("token_refresher_refresh_duration_seconds_count", { provider }),
              lockWaits: sample("token_refresher_lock_wait_seconds_count", { provider }),
              live: sample("token_refresher_sessions_live", {})
            },
            { ok: "2", invalidGrant: "1", refreshDurations: "3", lockWaits: "3", live: "3" }
          )
          // no token in a scrape
          assert.notInclude(scraped, "fake-access-")
          assert.notInclude(scraped, "fake-refresh-")
        }).pipe(Effect.provide(Layer.merge(Sessions, MetricsLive)))
      }).pipe(Effect.scoped)
  )
})
