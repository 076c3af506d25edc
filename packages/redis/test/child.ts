import * as MultiProcess from "@token-refresher/testing/MultiProcess"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

export const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../../..")

export const fixture = (name: string) => Path.join(root, "packages", "redis", "test", "fixtures", name)

/** A fixture of this package in a new Node process (from source), killed with the scope. */
export const runScript = (script: string, args: ReadonlyArray<string>, env?: Record<string, string>) =>
  MultiProcess.runScript({ script, args, env, cwd: root })
