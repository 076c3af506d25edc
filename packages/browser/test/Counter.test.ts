import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import type { Page } from "playwright-core"
import { bundle, serveStatic } from "../examples/serve.js"
import { hasChromium, launch } from "./chromium.js"

const here = Path.dirname(fileURLToPath(import.meta.url))

describe.skipIf(!hasChromium)("a locked read-modify-write across tabs", () => {
  for (const store of ["localStorage", "indexedDb"] as const) {
    it.live(
      `${store}: 4 tabs × 50 locked increments of one session: 200, no update lost`,
      () =>
        Effect.gen(function* () {
          const script = yield* bundle(Path.join(here, "pages", "counter.ts"))
          const site = yield* serveStatic((path) =>
            path === "/"
              ? {
                  type: "text/html",
                  body: '<!doctype html><body><script type="module" src="/counter.js"></script></body>'
                }
              : path === "/counter.js"
                ? { type: "text/javascript", body: script.code }
                : undefined
          )
          const browser = yield* launch
          const context = yield* Effect.promise(() => browser.newContext())
          const name = `counter-${store}-${Date.now()}`
          const pages: Array<Page> = []
          for (let index = 0; index < 4; index++) {
            const page = yield* Effect.promise(() => context.newPage())
            yield* Effect.promise(() => page.goto(`${site}/`))
            yield* Effect.promise(() => page.waitForSelector("body[data-ready]", { state: "attached" }))
            yield* Effect.promise(() => page.evaluate(([k, n]) => window.counter.start(k, n), [store, name] as const))
            pages.push(page)
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
