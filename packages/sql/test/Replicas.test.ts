import { SqlClient } from "@effect/sql"
import { assert, describe, it } from "@effect/vitest"
import { Session, TokenStore } from "@token-refresher/core"
import { SqlTokenStore } from "@token-refresher/sql"
import { FakeAuthorizationServer } from "@token-refresher/testing/node"
import * as MultiProcess from "@token-refresher/testing/MultiProcess"
import { Effect, Option, Redacted, Schedule } from "effect"
import { fixture, runScript } from "./child.js"
import { buildIn, pgLayer, pgUrl } from "./servers.js"

const encryptionKey = "q8a6VxQ1aY3cQ2qkE7n7sJm2b0u5sWZ0nC1m9P4yF6g="

/** A rotating fake server that revokes the family on reuse, and a PostgreSQL table seeded with an expired session. */
const setup = (options: FakeAuthorizationServer.Options, table: string) =>
  Effect.gen(function* () {
    const server = yield* FakeAuthorizationServer.make({ rotate: true, revokeFamilyOnReuse: true, ...options })
    const client = yield* buildIn(pgLayer(pgUrl!))
    const store = yield* SqlTokenStore.make({ table }).pipe(
      TokenStore.withEncryption(Redacted.make(encryptionKey)),
      Effect.provide(client),
      Effect.orDie
    )
    const issued = yield* server.issueTokens()
    yield* Effect.orDie(store.set(TokenStore.defaultKey, Session.seeded(issued.refreshToken)))
    const sql = SqlClient.SqlClient.pipe(Effect.provide(client))
    return { server, store, sql, seed: Redacted.value(issued.refreshToken) }
  })

const replica = (table: string, server: FakeAuthorizationServer.Service, millis: number, callers: number, env = {}) =>
  runScript(
    fixture("worker.ts"),
    [
      // a leeway of half the 2 s lifetime: 8 busy processes on 2 cores can lag by hundreds of milliseconds
      ...MultiProcess.workerArgs({ accountsUrl: server.url, millis, callers, leeway: 1000 }),
      "pg",
      pgUrl!,
      table,
      encryptionKey
    ],
    env
  )

describe.skipIf(pgUrl === undefined)("replicas on one PostgreSQL database (encrypted store)", () => {
  it.scopedLive(
    "8 processes × 50 callers for 20 s, 2 s tokens, rotation with family revocation: no invalid_grant, one refresh per expiry",
    () =>
      Effect.gen(function* () {
        const table = `replicas_${process.pid}`
        const lifetime = 2000
        const leeway = 1000
        const { server, store, sql, seed } = yield* setup({ accessTokenLifetime: `${lifetime} millis` }, table)
        // the processes load at their own speed on 2 cores; they all start calling once the last one is ready
        yield* MultiProcess.runTogether({
          processes: 8,
          spawn: (env) => replica(table, server, 20_000, 50, env),
          server,
          lifetime,
          leeway,
          minCalls: 2000
        })
        // the rows hold no token: the raw table is read straight from PostgreSQL
        const rows = yield* Effect.flatMap(sql, (s) => s<{ readonly tokens: string }>`SELECT tokens FROM ${s(table)}`)
        assert.strictEqual(rows.length, 1)
        assert.notInclude(rows[0]!.tokens, "fake-access-")
        assert.notInclude(rows[0]!.tokens, "fake-refresh-")
        const last = Option.getOrThrow(yield* Effect.orDie(store.get(TokenStore.defaultKey)))
        assert.strictEqual(last._tag, "Active")
        const lastRefreshToken = Redacted.value(Option.getOrThrow(Session.refreshToken(last)))
        assert.isTrue(lastRefreshToken.startsWith("fake-refresh-"))
        // rotated: the seed was used once, and every refresh since brought a new one
        assert.notStrictEqual(lastRefreshToken, seed)
        assert.isTrue(rows[0]!.tokens.startsWith("token-refresher:aes-256-gcm:v1:"))
      }),
    120_000
  )

  it.scopedLive(
    "a replica killed (SIGKILL) mid-refresh: another goes on at once, and the chain does not break",
    () =>
      Effect.gen(function* () {
        const table = `killed_${process.pid}`
        const { server, sql } = yield* setup({ tokenDelay: "5 seconds" }, table)
        const doomed = yield* replica(table, server, 1, 1)
        // wait until its refresh request is with the slow server, holding the advisory lock
        yield* Effect.flatMap(sql, (s) =>
          s<{ readonly n: number }>`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'`.pipe(
            Effect.repeat({ until: (rows) => rows[0]!.n > 0, schedule: Schedule.spaced("20 millis") }),
            Effect.orDie
          )
        )
        yield* Effect.sleep("500 millis")
        assert.strictEqual((yield* doomed.kill).signal, "SIGKILL")
        // no lease to wait for: PostgreSQL ends the advisory lock with the dead connection (polled, bounded)
        const locks = yield* Effect.flatMap(sql, (s) =>
          s<{ readonly n: number }>`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'`.pipe(
            Effect.tap((rows) => (rows[0]!.n === 0 ? Effect.void : Effect.sleep("20 millis"))),
            Effect.repeat({ until: (rows) => rows[0]!.n === 0, times: 500 }),
            Effect.orDie
          )
        )
        assert.strictEqual(locks[0]!.n, 0)
        yield* server.setTokenDelay(0)
        const next = yield* replica(table, server, 1, 1)
        const result = yield* next.result
        assert.strictEqual(result.code, 0, result.stderr)
        const summary = MultiProcess.summaryOf(result)
        assert.deepStrictEqual(summary.errors, {})
        assert.strictEqual(summary.accepted, summary.calls)
        const stats = yield* server.stats
        assert.strictEqual(stats.refreshesRejected, 0)
        assert.strictEqual(stats.refreshesServed, 1)
      }),
    60_000
  )
})
