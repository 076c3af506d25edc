import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import type { Page } from "playwright-core"
import { bundle, serveExample } from "../examples/serve.js"
import { hasChromium, launch } from "./chromium.js"

const here = Path.dirname(fileURLToPath(import.meta.url))

/** Where the test leaves its screenshot; `UPDATE_SCREENSHOT=1` writes the README's instead. */
const screenshotPath =
  process.env.UPDATE_SCREENSHOT === "1"
    ? Path.join(here, "..", "examples", "screenshot.png")
    : Path.join(here, "..", "build", "example.png")

const statusOf = (page: Page) => Effect.promise(() => page.locator("#status").innerText())
const outputOf = (page: Page) => Effect.promise(() => page.locator("#output").innerText())

/** Waits (polling, at most `within` ms) until `read` gives something that passes `done`, and returns it. */
const until = <A>(read: Effect.Effect<A>, done: (a: A) => boolean, within = 5000) =>
  Effect.gen(function* () {
    const started = Date.now()
    let value = yield* read
    while (!done(value) && Date.now() - started < within) {
      yield* Effect.sleep("50 millis")
      value = yield* read
    }
    return value
  })

describe.skipIf(!hasChromium)("the example page", () => {
  it.live(
    "logs in by redirect, calls the API, shares the session with a second tab, and logs out of both",
    () =>
      Effect.gen(function* () {
        const { server, url } = yield* serveExample()
        const browser = yield* launch
        const context = yield* Effect.promise(() => browser.newContext({ viewport: { width: 720, height: 400 } }))
        const first = yield* Effect.promise(() => context.newPage())
        yield* Effect.promise(() => first.goto(url))
        assert.strictEqual(yield* until(statusOf(first), (s) => s !== "Loading…"), "Logged out.")

        // the login: to the provider's /authorize and back with a code, which the page exchanges
        yield* Effect.promise(() =>
          Promise.all([first.waitForURL((u) => u.searchParams.has("code")), first.click("#login")])
        )
        const status = yield* until(statusOf(first), (s) => s.startsWith("Logged in"))
        assert.match(status, /^Logged in; the access token is valid until \d{4}-/)
        // the code and the state are gone from the address bar
        yield* until(
          Effect.sync(() => first.url()),
          (u) => u === url
        )
        assert.strictEqual(first.url(), url)

        yield* Effect.promise(() => first.click("#call"))
        assert.strictEqual(
          yield* until(outputOf(first), (o) => o.startsWith("The API says")),
          "The API says: hello, Fake User."
        )
        yield* Effect.promise(() => first.screenshot({ path: screenshotPath }))

        // a second tab of the same browser: logged in already, and its API call needs no refresh
        const second = yield* Effect.promise(() => context.newPage())
        yield* Effect.promise(() => second.goto(url))
        assert.match(yield* until(statusOf(second), (s) => s.startsWith("Logged in")), /^Logged in/)
        yield* Effect.promise(() => second.click("#call"))
        assert.strictEqual(
          yield* until(outputOf(second), (o) => o.startsWith("The API says")),
          "The API says: hello, Fake User."
        )

        // a logout in the second tab: the first one's status follows within its 1 s refresh of the line
        yield* Effect.promise(() => second.click("#logout"))
        assert.strictEqual(yield* until(statusOf(first), (s) => s === "Logged out.", 3000), "Logged out.")
        yield* Effect.promise(() => first.click("#call"))
        assert.include(yield* until(outputOf(first), (o) => o.includes("NoToken")), "NoToken")

        const stats = yield* server.stats
        assert.deepStrictEqual(
          [stats.codesIssued, stats.codesExchanged, stats.apiCalls, stats.apiRejected, stats.refreshesServed],
          [1, 1, 2, 0, 0]
        )
        assert.isTrue(Fs.existsSync(screenshotPath))
      }).pipe(Effect.scoped),
    60_000
  )
})

describe("the browser bundle", () => {
  it.live("the example app bundles for the browser with no Node module and no polyfill", () =>
    Effect.gen(function* () {
      const { code, inputs } = yield* bundle(Path.join(here, "..", "examples", "app.ts"), { minify: true })
      const node = inputs.filter((input) => input.path.startsWith("node:") || input.path.includes("(disabled)"))
      assert.deepStrictEqual(node, [])
      assert.notMatch(code, /from\s*["']node:/)
      assert.notMatch(code, /require\(["']node:/)
      // the core and the browser package are in it, read from their sources
      const ours = inputs.filter((input) => !input.path.includes("node_modules/")).map((input) => input.path)
      assert.isTrue(ours.some((path) => path.endsWith("browser/src/BrowserTokenStore.ts")))
      assert.isTrue(ours.some((path) => path.endsWith("core/src/TokenSessions.ts")))
    })
  )
})
