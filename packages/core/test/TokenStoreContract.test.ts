import { TokenStore } from "@token-refresher/core"
import * as TokenStoreContract from "@token-refresher/testing/TokenStoreContract"
import { Effect, Option } from "effect"
import type { TokenSet } from "@token-refresher/core"

// instances of one memory backing share its entries and its (in-process) lock, like processes sharing a file
TokenStoreContract.suite("memory", {
  setup: Effect.gen(function* () {
    const entries = new Map<string, TokenSet.TokenSet>()
    const lock = yield* Effect.makeSemaphore(1)
    return {
      store: ({ lockTimeout }) =>
        TokenStore.make({
          location: "memory",
          get: (key) => Effect.sync(() => Option.fromNullable(entries.get(key))),
          set: (key, tokens) => Effect.sync(() => void entries.set(key, tokens)),
          remove: (key) => Effect.sync(() => void entries.delete(key)),
          acquire: () =>
            Effect.uninterruptibleMask((restore) =>
              Effect.zipRight(
                restore(lock.take(1)),
                Effect.addFinalizer(() => lock.release(1))
              )
            ),
          lockTimeout
        })
    }
  })
})
