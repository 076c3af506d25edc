/**
 * Token stores in the browser: `localStorage` or IndexedDB, locked with Web Locks across every tab and window of the
 * origin, and announcing every write and remove on a `BroadcastChannel`, so the other tabs re-read the session.
 *
 * @since 0.6.0
 */
import { TokenStore } from "@token-refresher/core"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as shared from "./internal/shared.js"
import * as written from "./internal/written.js"

/**
 * The options of {@link layerLocalStorage}.
 *
 * @since 0.6.0
 * @category models
 */
export interface LocalStorageOptions {
  /** Put before every key in `localStorage`; it also names the store's locks and channel. Default: `token-refresher:`. */
  readonly prefix?: string | undefined
  /** How long `withLock` waits for the lock (held by this tab or another). Default: 30 seconds. */
  readonly lockTimeout?: Duration.DurationInput | undefined
}

/**
 * The options of {@link layerIndexedDb}.
 *
 * @since 0.6.0
 * @category models
 */
export interface IndexedDbOptions {
  /** The IndexedDB database; it also names the store's locks and channel. Default: `token-refresher`. */
  readonly database?: string | undefined
  /** How long `withLock` waits for the lock (held by this tab or another). Default: 30 seconds. */
  readonly lockTimeout?: Duration.DurationInput | undefined
}

/**
 * The default `prefix` of the `localStorage` store.
 *
 * @since 0.6.0
 * @category constants
 */
export const defaultPrefix = "token-refresher:"

/**
 * The default `database` of the IndexedDB store.
 *
 * @since 0.6.0
 * @category constants
 */
export const defaultDatabase = "token-refresher"

/** The object store that holds the sessions in the database. */
const objectStoreName = "sessions"

/**
 * The name of the Web Lock that guards `key` of a store: what another tab, window or worker of the origin takes to
 * hold that session's refresh lock. `location` is the store's (`TokenStore.Service.location`).
 *
 * @since 0.6.0
 * @category utils
 */
export const lockName: (location: string, key: string) => string = shared.lockName

/**
 * A store in `localStorage`: the sessions of one origin, kept across reloads and shared by its tabs. Every session is
 * under `prefix` + key. `localStorage` holds about 5 MB per origin: a few thousand sessions.
 *
 * @since 0.6.0
 * @category constructors
 */
export const makeLocalStorage = (
  options?: LocalStorageOptions
): Effect.Effect<TokenStore.Service, TokenStore.TokenStoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const prefix = options?.prefix ?? defaultPrefix
    const location = `localStorage:${prefix}`
    const storage = yield* shared.attempt(location, "Read", "opening localStorage", () => {
      const found = globalThis.localStorage
      if (found === undefined) throw new TypeError("no localStorage")
      return found
    })
    const news = yield* shared.news(location)
    const item = (key: string) => prefix + key
    const order = yield* written.make(location, storage, item)
    const lockPrefix = shared.lockName(location, "")
    const tabs = shared.acrossTabs(location, options?.lockTimeout, news)
    /** A write of `key` (`undefined`: its removal) with the next write number, then its witness. */
    const write = (key: string, value: string | undefined, what: string) =>
      Effect.flatMap(
        shared.attempt(location, "Write", what, () => {
          const n = order.next(key, storage.getItem(item(key)))
          if (value === undefined) storage.removeItem(item(key))
          else storage.setItem(item(key), written.format(n, value))
          return n
        }),
        (n) => Effect.zipRight(order.witness(key, { n, removed: value === undefined }), news.announce(key))
      )
    return yield* TokenStore.make({
      location,
      get: (key) =>
        Effect.map(
          shared.attempt(location, "Read", "reading localStorage", () => storage.getItem(item(key))),
          written.valueOf
        ),
      // the store calls both with the session's lock held
      set: (key, value) => write(key, value, "writing localStorage"),
      remove: (key) => write(key, undefined, "removing from localStorage"),
      keys: (keysOptions) =>
        shared.attempt(location, "Read", "listing localStorage", () => {
          const keys: Array<string> = []
          for (let index = 0; index < storage.length; index++) {
            const name = storage.key(index)
            if (name !== null && name.startsWith(prefix)) keys.push(name.slice(prefix.length))
          }
          return TokenStore.pageOf(keys.sort(), keysOptions)
        }),
      ...tabs,
      // with the lock, this tab's copy of localStorage is brought up to the session's last write in any tab
      acquire: (name) => Effect.zipRight(tabs.acquire(name), order.catchUp(name.slice(lockPrefix.length)))
    })
  })

/**
 * The `localStorage` store as a layer. It fails with a `TokenStoreError` (`Read`) where the page has no
 * `localStorage` (storage turned off, say).
 *
 * @since 0.6.0
 * @category layers
 */
export const layerLocalStorage = (
  options?: LocalStorageOptions
): Layer.Layer<TokenStore.TokenStore, TokenStore.TokenStoreError> =>
  Layer.scoped(TokenStore.TokenStore, makeLocalStorage(options))

/** One IndexedDB request as an effect: its result, or a `TokenStoreError` naming the DOM error. */
const request = <A>(
  location: string,
  reason: "Read" | "Write",
  what: string,
  make: () => IDBRequest<A>
): Effect.Effect<A, TokenStore.TokenStoreError> =>
  Effect.flatMap(shared.attempt(location, reason, what, make), (pending) =>
    Effect.async<A, TokenStore.TokenStoreError>((resume) => {
      pending.onsuccess = () => resume(Effect.succeed(pending.result))
      pending.onerror = () =>
        resume(
          Effect.fail(
            new TokenStore.TokenStoreError({
              reason,
              location,
              detail: `${what} failed: ${shared.errorName(pending.error)}`
            })
          )
        )
    })
  )

/** A write in its own transaction, done once the transaction commits (not merely once the request succeeds). */
const write = (
  location: string,
  what: string,
  db: IDBDatabase,
  f: (objects: IDBObjectStore) => IDBRequest
): Effect.Effect<void, TokenStore.TokenStoreError> =>
  Effect.flatMap(
    shared.attempt(location, "Write", what, () => {
      const transaction = db.transaction(objectStoreName, "readwrite")
      f(transaction.objectStore(objectStoreName))
      return transaction
    }),
    (transaction) =>
      Effect.async<void, TokenStore.TokenStoreError>((resume) => {
        const failed = () =>
          resume(
            Effect.fail(
              new TokenStore.TokenStoreError({
                reason: "Write",
                location,
                detail: `${what} failed: ${shared.errorName(transaction.error)}`
              })
            )
          )
        transaction.oncomplete = () => resume(Effect.void)
        transaction.onerror = failed
        transaction.onabort = failed
      })
  )

/**
 * A store in IndexedDB: the sessions of one origin, kept across reloads and shared by its tabs, in the object store
 * `sessions` of `database`. It holds far more than `localStorage` and does not block the page while it works.
 *
 * @since 0.6.0
 * @category constructors
 */
export const makeIndexedDb = (
  options?: IndexedDbOptions
): Effect.Effect<TokenStore.Service, TokenStore.TokenStoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const database = options?.database ?? defaultDatabase
    const location = `indexedDB:${database}`
    const db = yield* Effect.acquireRelease(
      Effect.flatMap(
        shared.attempt(location, "Read", "opening IndexedDB", () => {
          const opening = globalThis.indexedDB.open(database, 1)
          opening.onupgradeneeded = () => {
            if (!opening.result.objectStoreNames.contains(objectStoreName)) {
              opening.result.createObjectStore(objectStoreName)
            }
          }
          return opening
        }),
        (opening) => request(location, "Read", "opening IndexedDB", () => opening)
      ),
      (db) => Effect.sync(() => db.close())
    )
    // a newer version elsewhere (another tab's upgrade) must not wait for this tab: let it go
    db.onversionchange = () => db.close()
    const read = <A>(what: string, f: (objects: IDBObjectStore) => IDBRequest<A>) =>
      request(location, "Read", what, () => f(db.transaction(objectStoreName, "readonly").objectStore(objectStoreName)))
    const news = yield* shared.news(location)
    return yield* TokenStore.make({
      location,
      get: (key) =>
        Effect.map(
          read("reading IndexedDB", (objects) => objects.get(key) as IDBRequest<unknown>),
          (value) => (typeof value === "string" ? Option.some(value) : Option.none())
        ),
      set: (key, value) =>
        Effect.zipRight(
          write(location, "writing IndexedDB", db, (objects) => objects.put(value, key)),
          news.announce(key)
        ),
      remove: (key) =>
        Effect.zipRight(
          write(location, "removing from IndexedDB", db, (objects) => objects.delete(key)),
          news.announce(key)
        ),
      keys: (keysOptions) => {
        const prefix = keysOptions?.prefix ?? ""
        const after = keysOptions?.after
        const limit = keysOptions?.limit
        // keys under a prefix are one run in key order: start at the later of `after` (excluded) and `prefix`
        const range =
          after !== undefined && after >= prefix
            ? IDBKeyRange.lowerBound(after, true)
            : prefix === ""
              ? undefined
              : IDBKeyRange.lowerBound(prefix)
        return Effect.map(
          read("listing IndexedDB", (objects) => objects.getAllKeys(range, limit)),
          (keys) => {
            const page: Array<string> = []
            for (const key of keys) {
              if (typeof key !== "string") continue
              if (!key.startsWith(prefix)) break
              page.push(key)
            }
            return page
          }
        )
      },
      ...shared.acrossTabs(location, options?.lockTimeout, news)
    })
  })

/**
 * The IndexedDB store as a layer. It fails with a `TokenStoreError` (`Read`) where IndexedDB cannot be opened (a
 * private window that refuses it, say).
 *
 * @since 0.6.0
 * @category layers
 */
export const layerIndexedDb = (
  options?: IndexedDbOptions
): Layer.Layer<TokenStore.TokenStore, TokenStore.TokenStoreError> =>
  Layer.scoped(TokenStore.TokenStore, makeIndexedDb(options))
