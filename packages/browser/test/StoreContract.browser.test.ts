import { BrowserTokenStore } from "@token-refresher/browser"
import * as TokenStoreContract from "@token-refresher/testing/TokenStoreContract"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { fresh, holdInWorker } from "./utils.js"

// The contract suite, run in Chromium: every store instance is like another tab (the Web Locks are the origin's),
// and the other "process" is a dedicated worker that takes the same Web Lock.

TokenStoreContract.suite("localStorage", {
  setup: Effect.sync(() => {
    const prefix = `${fresh("contract")}:`
    const location = `localStorage:${prefix}`
    return {
      store: ({ lockTimeout }) => Effect.orDie(BrowserTokenStore.makeLocalStorage({ prefix, lockTimeout })),
      writeRaw: (key, value) => Effect.sync(() => localStorage.setItem(prefix + key, value)),
      holdInOtherProcess: (key, hold) =>
        holdInWorker(BrowserTokenStore.lockName(location, key), Duration.toMillis(Duration.decode(hold))),
      freedAfterDeathWithin: "2 seconds"
    }
  })
})

/** Writes `value` under `key` in the store's object store, below the codec. */
const writeIndexedDb = (database: string, key: string, value: string) =>
  Effect.async<void>((resume) => {
    const opening = indexedDB.open(database, 1)
    opening.onupgradeneeded = () => opening.result.createObjectStore("sessions")
    opening.onsuccess = () => {
      const db = opening.result
      const transaction = db.transaction("sessions", "readwrite")
      transaction.objectStore("sessions").put(value, key)
      transaction.oncomplete = () => {
        db.close()
        resume(Effect.void)
      }
    }
  })

TokenStoreContract.suite("IndexedDB", {
  setup: Effect.sync(() => {
    const database = fresh("contract")
    const location = `indexedDB:${database}`
    return {
      store: ({ lockTimeout }) => Effect.orDie(BrowserTokenStore.makeIndexedDb({ database, lockTimeout })),
      writeRaw: (key, value) => writeIndexedDb(database, key, value),
      holdInOtherProcess: (key, hold) =>
        holdInWorker(BrowserTokenStore.lockName(location, key), Duration.toMillis(Duration.decode(hold))),
      freedAfterDeathWithin: "2 seconds"
    }
  })
})
