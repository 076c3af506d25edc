import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import type { SqlClient, SqlError } from "@effect/sql"
import { Effect, Layer, Redacted } from "effect"

/**
 * Where the PostgreSQL server of the tests is: `TOKEN_REFRESHER_PG_URL` (`source scripts/test-servers.sh` sets it).
 * Without it the PostgreSQL tests are skipped with one line saying so, except in CI (`CI` set to 1 or true), where that is an
 * error: CI must run them.
 */
export const pgUrl: string | undefined = process.env.TOKEN_REFRESHER_PG_URL || undefined

if (pgUrl === undefined) {
  if (["1", "true"].includes(process.env.CI ?? "")) {
    throw new Error("CI is set but TOKEN_REFRESHER_PG_URL is not set: .ci/run must start PostgreSQL")
  }
  console.warn(
    "PostgreSQL tests skipped: no TOKEN_REFRESHER_PG_URL. Run `source scripts/test-servers.sh` first to run them."
  )
}

export const pgLayer = (url: string): Layer.Layer<SqlClient.SqlClient, SqlError.SqlError> =>
  PgClient.layer({ url: Redacted.make(url), maxConnections: 4 })

export const sqliteLayer = (filename: string): Layer.Layer<SqlClient.SqlClient> =>
  Layer.orDie(SqliteClient.layer({ filename }))

/** Builds a client layer in the current scope, so the client lives as long as the test, not one effect. */
export const buildIn = <A, E>(layer: Layer.Layer<A, E>) => Effect.orDie(Layer.build(layer))
