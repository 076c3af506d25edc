import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { SqlTokenStore } from "@token-refresher/sql"
import { Effect, Logger, LogLevel } from "effect"
import * as Fs from "node:fs"
import { buildIn, sqliteLayer } from "./servers.js"

/** The store opened on `filename`, and the warnings it logged at start. */
const openLogging = (filename: string) =>
  Effect.gen(function* () {
    const logs: Array<string> = []
    const logger = Logger.make(({ logLevel, message }) => logs.push(`${logLevel.label} ${String(message)}`))
    const client = yield* buildIn(sqliteLayer(filename))
    yield* SqlTokenStore.make().pipe(
      Effect.provide(client),
      Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
      Logger.withMinimumLogLevel(LogLevel.All),
      Effect.orDie
    )
    return logs
  })

describe("SqlTokenStore on SQLite: the database file's mode", () => {
  it.scoped("a database file that others may read (0644) is reported with one warning naming the fix", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const filename = `${yield* fs.makeTempDirectoryScoped({ prefix: "token-store-mode-" })}/tokens.db`
      Fs.writeFileSync(filename, "", { mode: 0o644 })
      Fs.chmodSync(filename, 0o644)
      assert.deepStrictEqual(yield* openLogging(filename), [
        `WARN SQLite database ${filename} may be read by other users (mode 0644): run chmod 600 ${filename}`
      ])
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )

  it.scoped("the README's way: a file created 0600 before SQLite opens it is an empty database, and no warning", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const filename = `${yield* fs.makeTempDirectoryScoped({ prefix: "token-store-mode-" })}/tokens.db`
      // as in the README
      Fs.closeSync(Fs.openSync(filename, "a", 0o600))
      assert.deepStrictEqual(yield* openLogging(filename), [])
      assert.strictEqual(Fs.statSync(filename).mode & 0o777, 0o600)
      // SQLite made its tables in it
      assert.isAbove(Fs.statSync(filename).size, 0)
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )

  it.scoped("a database in memory is not reported", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* openLogging(":memory:"), [])
    })
  )
})
