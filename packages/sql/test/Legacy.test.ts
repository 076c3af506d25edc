// The rows that 0.3 wrote (packages/core/test/fixtures/v0.3, see its README.md) are read as the sessions they held,
// and take the new form at their next write.
import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { assert, describe, it } from "@effect/vitest"
import { Session, TokenSet, TokenStore } from "@token-refresher/core"
import { SqlTokenStore } from "@token-refresher/sql"
import { DateTime, Effect, Layer, Option, Redacted, Schema } from "effect"
import type { Scope } from "effect"
import * as Path from "node:path"
import { root } from "./child.js"
import { buildIn, pgLayer, pgUrl, sqliteLayer } from "./servers.js"

const fixtures = Path.join(root, "packages", "core", "test", "fixtures", "v0.3")

/** The key the encrypted fixtures were sealed with (the fixtures' README). */
const fixtureKey = Redacted.make("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")

const epoch = DateTime.unsafeMake(0)

/** The sessions of every fixture, as this version reads them. */
const expected: ReadonlyArray<readonly [string, Session.Session]> = [
  [
    "alice",
    Session.active(
      new TokenSet.TokenSet({
        accessToken: Redacted.make("alice-access"),
        refreshToken: Option.some(Redacted.make("alice-refresh")),
        tokenType: "Bearer",
        expiresAt: DateTime.unsafeMake("2030-01-01T00:00:00.000Z"),
        scope: ["a", "b"],
        issuedAt: DateTime.unsafeMake("2029-12-31T23:00:00.000Z"),
        authorizedAt: Option.some(DateTime.unsafeMake("2029-06-01T00:00:00.000Z")),
        refreshTokenExpiresAt: Option.some(DateTime.unsafeMake("2030-06-01T00:00:00.000Z"))
      })
    )
  ],
  // 0.3's seed (`TokenSet.fromRefreshToken`): no access token, so never used; when it was seeded is unknown
  ["bob", new Session.Seeded({ refreshToken: Redacted.make("bob-refresh"), seededAt: epoch })],
  // stored without issuedAt: the codec gives the epoch
  [
    "carol",
    Session.active(
      new TokenSet.TokenSet({
        accessToken: Redacted.make("carol-access"),
        refreshToken: Option.none(),
        tokenType: "Bearer",
        expiresAt: DateTime.unsafeMake("2030-01-01T00:00:00.000Z"),
        scope: [],
        issuedAt: epoch,
        authorizedAt: Option.none(),
        refreshTokenExpiresAt: Option.none()
      })
    )
  ]
]

const encodeSession = Schema.encodeSync(Session.Session)
const sessionJson = Schema.encodeSync(Session.SessionFromJson)

/**
 * `Redacted` hides its value from a deep comparison, and `Equal` compares the `scope` arrays by reference: compare the
 * encoded forms (every field, tokens in clear) and the class.
 */
const assertSession = (actual: Option.Option<Session.Session>, session: Session.Session, label: string) => {
  assert.isTrue(Option.isSome(actual), `${label}: stored`)
  if (Option.isNone(actual)) return
  assert.deepStrictEqual(encodeSession(actual.value), encodeSession(session), label)
  assert.strictEqual(actual.value.constructor, session.constructor, label)
}

interface Row {
  readonly tokens: string
  readonly version: number
}

/** One table of 0.3's rows, and how to open stores on it (each a new client, as another process) and read it raw. */
interface Legacy {
  readonly store: (options: { readonly encrypted: boolean }) => Effect.Effect<TokenStore.Service, never, Scope.Scope>
  readonly row: (key: string) => Effect.Effect<Row>
}

const rowOf =
  (sql: SqlClient.SqlClient, table: string) =>
  (key: string): Effect.Effect<Row> =>
    sql<{ readonly tokens: string; readonly version: number | string }>`
      SELECT tokens, version FROM ${sql(table)} WHERE key = ${key}`.pipe(
      Effect.map((rows) => ({ tokens: rows[0]!.tokens, version: Number(rows[0]!.version) })),
      Effect.orDie
    )

const storeOn = (client: Layer.Layer<SqlClient.SqlClient>, table: string | undefined, encrypted: boolean) =>
  Effect.flatMap(buildIn(client), (context) =>
    SqlTokenStore.make(table === undefined ? undefined : { table }).pipe(
      (make) => (encrypted ? TokenStore.withEncryption(fixtureKey)(make) : make),
      Effect.provide(context),
      Effect.orDie
    )
  )

/** A copy of a SQLite fixture in a folder of its own (SQLite writes its -wal and -shm files beside it). */
const sqliteFixture = (name: string): Effect.Effect<Legacy, never, Scope.Scope> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const filename = Path.join(yield* fs.makeTempDirectoryScoped({ prefix: "token-store-legacy-" }), name)
    yield* fs.copyFile(Path.join(fixtures, name), filename)
    const sql = yield* Effect.provide(SqlClient.SqlClient, yield* buildIn(sqliteLayer(filename)))
    const legacy: Legacy = {
      // the default table, as 0.3 wrote it
      store: ({ encrypted }) => storeOn(sqliteLayer(filename), undefined, encrypted),
      row: rowOf(sql, "token_refresher_sessions")
    }
    return legacy
  }).pipe(Effect.provide(NodeFileSystem.layer), Effect.orDie)

const PgRows = Schema.Struct({
  table: Schema.String,
  rows: Schema.Array(
    Schema.Struct({ key: Schema.String, tokens: Schema.String, version: Schema.Number, updated_at: Schema.Number })
  )
})

let pgTables = 0

/** The rows of a PostgreSQL fixture in a new table, created as 0.3 created its own. */
const pgFixture = (name: string): Effect.Effect<Legacy, never, Scope.Scope> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const fixture = yield* Schema.decodeUnknown(Schema.parseJson(PgRows))(
      yield* fs.readFileString(Path.join(fixtures, name))
    )
    assert.strictEqual(fixture.rows.length, 3)
    const table = `legacy_${process.pid}_${pgTables++}`
    const sql = yield* Effect.provide(SqlClient.SqlClient, yield* buildIn(pgLayer(pgUrl!)))
    yield* sql`DROP TABLE IF EXISTS ${sql(table)}`
    yield* sql`CREATE TABLE ${sql(table)} (
      key TEXT PRIMARY KEY,
      tokens TEXT NOT NULL,
      version BIGINT NOT NULL,
      updated_at BIGINT NOT NULL
    )`
    yield* Effect.addFinalizer(() => Effect.ignore(sql`DROP TABLE IF EXISTS ${sql(table)}`))
    for (const row of fixture.rows) {
      yield* sql`INSERT INTO ${sql(table)} (key, tokens, version, updated_at)
        VALUES (${row.key}, ${row.tokens}, ${row.version}, ${row.updated_at})`
    }
    const legacy: Legacy = {
      store: ({ encrypted }) => storeOn(Layer.orDie(pgLayer(pgUrl!)), table, encrypted),
      row: rowOf(sql, table)
    }
    return legacy
  }).pipe(Effect.provide(NodeFileSystem.layer), Effect.orDie)

const envelopePrefix = "token-refresher:aes-256-gcm:v1:"

/** A store without the key reads nothing of a sealed session, and writes nothing over it. */
const assertRefusedWithoutKey = (legacy: Legacy, key: string) =>
  Effect.gen(function* () {
    const plain = yield* legacy.store({ encrypted: false })
    const before = yield* legacy.row(key)
    const read = yield* Effect.flip(plain.get(key))
    assert.strictEqual(read._tag, "TokenStoreError")
    assert.strictEqual(read.reason, "Encrypted")
    assert.strictEqual(read.location, plain.location)
    assert.strictEqual(read.detail, `session "${key}" is encrypted: provide TokenStore.encrypted with its key`)
    const write = yield* Effect.flip(plain.set(key, Session.seeded("in-clear", 0)))
    assert.strictEqual(write.reason, "Encrypted")
    assert.deepStrictEqual(yield* legacy.row(key), before)
  })

const check = (open: Effect.Effect<Legacy, never, Scope.Scope>, options: { readonly encrypted: boolean }) =>
  Effect.gen(function* () {
    const legacy = yield* open
    const store = yield* legacy.store(options)
    assert.deepStrictEqual(
      yield* store.keys(),
      expected.map(([key]) => key)
    )
    for (const [key, session] of expected) {
      const old = yield* legacy.row(key)
      // the row is 0.3's: a TokenSet's JSON, sealed or not
      assert.strictEqual(old.version, 1, key)
      assert.notInclude(old.tokens, `"_tag"`, key)
      assert.isFalse(old.tokens.startsWith(envelopePrefix), key)
      assert.include(old.tokens, `"tokenType":"${options.encrypted ? "token-refresher/aes-256-gcm.v1" : "Bearer"}"`)
      assertSession(yield* store.get(key), session, `${key} as 0.3 wrote it`)
    }
    if (options.encrypted) yield* assertRefusedWithoutKey(legacy, "alice")

    for (const [key, session] of expected) {
      yield* store.set(key, session)
      const row = yield* legacy.row(key)
      assert.strictEqual(row.version, 2, key)
      if (options.encrypted) {
        assert.isTrue(row.tokens.startsWith(envelopePrefix), `${key}: ${row.tokens.slice(0, 40)}`)
        // base64 of the IV, the ciphertext and its tag: no token, no date, no tag
        assert.match(row.tokens.slice(envelopePrefix.length), /^[A-Za-z0-9+/]{40,}=*$/, key)
      } else {
        assert.strictEqual(row.tokens, sessionJson(session), key)
        assert.strictEqual(JSON.parse(row.tokens)._tag, session._tag, key)
      }
      assertSession(yield* store.get(key), session, `${key} written again`)
    }
    // as another process reads them
    const other = yield* legacy.store(options)
    for (const [key, session] of expected) assertSession(yield* other.get(key), session, `${key} read by another`)
    if (options.encrypted) {
      for (const [key] of expected) yield* assertRefusedWithoutKey(legacy, key)
    }
  })

describe("the rows of 0.3 on SQLite", () => {
  it.scopedLive("sqlite.db: read as sessions, and written again as sessions", () =>
    check(sqliteFixture("sqlite.db"), { encrypted: false })
  )
  it.scopedLive("sqlite-encrypted.db: opened with the key, and sealed again in the new envelope", () =>
    check(sqliteFixture("sqlite-encrypted.db"), { encrypted: true })
  )
  it.scopedLive("sqlite-encrypted.db without the key: TokenStoreError Encrypted for every session", () =>
    Effect.gen(function* () {
      const legacy = yield* sqliteFixture("sqlite-encrypted.db")
      for (const [key] of expected) yield* assertRefusedWithoutKey(legacy, key)
    })
  )
})

describe.skipIf(pgUrl === undefined)("the rows of 0.3 on PostgreSQL", () => {
  it.scopedLive("postgres-rows.json: read as sessions, and written again as sessions", () =>
    check(pgFixture("postgres-rows.json"), { encrypted: false })
  )
  it.scopedLive("postgres-rows-encrypted.json: opened with the key, and sealed again in the new envelope", () =>
    check(pgFixture("postgres-rows-encrypted.json"), { encrypted: true })
  )
  it.scopedLive("postgres-rows-encrypted.json without the key: TokenStoreError Encrypted for every session", () =>
    Effect.gen(function* () {
      const legacy = yield* pgFixture("postgres-rows-encrypted.json")
      for (const [key] of expected) yield* assertRefusedWithoutKey(legacy, key)
    })
  )
})
