import { FileSystem, Path } from "@effect/platform"
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { NodeTokenStore } from "@token-refresher/node"
import * as TokenStoreContract from "@token-refresher/testing/TokenStoreContract"
import { Duration, Effect, Layer } from "effect"
import { fixture, runScript } from "./child.js"

const NodeFs = Layer.merge(NodeFileSystem.layer, NodePath.layer)

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
      freedAfterDeathWithin: "2 seconds"
    }
    return backing
  }).pipe(Effect.provide(NodeFs), Effect.orDie)
})
