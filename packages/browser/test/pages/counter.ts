/**
 * The page of the cross-tab counter test: one browser store, and a locked read-modify-write of a counter kept in a
 * session's access token, driven from the test through `window.counter`.
 */
import { BrowserTokenStore } from "@token-refresher/browser"
import { Session, TokenSet, TokenStore } from "@token-refresher/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"

let store: TokenStore.Service | undefined

const session = (count: number) =>
  Session.active(TokenSet.make({ accessToken: String(count), expiresAt: Date.now() + 3_600_000, issuedAt: Date.now() }))

const countOf = (stored: Option.Option<Session.Session>) =>
  Option.match(Option.flatMap(stored, Session.tokens), {
    onNone: () => 0,
    onSome: (tokens) => Number(Redacted.value(tokens.accessToken))
  })

const counter = {
  start: (kind: "localStorage" | "indexedDb", name: string) =>
    Effect.runPromise(
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        store = yield* (
          kind === "localStorage"
            ? BrowserTokenStore.makeLocalStorage({ prefix: name })
            : BrowserTokenStore.makeIndexedDb({ database: name })
        ).pipe(Scope.extend(scope))
        window.addEventListener("pagehide", () => void Effect.runPromise(Scope.close(scope, Exit.void)))
      })
    ),
  /** `times` increments of the counter under `key`, one after the other, each under the session's lock. */
  increment: (key: string, times: number) =>
    Effect.runPromise(
      Effect.gen(function* () {
        const s = store!
        for (let index = 0; index < times; index++) {
          yield* s.withLock(key)(Effect.flatMap(s.get(key), (stored) => s.set(key, session(countOf(stored) + 1))))
        }
      })
    ),
  read: (key: string) => Effect.runPromise(Effect.map(store!.get(key), countOf))
}

export type Counter = typeof counter

declare global {
  interface Window {
    counter: Counter
  }
}

window.counter = counter
document.body.dataset.ready = "true"
