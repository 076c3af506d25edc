import { execFileSync } from "node:child_process"
import { createRequire } from "node:module"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

/**
 * The end-to-end tests run the built CLI as a child process: build first (incremental, so cheap when nothing changed),
 * which keeps `pnpm test` working on a fresh clone with no build step before it.
 */
export default function setup() {
  const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../../..")
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
  execFileSync(process.execPath, [tsc, "-b", Path.join(root, "tsconfig.build.json")], { stdio: "inherit", cwd: root })
  // the bin users run: one bundled file
  execFileSync(process.execPath, [Path.join(root, "packages/cli/scripts/bundle.mjs")], { stdio: "inherit", cwd: root })
}
