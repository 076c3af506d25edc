import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { describe } from "@effect/vitest"
import { SqlTokenStore } from "@token-refresher/sql"
import * as TokenStoreContract from "@token-refresher/testing/TokenStoreContract"
import { Duration, Effect } from "effect"
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

TokenStoreContract.suite("SQLite (SqlTokenStore on @effect/sql-sqlite-node, lease 2 s)", {
  setup: Effect.gen(function* () {
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
})

describe.skipIf(pgUrl === undefined)("PostgreSQL", () => {
  TokenStoreContract.suite("PostgreSQL (SqlTokenStore on @effect/sql-pg, advisory lock)", {
    setup: Effect.sync(() => {
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
  })
})
