/**
 * The size of the example page's bundle (core, browser, and the Effect modules they pull in), minified and gzipped,
 * as the README reports it: `pnpm --filter @token-refresher/browser size`.
 */
import * as Effect from "effect/Effect"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as Zlib from "node:zlib"
import { bundle } from "../examples/serve.js"

const app = Path.join(Path.dirname(fileURLToPath(import.meta.url)), "..", "examples", "app.ts")

Effect.runPromise(
  Effect.gen(function* () {
    const { code, inputs } = yield* bundle(app, { minify: true })
    const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`
    const sum = (some: ReadonlyArray<{ readonly bytes: number }>) =>
      some.reduce((total, input) => total + input.bytes, 0)
    const bytes = Buffer.byteLength(code)
    const gzipped = Zlib.gzipSync(code, { level: 9 }).length
    const share = (test: (path: string) => boolean) => kb(sum(inputs.filter((input) => test(input.path))))
    console.log(`example app (examples/app.ts): ${kb(bytes)} minified, ${kb(gzipped)} gzipped`)
    console.log(
      `minified, by package: effect ${share((path) => /node_modules\/effect\//.test(path))}, ` +
        `@effect/platform ${share((path) => path.includes("node_modules/@effect/platform/"))}, ` +
        `token-refresher ${share((path) => !path.includes("node_modules/"))}, ` +
        `other ${share((path) => !/node_modules\/(effect|@effect\/platform)\//.test(path) && path.includes("node_modules/"))}`
    )
    const node = inputs
      .map((input) => input.path)
      .filter((path) => path.startsWith("node:") || path.includes("(disabled)"))
    if (node.length > 0) {
      console.error(`Node modules in the browser bundle: ${node.join(", ")}`)
      process.exitCode = 1
    }
  })
)
