import { assert, describe, it } from "@effect/vitest"
import { FakeAuthorizationServer } from "@token-refresher/testing/node"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { clientId } from "../examples/serve.js"
import { hasChromium, openTabs } from "./chromium.js"
import type { Tokens } from "./pages/tabs.js"

const here = Path.dirname(fileURLToPath(import.meta.url))

/** The fake server (rotation, reuse detection, CORS), the tabs' page, and `count` tabs of one browser profile. */
const tabs = (count: number, store: "localStorage" | "indexedDb", options?: FakeAuthorizationServer.Options) =>
  Effect.gen(function* () {
    const server = yield* FakeAuthorizationServer.make({ revokeFamilyOnReuse: true, ...options, cors: true })
    const pages = yield* openTabs(Path.join(here, "pages", "tabs.ts"), count)
    const name = `tabs-${store}-${Date.now()}`
    for (const page of pages) {
      yield* Effect.promise(() =>
        page.evaluate((options) => window.harness.start(options), {
          tokenUrl: server.tokenUrl,
          clientId,
          store,
          name
        })
      )
    }
    const tab = (index: number) => ({
      save: (key: string, tokens: Tokens) =>
        Effect.promise(() => pages[index]!.evaluate(([k, t]) => window.harness.save(k, t), [key, tokens] as const)),
      callers: (key: string, n: number) =>
        Effect.promise(() => pages[index]!.evaluate(([k, c]) => window.harness.callers(k, c), [key, n] as const)),
      remove: (key: string) => Effect.promise(() => pages[index]!.evaluate((k) => window.harness.remove(k), key))
    })
    return { server, tab, pages }
  })

/** A login at the fake server for the public client: its tokens, with the access token valid for `expiresIn` s. */
const login = (server: FakeAuthorizationServer.Service, expiresIn: number) =>
  Effect.map(server.issueTokens({ clientId }), (issued): Tokens => ({
    accessToken: Redacted.value(issued.accessToken),
    refreshToken: Redacted.value(issued.refreshToken),
    expiresIn
  }))

describe.skipIf(!hasChromium)("four tabs of one browser", () => {
  for (const store of ["localStorage", "indexedDb"] as const) {
    it.live(
      `${store}: 25 callers in each of 4 tabs, one expired session: exactly 1 refresh, one token for all, no family revoked`,
      () =>
        Effect.gen(function* () {
          // the refresh takes 300 ms at the server: every tab asks while it runs
          const { server, tab } = yield* tabs(4, store, { tokenDelay: "300 millis" })
          const seeded = yield* login(server, -60)
          yield* tab(0).save("alice", seeded)
          const started = Date.now()
          const answers = yield* Effect.all(
            [0, 1, 2, 3].map((index) => tab(index).callers("alice", 25)),
            {
              concurrency: "unbounded"
            }
          )
          const elapsed = Date.now() - started
          const all = answers.flat()
          assert.strictEqual(all.length, 100)
          const distinct = [...new Set(all)]
          assert.strictEqual(distinct.length, 1, `every caller gets the same token: ${distinct.join(", ")}`)
          assert.match(distinct[0]!, /^fake-access-/)
          assert.notStrictEqual(distinct[0], seeded.accessToken)
          const stats = yield* server.stats
          assert.deepStrictEqual(
            [stats.refreshesServed, stats.refreshesRejected, stats.familiesRevoked],
            [1, 0, 0],
            "one refresh for every tab"
          )
          console.log(`${store}: 4 tabs × 25 callers served in ${elapsed} ms, ${stats.refreshesServed} refresh`)
        }).pipe(Effect.scoped),
      60_000
    )
  }

  it.live(
    "a logout in one tab is seen by every tab within a second; a login in one tab serves every tab without a refresh",
    () =>
      Effect.gen(function* () {
        const { server, tab } = yield* tabs(4, "localStorage")
        yield* tab(0).save("bob", yield* login(server, 3600))
        for (const index of [1, 2, 3]) assert.match((yield* tab(index).callers("bob", 1))[0]!, /^fake-access-/)

        yield* tab(0).remove("bob")
        const removedAt = Date.now()
        for (const index of [1, 2, 3]) {
          let answer = (yield* tab(index).callers("bob", 1))[0]
          while (answer !== "error:NoToken" && Date.now() - removedAt < 1000) {
            yield* Effect.sleep("20 millis")
            answer = (yield* tab(index).callers("bob", 1))[0]
          }
          assert.strictEqual(answer, "error:NoToken", `tab ${index} still serves the removed session`)
        }
        const seenWithin = Date.now() - removedAt

        const next = yield* login(server, 3600)
        yield* tab(2).save("bob", next)
        const savedAt = Date.now()
        for (const index of [0, 1, 3]) {
          let answer = (yield* tab(index).callers("bob", 1))[0]
          while (answer !== next.accessToken && Date.now() - savedAt < 1000) {
            yield* Effect.sleep("20 millis")
            answer = (yield* tab(index).callers("bob", 1))[0]
          }
          assert.strictEqual(answer, next.accessToken, `tab ${index} does not serve the new login`)
        }
        const stats = yield* server.stats
        assert.strictEqual(stats.refreshesServed, 0, "no tab refreshed")
        console.log(`the logout reached 3 tabs in ${seenWithin} ms; the login in ${Date.now() - savedAt} ms`)
      }).pipe(Effect.scoped),
    60_000
  )
})
