import * as MultiProcess from "@token-refresher/testing/MultiProcess"
import { Effect } from "effect"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

export const bin = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../dist/token-refresher.mjs")

/** Starts the built CLI with exactly `env` (plus PATH); it is killed with the scope, and after `timeoutMs` anyway. */
export const start = (args: ReadonlyArray<string>, env: Record<string, string>, timeoutMs = 15_000) =>
  MultiProcess.spawnNode({ args: [bin, ...args], env, timeoutMs })

/** Runs the built CLI to its end. */
export const run = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.scoped(Effect.flatMap(start(args, env), (child) => child.result))
