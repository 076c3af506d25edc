import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { assert, describe, it } from "@effect/vitest"
import { TokenSet, TokenStore } from "@token-refresher/core"
import { SqlTokenStore } from "@token-refresher/sql"
import * as TokenStoreContract from "@token-refresher/testing/TokenStoreContract"
import { PgClient } from "@effect/sql-pg"
import { Duration, Effect, Layer, Option, Redacted } from "effect"
import { fixture, runScript } from "./child.js"
import { buildIn, pgLayer, pgUrl, sqliteLayer } from "./servers.js"

const holder =
  (dialect: "sqlite" | "pg", where: string, table = "token_refresher_sessions") =>
  (key: string, hold: Duration.DurationInput) =>
    Effect.map(
      runScript(fixture("hold-lock.ts"), [
        dialect,
        where,
        key,
        String(Duration.toMillis(Duration.decode(hold))),
        table
      ]),
      (child) => ({ locked: Effect.asVoid(child.waitFor(/locked/)), kill: Effect.asVoid(child.kill) })
    )

let tables = 0
const key = Redacted.make("q8a6VxQ1aY3cQ2qkE7n7sJm2b0u5sWZ0nC1m9P4yF6g=")

const sqliteSetup = Effect.gen(function* () {
  const fs = yield* FileSystem.FileSystem
  const filename = `${yield* fs.makeTempDirectoryScoped({ prefix: "token-store-sqlite-" })}/tokens.db`
  const backing: TokenStoreContract.Backing = {
    // each instance has its own connection, as another process would
    store: ({ lockTimeout }) =>
      Effect.flatMap(buildIn(sqliteLayer(filename)), (client) =>
        SqlTokenStore.make({ lockTimeout, lockLease: "2 seconds" }).pipe(Effect.provide(client), Effect.orDie)
      ),
    holdInOtherProcess: holder("sqlite", filename),
    freedAfterDeathWithin: "2 seconds"
  }
  return backing
}).pipe(Effect.provide(NodeFileSystem.layer), Effect.orDie)

TokenStoreContract.suite("SQLite (SqlTokenStore on @effect/sql-sqlite-node, lease 2 s)", { setup: sqliteSetup })
TokenStoreContract.suite("SQLite, encrypted", { setup: TokenStoreContract.encrypted(sqliteSetup, key) })

describe("SqlTokenStore on SQLite: the raw rows", () => {
  it.scoped("encrypted rows hold no token; a row copied to another key fails to decrypt", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const filename = `${yield* fs.makeTempDirectoryScoped({ prefix: "token-store-raw-" })}/tokens.db`
      const client = yield* buildIn(sqliteLayer(filename))
      const sql = yield* Effect.provide(SqlClient.SqlClient, client)
      const plain = yield* Effect.orDie(Effect.provide(SqlTokenStore.make(), client))
      const store = yield* Effect.orDie(TokenStore.makeEncrypted(plain, key))
      yield* store.set("alice", TokenSet.fromRefreshToken("SENTINEL-REFRESH"))
      const rows = yield* sql<{ key: string; tokens: string; version: number }>`SELECT * FROM token_refresher_sessions`
      assert.deepStrictEqual(
        rows.map((r) => [r.key, r.version]),
        [["alice", 1]]
      )
      assert.notInclude(rows[0]!.tokens, "SENTINEL")
      yield* sql`INSERT INTO token_refresher_sessions (key, tokens, version, updated_at) SELECT 'mallory', tokens, 1, 0 FROM token_refresher_sessions WHERE key = 'alice'`
      assert.strictEqual((yield* Effect.flip(store.get("mallory"))).reason, "Corrupt")
      yield* store.set("alice", TokenSet.fromRefreshToken("SENTINEL-2"))
      const [again] = yield* sql<{ version: number }>`SELECT version FROM token_refresher_sessions WHERE key = 'alice'`
      assert.strictEqual(again!.version, 2)
      const bad = yield* Effect.flip(Effect.provide(SqlTokenStore.make({ table: "x; DROP TABLE y" }), client))
      assert.include(String(bad), "table")
    }).pipe(Effect.provide(NodeFileSystem.layer), Effect.orDie)
  )
})

describe.skipIf(pgUrl === undefined)("PostgreSQL", () => {
  const pgSetup = Effect.sync(() => {
    const table = `contract_${process.pid}_${tables++}`
    const backing: TokenStoreContract.Backing = {
      store: ({ lockTimeout }) =>
        Effect.flatMap(buildIn(pgLayer(pgUrl!)), (client) =>
          SqlTokenStore.make({ table, lockTimeout }).pipe(Effect.provide(client), Effect.orDie)
        ),
      holdInOtherProcess: holder("pg", pgUrl!, table),
      // the database ends the lock with its holder's connection
      freedAfterDeathWithin: 0
    }
    return backing
  })
  TokenStoreContract.suite("PostgreSQL (SqlTokenStore on @effect/sql-pg, advisory lock)", { setup: pgSetup })
  TokenStoreContract.suite("PostgreSQL, encrypted", { setup: TokenStoreContract.encrypted(pgSetup, key) })
})

describe.skipIf(pgUrl === undefined)("SqlTokenStore on PostgreSQL: a small pool", () => {
  it.scopedLive(
    "10 sessions refreshing at once on a pool of 2 connections: the holders' reads and writes use the lock's connection",
    () =>
      Effect.gen(function* () {
        const client = yield* buildIn(Layer.orDie(PgClient.layer({ url: Redacted.make(pgUrl!), maxConnections: 2 })))
        const store = yield* Effect.orDie(
          Effect.provide(SqlTokenStore.make({ table: `pool_${process.pid}`, lockTimeout: "20 seconds" }), client)
        )
        const keys = Array.from({ length: 10 }, (_, i) => `user-${i}`)
        const done = yield* Effect.forEach(
          keys,
          (key) =>
            store.withLock(key)(
              Effect.gen(function* () {
                yield* store.get(key)
                yield* Effect.sleep("100 millis")
                yield* store.set(key, TokenSet.fromRefreshToken(`refresh-${key}`))
                return key
              })
            ),
          { concurrency: "unbounded" }
        ).pipe(Effect.timeout("15 seconds"))
        assert.deepStrictEqual(done, keys)
        for (const key of keys) {
          const stored = yield* store.get(key)
          assert.strictEqual(
            Redacted.value(Option.getOrThrow(Option.getOrThrow(stored).refreshToken)),
            `refresh-${key}`
          )
        }
      })
  )
})
