import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { type Browser, chromium, type Page } from "playwright-core"
import { bundle, serveStatic } from "../examples/serve.js"
import { chromiumArgs, chromiumPath } from "./chromiumFlags.js"

/**
 * Whether Debian's Chromium is here (`apt-get install chromium`; `scripts/test-servers.sh` installs it). Without it the
 * Chromium tests are skipped with one line saying so, except in CI (`CI` set to 1 or true), where that is an error.
 */
export const hasChromium: boolean = Fs.existsSync(chromiumPath)

if (!hasChromium) {
  if (["1", "true"].includes(process.env.CI ?? "")) {
    throw new Error(`CI is set but there is no Chromium at ${chromiumPath}: .ci/run must install it`)
  }
  console.warn(`Chromium tests skipped: no ${chromiumPath}. Run \`apt-get install -y chromium\` to run them.`)
}

/** Chromium, driven by playwright-core (nothing is downloaded), closed with the scope. */
export const launch: Effect.Effect<Browser, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(() => chromium.launch({ executablePath: chromiumPath, args: [...chromiumArgs] })),
  (browser) => Effect.promise(() => browser.close())
)

/**
 * `count` tabs of one browser profile, each on a page that runs the bundle of `entry` (a module that sets
 * `document.body.dataset.ready` once loaded), served on 127.0.0.1; returned once every tab is ready.
 */
export const openTabs = (entry: string, count: number): Effect.Effect<Array<Page>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const script = yield* bundle(entry)
    const name = `/${Path.basename(entry, ".ts")}.js`
    const site = yield* serveStatic((path) =>
      path === "/"
        ? { type: "text/html", body: `<!doctype html><body><script type="module" src="${name}"></script></body>` }
        : path === name
          ? { type: "text/javascript", body: script.code }
          : undefined
    )
    const browser = yield* launch
    const context = yield* Effect.promise(() => browser.newContext())
    const pages: Array<Page> = []
    for (let index = 0; index < count; index++) {
      const page = yield* Effect.promise(() => context.newPage())
      page.on("pageerror", (error) => console.error(`tab ${index}: ${error.message}`))
      yield* Effect.promise(() => page.goto(`${site}/`))
      yield* Effect.promise(() => page.waitForSelector("body[data-ready]", { state: "attached" }))
      pages.push(page)
    }
    return pages
  })
