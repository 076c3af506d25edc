import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Session, TokenSet } from "@token-refresher/core"
import { SqlTokenStore } from "@token-refresher/sql"
import { FakeAuthorizationServer } from "@token-refresher/testing/node"
import { Effect, Option } from "effect"
import { fixture, runScript } from "./child.js"
import { buildIn, pgUrl, sqliteLayer, pgLayer } from "./servers.js"

/**
 * 30 sessions whose last refresh is two days old, on a rotating server that revokes the family of a reused token,
 * and three replicas, each with a SessionKeeper that sweeps every second: each session is refreshed exactly once.
 */
const threeKeepers = (dialect: "sqlite" | "pg", where: string, table: string) =>
  Effect.gen(function* () {
    const server = yield* FakeAuthorizationServer.make({ rotate: true, revokeFamilyOnReuse: true })
    const client = yield* buildIn(dialect === "pg" ? pgLayer(where) : sqliteLayer(where))
    const store = yield* SqlTokenStore.make({ table }).pipe(Effect.provide(client), Effect.orDie)
    const now = Date.now()
    const keys = Array.from({ length: 30 }, (_, i) => `user-${String(i).padStart(2, "0")}`)
    for (const key of keys) {
      const issued = yield* server.issueTokens()
      yield* Effect.orDie(
        store.set(
          key,
          Session.active(
            TokenSet.make({
              accessToken: issued.accessToken,
              refreshToken: issued.refreshToken,
              issuedAt: now - 2 * 86_400_000,
              expiresAt: now + 3_600_000
            })
          )
        )
      )
    }
    // and 5 recent sessions whose refresh token ends in 3 days: each reported once, by one of the three
    for (let i = 0; i < 5; i++) {
      const issued = yield* server.issueTokens()
      yield* Effect.orDie(
        store.set(
          `ending-${i}`,
          Session.active(
            TokenSet.make({
              accessToken: issued.accessToken,
              refreshToken: issued.refreshToken,
              issuedAt: now - 60_000,
              expiresAt: now + 3_600_000,
              refreshTokenExpiresAt: now + 3 * 86_400_000
            })
          )
        )
      )
    }
    const replicas = yield* Effect.all(
      Array.from({ length: 3 }, () =>
        runScript(fixture("keeper-worker.ts"), [server.url, dialect, where, table, "7000"])
      )
    )
    const results = yield* Effect.all(
      replicas.map((replica) => replica.result),
      { concurrency: "unbounded" }
    )
    const reports = results.map((result) => {
      assert.strictEqual(result.code, 0, result.stderr)
      return JSON.parse(result.stdout.trim().split("\n").at(-1)!) as {
        readonly keptAlive: number
        readonly ending: number
      }
    })
    const kept = reports.map((report) => report.keptAlive)
    // each ending refresh token reported once across the three, whatever the rounds
    assert.strictEqual(
      reports.reduce((sum, report) => sum + report.ending, 0),
      5
    )
    const stats = yield* server.stats
    console.log(
      `three keepers on ${dialect}: kept alive ${kept.join(" / ")}; ${stats.refreshesServed} refreshes served`
    )
    // each session exactly once, by whichever replica swept first; no refresh token sent twice
    assert.strictEqual(stats.refreshesServed, 30)
    assert.strictEqual(stats.refreshesRejected, 0)
    assert.strictEqual(stats.familiesRevoked, 0)
    assert.strictEqual(
      kept.reduce((a, b) => a + b, 0),
      30
    )
    // one replica swept the round that found them due
    assert.deepStrictEqual(
      [...kept].sort((a, b) => a - b),
      [0, 0, 30]
    )
    for (const key of keys) {
      const stored = Option.getOrThrow(yield* Effect.orDie(store.get(key)))
      assert.isTrue(stored._tag === "Active" && stored.tokens.issuedAt.epochMillis >= now)
    }
  })

describe("SessionKeeper across processes", () => {
  it.scopedLive(
    "three replicas on one SQLite file, 30 idle sessions: each refreshed exactly once, by one replica, no reuse; 5 ending ones reported once",
    () =>
      Effect.gen(function* () {
        const fs = yield* FileSystem.FileSystem
        const filename = `${yield* fs.makeTempDirectoryScoped({ prefix: "token-keeper-" })}/tokens.db`
        yield* threeKeepers("sqlite", filename, "token_refresher_sessions")
      }).pipe(Effect.provide(NodeFileSystem.layer)),
    90_000
  )

  it.scopedLive.skipIf(pgUrl === undefined)(
    "three replicas on one PostgreSQL database, 30 idle sessions: each refreshed exactly once, by one replica, no reuse; 5 ending ones reported once",
    () => threeKeepers("pg", pgUrl!, `keeper_${process.pid}`),
    90_000
  )
})
