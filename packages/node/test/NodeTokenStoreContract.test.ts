import { FileSystem, Path } from "@effect/platform"
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { NodeTokenStore } from "@token-refresher/node"
import * as TokenStoreContract from "@token-refresher/testing/TokenStoreContract"
import { Duration, Effect, Layer } from "effect"
import { fixture, runScript } from "./child.js"

const NodeFs = Layer.merge(NodeFileSystem.layer, NodePath.layer)

/** What the file format keeps for a stored string: JSON object text as that object, any other string as a string. */
const embedded = (value: string): unknown => {
  try {
    const json: unknown = JSON.parse(value)
    return typeof json === "object" && json !== null && !Array.isArray(json) ? json : value
  } catch {
    return value
  }
}

TokenStoreContract.suite("file (NodeTokenStore.layerFile, lease 2 s)", {
  setup: Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* fs.makeTempDirectoryScoped({ prefix: "token-store-contract-" })
    const file = path.join(dir, "tokens.json")
    const backing: TokenStoreContract.Backing = {
      store: ({ lockTimeout }) =>
        NodeTokenStore.makeFile(file, { lockTimeout, lockLease: "2 seconds" }).pipe(Effect.provide(NodeFs)),
      holdInOtherProcess: (key, hold) =>
        Effect.map(
          runScript(fixture("hold-lock.ts"), [file, key, String(Duration.toMillis(Duration.decode(hold)))]),
          (child) => ({
            locked: Effect.asVoid(child.waitFor(/locked/)),
            kill: Effect.asVoid(child.kill)
          })
        ),
      // as a foreign tool would: edit the JSON and write it back in place, without the store's lock or its temporary file
      writeRaw: (key, value) =>
        Effect.gen(function* () {
          const text = (yield* fs.exists(file)) ? yield* fs.readFileString(file) : "{}"
          const sessions = JSON.parse(text) as Record<string, unknown>
          sessions[key] = embedded(value)
          yield* fs.writeFileString(file, JSON.stringify(sessions, null, 2), { mode: 0o600 })
        }).pipe(Effect.orDie),
      freedAfterDeathWithin: "2 seconds"
    }
    return backing
  }).pipe(Effect.provide(NodeFs), Effect.orDie)
})
