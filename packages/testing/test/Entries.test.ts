import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as esbuild from "esbuild"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const src = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../src")

/** Bundles `entry` for a browser: any Node built-in it reaches is an error. */
const bundleForBrowser = (entry: string) =>
  esbuild.build({
    entryPoints: [Path.join(src, entry)],
    bundle: true,
    platform: "browser",
    format: "esm",
    write: false,
    logLevel: "silent",
    conditions: ["@token-refresher/source"]
  })

describe("the package's entry points", () => {
  it.effect("the main entry (MockTokenEndpoint) bundles for a browser: it reaches no Node built-in", () =>
    Effect.promise(async () => {
      const result = await bundleForBrowser("index.ts")
      assert.deepStrictEqual(result.errors, [])
    })
  )

  it.effect("the /node entry does reach Node built-ins (the control for the test above)", () =>
    Effect.promise(async () => {
      const error = await bundleForBrowser("node.ts").then(
        () => undefined,
        (e: esbuild.BuildFailure) => e
      )
      assert.isDefined(error)
      assert.isTrue(error!.errors.some((e) => /node:http|node:crypto|node:child_process/.test(e.text)))
    })
  )
})
