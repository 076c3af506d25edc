import type * as TokenStoreContract from "@token-refresher/testing/TokenStoreContract"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/** A name no other test uses: each test gets an empty store. */
export const fresh = (what: string): string =>
  `${what}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`

/**
 * Another agent of the origin (a dedicated worker, as another tab would be) takes the Web Lock `name` and holds it for
 * `holdMillis`; `kill` terminates the worker, which frees its locks as a closed tab does.
 */
export const holdInWorker = (
  name: string,
  holdMillis: number
): Effect.Effect<TokenStoreContract.Holder, never, Scope.Scope> =>
  Effect.gen(function* () {
    const source = `onmessage = (event) => {
      const { name, hold } = event.data
      navigator.locks.request(name, { mode: "exclusive" }, () => {
        postMessage("locked")
        return new Promise((resolve) => setTimeout(resolve, hold))
      })
    }`
    const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }))
    const worker = yield* Effect.acquireRelease(
      Effect.sync(() => new Worker(url)),
      (worker) => Effect.sync(() => worker.terminate())
    )
    const locked = new Promise<void>((resolve) => {
      worker.onmessage = (event) => {
        if (event.data === "locked") resolve()
      }
    })
    worker.postMessage({ name, hold: holdMillis })
    return {
      locked: Effect.promise(() => locked),
      kill: Effect.sync(() => worker.terminate())
    }
  })
