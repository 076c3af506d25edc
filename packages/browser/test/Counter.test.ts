import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { hasChromium, openTabs } from "./chromium.js"

const here = Path.dirname(fileURLToPath(import.meta.url))

describe.skipIf(!hasChromium)("a locked read-modify-write across tabs", () => {
  for (const store of ["localStorage", "indexedDb"] as const) {
    it.live(
      `${store}: 4 tabs × 50 locked increments of one session: 200, no update lost`,
      () =>
        Effect.gen(function* () {
          const pages = yield* openTabs(Path.join(here, "pages", "counter.ts"), 4)
          const name = `counter-${store}-${Date.now()}`
          for (const page of pages) {
            yield* Effect.promise(() => page.evaluate(([k, n]) => window.counter.start(k, n), [store, name] as const))
          }
          const started = Date.now()
          yield* Effect.all(
            pages.map((page) => Effect.promise(() => page.evaluate(() => window.counter.increment("n", 50)))),
            { concurrency: "unbounded" }
          )
          const elapsed = Date.now() - started
          const counts = yield* Effect.all(
            pages.map((page) => Effect.promise(() => page.evaluate(() => window.counter.read("n"))))
          )
          console.log(`${store}: 200 increments in ${elapsed} ms; each tab reads ${counts.join(", ")}`)
          assert.deepStrictEqual(counts, [200, 200, 200, 200])
        }).pipe(Effect.scoped),
      60_000
    )
  }
})
