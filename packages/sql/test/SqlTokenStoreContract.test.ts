import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { SqlClient, Statement } from "@effect/sql"
import { assert, describe, it } from "@effect/vitest"
import { Session, TokenSet, TokenStore } from "@token-refresher/core"
import { SqlTokenStore } from "@token-refresher/sql"
import * as TokenStoreContract from "@token-refresher/testing/TokenStoreContract"
import { PgClient } from "@effect/sql-pg"
import { Context, Duration, Effect, Layer, Option, Redacted } from "effect"
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

/** What a foreign tool would do: an upsert of the raw string into the store's table. */
const writeRawWith =
  (sql: SqlClient.SqlClient, table: string) =>
  (key: string, value: string): Effect.Effect<void> =>
    sql`INSERT INTO ${sql(table)} (key, tokens, version, updated_at) VALUES (${key}, ${value}, 1, 0)
      ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, version = ${sql(table)}.version + 1`.pipe(
      Effect.asVoid,
      Effect.orDie
    )

let tables = 0
const key = Redacted.make("q8a6VxQ1aY3cQ2qkE7n7sJm2b0u5sWZ0nC1m9P4yF6g=")

const tokens = (refreshToken: string) =>
  TokenSet.make({ accessToken: `access-${refreshToken}`, refreshToken, expiresAt: "2030-01-01T00:00:00.000Z" })

const sqliteSetup = Effect.gen(function* () {
  const fs = yield* FileSystem.FileSystem
  const filename = `${yield* fs.makeTempDirectoryScoped({ prefix: "token-store-sqlite-" })}/tokens.db`
  const raw = yield* Effect.provide(SqlClient.SqlClient, yield* buildIn(sqliteLayer(filename)))
  const backing: TokenStoreContract.Backing = {
    // each instance has its own connection, as another process would
    store: ({ lockTimeout }) =>
      Effect.flatMap(buildIn(sqliteLayer(filename)), (client) =>
        SqlTokenStore.make({ lockTimeout, lockLease: "2 seconds" }).pipe(Effect.provide(client), Effect.orDie)
      ),
    writeRaw: writeRawWith(raw, "token_refresher_sessions"),
    holdInOtherProcess: holder("sqlite", filename),
    freedAfterDeathWithin: "2 seconds"
  }
  return backing
}).pipe(Effect.provide(NodeFileSystem.layer), Effect.orDie)

TokenStoreContract.suite("SQLite (SqlTokenStore on @effect/sql-sqlite-node, lease 2 s)", { setup: sqliteSetup })
// every store of this backing has a key: the encryption cases, which need one without, run on the plain backing
TokenStoreContract.suite("SQLite, encrypted", {
  setup: TokenStoreContract.encrypted(sqliteSetup, key),
  encryptionCases: false
})

/** The statements `self` runs, compiled (SQL text and parameters), in order. */
const statementsOf = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const statements: Array<readonly [string, ReadonlyArray<unknown>]> = []
    const result = yield* Statement.withTransformer(self, (statement) =>
      Effect.sync(() => {
        statements.push(statement.compile(true))
        return statement
      })
    )
    return { result, statements }
  })

/** Keys that JavaScript orders the same way as UTF-8 bytes, with `%`, `_` and a key that goes on with U+10FFFF. */
const awkwardKeys = [
  "a%",
  "a%b",
  "a_",
  "a_b",
  "ab",
  "a\u{10ffff}",
  "a\u{10ffff}z",
  "b",
  "é",
  "ü:1",
  "ü:2",
  "\u{10ffff}"
]

/** Sealed rows hold no token, a row copied to another key does not open, and every write bumps the version. */
const sealedRows = (client: Context.Context<SqlClient.SqlClient>, table: string) =>
  Effect.gen(function* () {
    const sql = yield* Effect.provide(SqlClient.SqlClient, client)
    const store = yield* Effect.orDie(
      Effect.provide(SqlTokenStore.make({ table }).pipe(TokenStore.withEncryption(key)), client)
    )
    yield* store.set("alice", Session.seeded("SENTINEL-REFRESH", "2029-01-01T00:00:00.000Z"))
    const rows = yield* sql<{ key: string; tokens: string; version: number | string }>`SELECT * FROM ${sql(table)}`
    assert.deepStrictEqual(
      rows.map((r) => [r.key, Number(r.version)]),
      [["alice", 1]]
    )
    assert.isTrue(rows[0]!.tokens.startsWith("token-refresher:aes-256-gcm:v1:"))
    assert.notInclude(rows[0]!.tokens, "SENTINEL")
    yield* sql`INSERT INTO ${sql(table)} (key, tokens, version, updated_at)
      SELECT 'mallory', tokens, 1, 0 FROM ${sql(table)} WHERE key = 'alice'`
    const moved = yield* Effect.flip(store.get("mallory"))
    assert.strictEqual(moved.reason, "Corrupt")
    assert.strictEqual(
      moved.detail,
      `session "mallory" cannot be decrypted: a wrong key, a tampered value, or a value moved from another session`
    )
    yield* store.set("alice", Session.active(tokens("SENTINEL-2")))
    const [again] = yield* sql<{ version: number | string }>`SELECT version FROM ${sql(table)} WHERE key = 'alice'`
    assert.strictEqual(Number(again!.version), 2)
    const bad = yield* Effect.flip(Effect.provide(SqlTokenStore.make({ table: "x; DROP TABLE y" }), client))
    assert.strictEqual(bad._tag, "ConfigError")
    assert.include(String(bad), "table")
  }).pipe(Effect.orDie)

describe("SqlTokenStore on SQLite", () => {
  it.scoped("encrypted rows hold no token; a row copied to another key fails to decrypt", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const filename = `${yield* fs.makeTempDirectoryScoped({ prefix: "token-store-raw-" })}/tokens.db`
      yield* sealedRows(yield* buildIn(sqliteLayer(filename)), "token_refresher_sessions")
    }).pipe(Effect.provide(NodeFileSystem.layer), Effect.orDie)
  )

  it.scoped("keys: byte order from the primary key, a prefix as a range (no wildcards), limit bounded", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const filename = `${yield* fs.makeTempDirectoryScoped({ prefix: "token-store-keys-" })}/tokens.db`
      const client = yield* buildIn(sqliteLayer(filename))
      const sql = yield* Effect.provide(SqlClient.SqlClient, client)
      const store = yield* Effect.orDie(Effect.provide(SqlTokenStore.make(), client))
      for (const key of [...awkwardKeys].reverse()) yield* store.set(key, Session.seeded(`r-${key}`, 0))
      assert.deepStrictEqual(yield* store.keys(), [...awkwardKeys].sort())
      assert.deepStrictEqual(yield* store.keys({ prefix: "a%" }), ["a%", "a%b"])
      assert.deepStrictEqual(yield* store.keys({ prefix: "a_" }), ["a_", "a_b"])
      assert.deepStrictEqual(yield* store.keys({ prefix: "a\u{10ffff}" }), ["a\u{10ffff}", "a\u{10ffff}z"])
      assert.deepStrictEqual(yield* store.keys({ prefix: "\u{10ffff}" }), ["\u{10ffff}"])
      assert.deepStrictEqual(yield* store.keys({ prefix: "ü:", after: "ü:1" }), ["ü:2"])
      assert.deepStrictEqual(yield* store.keys({ prefix: "a", after: "a_b", limit: 2 }), ["ab", "a\u{10ffff}"])
      assert.deepStrictEqual(yield* store.keys({ limit: 0 }), [])

      // the index is read in order: no sort, no scan of the whole table
      const { statements } = yield* statementsOf(store.keys({ prefix: "a", after: "a%", limit: 3 }))
      assert.strictEqual(statements.length, 1)
      const [text, params] = statements[0]!
      const plan = yield* sql.unsafe<{ detail: string }>(`EXPLAIN QUERY PLAN ${text}`, params)
      assert.deepStrictEqual(
        plan.map((row) => row.detail),
        [
          "SEARCH token_refresher_sessions USING COVERING INDEX sqlite_autoindex_token_refresher_sessions_1 (key>? AND key<?)"
        ]
      )

      // at most maxKeysPerPage per call, also by default
      yield* sql`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10005)
        INSERT INTO token_refresher_sessions (key, tokens, version, updated_at)
        SELECT printf('bulk:%05d', i), '{}', 1, 0 FROM n`
      assert.strictEqual(SqlTokenStore.maxKeysPerPage, 10_000)
      const all = yield* store.keys({ prefix: "bulk:" })
      assert.strictEqual(all.length, 10_000)
      assert.strictEqual(all[9_999], "bulk:10000")
      assert.strictEqual((yield* store.keys({ prefix: "bulk:", limit: 50_000 })).length, 10_000)
      assert.deepStrictEqual(yield* store.keys({ prefix: "bulk:", after: "bulk:10000" }), [
        "bulk:10001",
        "bulk:10002",
        "bulk:10003",
        "bulk:10004",
        "bulk:10005"
      ])
    }).pipe(Effect.provide(NodeFileSystem.layer), Effect.orDie)
  )
})

describe.skipIf(pgUrl === undefined)("PostgreSQL", () => {
  const pgSetup = Effect.gen(function* () {
    const table = `contract_${process.pid}_${tables++}`
    const raw = yield* Effect.provide(SqlClient.SqlClient, yield* buildIn(pgLayer(pgUrl!)))
    const backing: TokenStoreContract.Backing = {
      store: ({ lockTimeout }) =>
        Effect.flatMap(buildIn(pgLayer(pgUrl!)), (client) =>
          SqlTokenStore.make({ table, lockTimeout }).pipe(Effect.provide(client), Effect.orDie)
        ),
      writeRaw: writeRawWith(raw, table),
      holdInOtherProcess: holder("pg", pgUrl!, table),
      // the database ends the lock with its holder's connection
      freedAfterDeathWithin: 0
    }
    return backing
  })
  TokenStoreContract.suite("PostgreSQL (SqlTokenStore on @effect/sql-pg, advisory lock)", { setup: pgSetup })
  TokenStoreContract.suite("PostgreSQL, encrypted", {
    setup: TokenStoreContract.encrypted(pgSetup, key),
    encryptionCases: false
  })
})

describe.skipIf(pgUrl === undefined)("SqlTokenStore on PostgreSQL", () => {
  it.scopedLive("encrypted rows hold no token; a row copied to another key fails to decrypt", () =>
    Effect.gen(function* () {
      const table = `sealed_${process.pid}`
      const client = yield* buildIn(pgLayer(pgUrl!))
      const sql = yield* Effect.provide(SqlClient.SqlClient, client)
      yield* Effect.orDie(sql`DROP TABLE IF EXISTS ${sql(table)}`)
      yield* Effect.addFinalizer(() => Effect.ignore(sql`DROP TABLE IF EXISTS ${sql(table)}`))
      yield* sealedRows(client, table)
    })
  )

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
                yield* store.set(key, Session.active(tokens(`refresh-${key}`)))
                return key
              })
            ),
          { concurrency: "unbounded" }
        ).pipe(Effect.timeout("15 seconds"))
        assert.deepStrictEqual(done, keys)
        for (const key of keys) {
          const stored = Option.getOrThrow(yield* store.get(key))
          assert.deepStrictEqual(
            Option.map(Session.refreshToken(stored), Redacted.value),
            Option.some(`refresh-${key}`)
          )
        }
      })
  )

  it.scopedLive(
    "keys: code point order from an index of its own, whatever the database's collation; a prefix as a range",
    () =>
      Effect.gen(function* () {
        const table = `keys_${process.pid}`
        const client = yield* buildIn(pgLayer(pgUrl!))
        const sql = yield* Effect.provide(SqlClient.SqlClient, client)
        // a table as 0.3 created it, on a database with a linguistic collation (ICU's root one here, which orders "a"
        // before "B"): the store adds its index, and pages in code point order all the same
        yield* sql`DROP TABLE IF EXISTS ${sql(table)}`
        yield* sql`CREATE TABLE ${sql(table)} (
          key TEXT COLLATE "und-x-icu" PRIMARY KEY,
          tokens TEXT NOT NULL,
          version BIGINT NOT NULL,
          updated_at BIGINT NOT NULL
        )`
        yield* Effect.addFinalizer(() => Effect.ignore(sql`DROP TABLE IF EXISTS ${sql(table)}`))
        const store = yield* Effect.orDie(Effect.provide(SqlTokenStore.make({ table }), client))
        const keys = [...awkwardKeys, "B", "a", "Z"]
        for (const key of [...keys].reverse()) yield* store.set(key, Session.seeded(`r-${key}`, 0))
        // JavaScript's order, which is code point order for these
        assert.deepStrictEqual(yield* store.keys(), [...keys].sort())
        assert.deepStrictEqual((yield* store.keys()).slice(0, 4), ["B", "Z", "a", "a%"])
        assert.deepStrictEqual(yield* store.keys({ prefix: "a%" }), ["a%", "a%b"])
        assert.deepStrictEqual(yield* store.keys({ prefix: "a_" }), ["a_", "a_b"])
        assert.deepStrictEqual(yield* store.keys({ prefix: "a\u{10ffff}" }), ["a\u{10ffff}", "a\u{10ffff}z"])
        assert.deepStrictEqual(yield* store.keys({ prefix: "\u{10ffff}" }), ["\u{10ffff}"])
        assert.deepStrictEqual(yield* store.keys({ prefix: "ü:", after: "ü:1" }), ["ü:2"])
        assert.deepStrictEqual(yield* store.keys({ after: "Z", limit: 2 }), ["a", "a%"])
        assert.deepStrictEqual(yield* store.keys({ prefix: "a", after: "a_b", limit: 2 }), ["ab", "a\u{10ffff}"])

        // the plan reads the "C" index in order: no sort
        const { statements } = yield* statementsOf(store.keys({ prefix: "a", after: "a%", limit: 3 }))
        assert.strictEqual(statements.length, 1)
        const [text, params] = statements[0]!
        const plan = yield* sql.withTransaction(
          Effect.zipRight(
            // whatever the table's size: a plan that cannot read the index in order keeps its Sort
            Effect.all([
              sql`SET LOCAL enable_seqscan = off`,
              sql`SET LOCAL enable_bitmapscan = off`,
              sql`SET LOCAL enable_sort = off`
            ]),
            sql.unsafe<{ "QUERY PLAN": string }>(`EXPLAIN ${text}`, params)
          )
        )
        const lines = plan.map((row) => row["QUERY PLAN"])
        assert.match(
          lines.join("\n"),
          new RegExp(`Index (Only )?Scan using ${table}_key_c on ${table}`),
          lines.join("\n")
        )
        assert.notMatch(lines.join("\n"), /Sort/, lines.join("\n"))
      })
  )
})
