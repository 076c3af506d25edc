// The published `token-refresher` bin is one bundled file: Node then reads one module instead of several hundred, and
// `token-refresher token` with a cached token starts in under half a second (about 1 s unbundled on a small machine).
// It bundles the compiled `dist/bin.js` (run `tsc -b` first); the package's dependencies stay declared for tooling.
import * as esbuild from "esbuild"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")

await esbuild.build({
  entryPoints: [Path.join(root, "dist", "bin.js")],
  outfile: Path.join(root, "dist", "token-refresher.mjs"),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  logLevel: "warning",
  // CommonJS dependencies (proper-lockfile) call require: give the ES module one
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);"
  }
})
