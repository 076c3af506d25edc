/**
 * Where the tokens of every session are kept between refreshes (and between runs), with the refresh lock that makes
 * one refresh per expiry among every process that shares the store.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as encryption from "./internal/encryption.js"
import * as KeyedMutex from "./internal/keyedMutex.js"
import * as internal from "./internal/tokenStore.js"
import * as Session from "./Session.js"
import { TokenSet } from "./TokenSet.js"

/**
 * A store could not read or write a session, or could not take the refresh lock. Its message names the store (a
 * file's path, say) and the session, and never holds a token.
 *
 * @since 0.1.0
 * @category errors
 */
export class TokenStoreError extends Schema.TaggedError<TokenStoreError>("@token-refresher/core/TokenStoreError")(
  "TokenStoreError",
  {
    /**
     * `Read`/`Write`: the storage failed; `Corrupt`: it holds something that is not a session, or a sealed session
     * that does not open with this key; `Encrypted`: the session is sealed and this store has no key
     * (`TokenStore.encrypted`), so it neither reads nor replaces it; `Lock`: the refresh lock could not be had within
     * the store's `lockTimeout`, or the lock's backend failed.
     */
    reason: Schema.Literal("Read", "Write", "Corrupt", "Encrypted", "Lock"),
    /** Which store: a file's path, say. */
    location: Schema.String,
    /** What went wrong, without any stored value. */
    detail: Schema.String
  }
) {
  override get message(): string {
    return `Token store ${this.location}: ${this.detail}`
  }
}

/**
 * Which keys {@link Service.keys} lists: those that start with `prefix`, after the key `after` (the last key of the
 * previous page), at most `limit` of them.
 *
 * @since 0.4.0
 * @category models
 */
export interface KeysOptions {
  /** Default: every key. */
  readonly prefix?: string | undefined
  /** Default: from the first key. */
  readonly after?: string | undefined
  /** Default: the store's page size (the memory and file stores: every key; the SQL store: 10,000, its maximum). */
  readonly limit?: number | undefined
}

/**
 * A keyed, lockable store of sessions. A key names one session: one user's connection to one provider.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Names the store in errors: a file's path, a table, a URL without its password. */
  readonly location: string
  /** The session stored under `key`, `None` when there is none. */
  readonly get: (key: string) => Effect.Effect<Option.Option<Session.Session>, TokenStoreError>
  /** Replaces the session under `key`. Outside `withLock(key)` it takes the lock briefly. */
  readonly set: (key: string, session: Session.Session) => Effect.Effect<void, TokenStoreError>
  /** Forgets `key` (a logout). Outside `withLock(key)` it takes the lock briefly. */
  readonly remove: (key: string) => Effect.Effect<void, TokenStoreError>
  /**
   * The stored keys in a stable order, a page at a time; no value is read or decoded. The next page starts `after` the
   * last key of this one. The order is the store's (JS string order for the memory and file stores, code point order
   * in SQL): it differs only between characters beyond the Basic Multilingual Plane and those in U+E000 to U+FFFF.
   */
  readonly keys: (options?: KeysOptions) => Effect.Effect<ReadonlyArray<string>, TokenStoreError>
  /**
   * Runs `self` while holding `key`'s refresh lock, exclusive among every process that shares this store. Re-entrant
   * for the fiber that holds it (and the fibers it forks): `get`, `set`, `remove` and `withLock` inside do not wait for
   * themselves.
   */
  readonly withLock: (
    key: string
  ) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | TokenStoreError, R>
  /**
   * The keys that another instance of this store wrote or removed (another browser tab, say), as that instance
   * announces them; absent for a store that hears no such news. `TokenSessions` and `TokenManager` drop what they hold
   * in memory for a key heard here, so their next call re-reads the store.
   */
  readonly changes?: Stream.Stream<string> | undefined
}

/**
 * The tag of the `TokenStore` service.
 *
 * @since 0.1.0
 * @category tags
 */
export class TokenStore extends Context.Tag("@token-refresher/core/TokenStore")<TokenStore, Service>() {}

/**
 * The key of the one session of an application that has only one (a script, the CLI).
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultKey = "default"

/**
 * What a store provides to {@link make} or {@link makeAround}: strings under keys. The codec (`Session` to JSON), the
 * encryption and the in-process lock queue sit above it, in one place.
 *
 * @since 0.2.0
 * @category models
 */
export interface Backend {
  /** Names the store in errors: a file's path, a table, a URL without its password. */
  readonly location: string
  readonly get: (key: string) => Effect.Effect<Option.Option<string>, TokenStoreError>
  /** Called with the lock of `key` held. */
  readonly set: (key: string, value: string) => Effect.Effect<void, TokenStoreError>
  /** Called with the lock of `key` held. */
  readonly remove: (key: string) => Effect.Effect<void, TokenStoreError>
  /** As {@link Service.keys}. */
  readonly keys: (options?: KeysOptions) => Effect.Effect<ReadonlyArray<string>, TokenStoreError>
  /**
   * Which lock guards `key`. Default: one lock per key. A store that cannot lock more finely returns one name for
   * every key (the file store locks the whole file).
   */
  readonly lockName?: ((key: string) => string) | undefined
  /** How long `withLock` waits for the lock before failing with `TokenStoreError` (`Lock`). Default: 30 seconds. */
  readonly lockTimeout?: Duration.DurationInput | undefined
  /** As {@link Service.changes}: the keys other instances wrote or removed, for a store that hears of them. */
  readonly changes?: Stream.Stream<string> | undefined
}

/**
 * Builds a store from a {@link Backend}: the codec, the encryption when the layer is wrapped in {@link encrypted},
 * one in-process queue per lock (so fibers of one process never poll the shared lock against each other), the
 * cross-process lock, the `lockTimeout`, re-entrancy, and `set`/`remove` that take the lock briefly when called
 * outside it.
 *
 * `acquire` takes the lock named `name` among processes, waiting as long as it must (interruptibly: the wait is
 * bounded with `lockTimeout`), and holds it until the scope closes, renewing its lease while it is held. Omit it for a
 * store that only one process uses: the lock is then in-process.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make: (
  backend: Backend & {
    readonly acquire?: ((name: string) => Effect.Effect<void, TokenStoreError, Scope.Scope>) | undefined
  }
) => Effect.Effect<Service, never, Scope.Scope> = internal.make

/**
 * {@link make} for a lock that must wrap the work itself (a database transaction whose connection the work's reads
 * and writes use): `around(name, timeout)(self)` runs `self` holding the lock named `name` among processes, waiting
 * for it at most `timeout` (what is left of the store's `lockTimeout` after the wait in this process, so that the
 * whole wait stays within one `lockTimeout`); the in-process queue and re-entrancy are added here.
 *
 * @since 0.4.0
 * @category constructors
 */
export const makeAround: (
  backend: Backend & {
    readonly around: (
      name: string,
      timeout: Duration.Duration
    ) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | TokenStoreError, R>
  }
) => Effect.Effect<Service, never, Scope.Scope> = internal.makeAround

/**
 * One page of `sorted` keys as {@link Service.keys} returns it (those under `prefix`, after `after`, at most `limit`):
 * for a store that lists all its keys and pages them in memory.
 *
 * @since 0.6.0
 * @category utils
 */
export const pageOf: (sorted: ReadonlyArray<string>, options: KeysOptions | undefined) => Array<string> =
  internal.pageOf

/**
 * What {@link layerMemory} takes: a session (kept under {@link defaultKey}) or `[key, session]` pairs. A `TokenSet`
 * is taken as `Session.active`.
 *
 * @since 0.4.0
 * @category models
 */
export type Initial = Session.Session | TokenSet | Iterable<readonly [string, Session.Session | TokenSet]>

const toSession = (value: Session.Session | TokenSet): Session.Session =>
  value instanceof TokenSet ? Session.active(value) : value

/**
 * The options of {@link makeMemory} and {@link layerMemory}.
 *
 * @since 0.6.0
 * @category models
 */
export interface MemoryOptions {
  /** How long `withLock` waits for the lock. Default: 30 seconds. */
  readonly lockTimeout?: Duration.DurationInput | undefined
  /**
   * The map that holds the encoded sessions (default: a new one). Stores given the same map share the sessions and
   * the locks, as two processes share a file: how the contract suite runs on the memory store, and how a test can
   * read or write what a store keeps.
   */
  readonly entries?: Map<string, string> | undefined
}

/** The lock of the stores that share one map of entries. */
const sharedLocks = new WeakMap<Map<string, string>, KeyedMutex.KeyedMutex>()
const lockOf = (entries: Map<string, string>): KeyedMutex.KeyedMutex => {
  const known = sharedLocks.get(entries)
  if (known !== undefined) return known
  const made = KeyedMutex.make()
  sharedLocks.set(entries, made)
  return made
}

/**
 * A store in memory, lost with the process; its lock is in-process. It keeps the encoded sessions, as every store
 * does, so {@link encrypted} works on it too.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (initial?: Initial, options?: MemoryOptions): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.gen(function* () {
    const shared = options?.entries
    const entries = shared ?? new Map<string, string>()
    const sharedLock = shared === undefined ? undefined : lockOf(shared)
    const service = yield* make({
      location: "memory",
      get: (key) => Effect.sync(() => Option.fromNullable(entries.get(key))),
      set: (key, value) => Effect.sync(() => void entries.set(key, value)),
      remove: (key) => Effect.sync(() => void entries.delete(key)),
      keys: (keysOptions) => Effect.sync(() => internal.pageOf([...entries.keys()].sort(), keysOptions)),
      lockTimeout: options?.lockTimeout,
      // stores on one map exclude each other as processes on one file do; the wait is bounded by `lockTimeout`
      acquire:
        sharedLock === undefined
          ? undefined
          : (name) =>
              Effect.uninterruptibleMask((restore) =>
                Effect.flatMap(restore(sharedLock.take(name, Duration.infinity, () => undefined as never)), (release) =>
                  Effect.addFinalizer(() => release)
                )
              )
    })
    const pairs: Iterable<readonly [string, Session.Session | TokenSet]> =
      initial === undefined
        ? []
        : initial instanceof TokenSet || Session.isSession(initial)
          ? [[defaultKey, initial]]
          : initial
    for (const [key, value] of pairs) yield* Effect.orDie(service.set(key, toSession(value)))
    return service
  })

/**
 * A store in memory, optionally filled with sessions: for scripts, tests and app tokens.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (initial?: Initial, options?: MemoryOptions): Layer.Layer<TokenStore> =>
  Layer.scoped(TokenStore, makeMemory(initial, options))

/**
 * The session `key` (default `defaultKey`), with the `TokenStore` in context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const get = (
  key: string = defaultKey
): Effect.Effect<Option.Option<Session.Session>, TokenStoreError, TokenStore> =>
  Effect.flatMap(TokenStore, (store) => store.get(key))

/**
 * Stores the session `key`, with the `TokenStore` in context (a `TokenSet` is stored as `Session.active`).
 *
 * @since 0.1.0
 * @category accessors
 */
export const set = (
  key: string,
  session: Session.Session | TokenSet
): Effect.Effect<void, TokenStoreError, TokenStore> =>
  Effect.flatMap(TokenStore, (store) => store.set(key, toSession(session)))

/**
 * Forgets the session `key` (default `defaultKey`), with the `TokenStore` in context.
 *
 * @since 0.2.0
 * @category accessors
 */
export const remove = (key: string = defaultKey): Effect.Effect<void, TokenStoreError, TokenStore> =>
  Effect.flatMap(TokenStore, (store) => store.remove(key))

/**
 * A page of the stored keys, with the `TokenStore` in context.
 *
 * @since 0.4.0
 * @category accessors
 */
export const keys = (options?: KeysOptions): Effect.Effect<ReadonlyArray<string>, TokenStoreError, TokenStore> =>
  Effect.flatMap(TokenStore, (store) => store.keys(options))

/**
 * Every stored key, as a stream read a page at a time (`pageSize`, default 1,000).
 *
 * @since 0.4.0
 * @category accessors
 */
export const allKeys = (options?: {
  readonly prefix?: string | undefined
  readonly pageSize?: number | undefined
}): Stream.Stream<string, TokenStoreError, TokenStore> => {
  const limit = Math.max(1, options?.pageSize ?? 1000)
  // read until a page comes back empty: a store may return fewer keys than asked for (the SQL store caps a page)
  return Stream.paginateChunkEffect(undefined as string | undefined, (after) =>
    Effect.map(keys({ prefix: options?.prefix, after, limit }), (page) => [
      Chunk.unsafeFromArray(page),
      page.length === 0 ? Option.none() : Option.some(page[page.length - 1])
    ])
  )
}

/**
 * Seeds an empty session with a bare refresh token read from `Config` (e.g.
 * `Config.redacted("SPOTIFY_REFRESH_TOKEN")`), as `Session.Seeded`, so its first use refreshes. The check and the write
 * happen under the session's lock, so a process that starts late never writes the seed over a rotated token. A
 * session that already exists (in any state), or a missing or empty variable, is left as it is.
 *
 * @since 0.1.0
 * @category combinators
 */
export const seeded =
  (refreshToken: Config.Config<Redacted.Redacted<string>>, options?: { readonly key?: string | undefined }) =>
  <E, R>(
    self: Layer.Layer<TokenStore, E, R>
  ): Layer.Layer<TokenStore, E | ConfigError.ConfigError | TokenStoreError, R> =>
    Layer.effect(
      TokenStore,
      Effect.gen(function* () {
        const store = yield* TokenStore
        const key = options?.key ?? defaultKey
        const seed = Option.filter(yield* Config.option(refreshToken), (token) => Redacted.value(token).length > 0)
        if (Option.isSome(seed) && Option.isNone(yield* store.get(key))) {
          const now = yield* DateTime.now
          yield* store.withLock(key)(
            Effect.flatMap(store.get(key), (stored) =>
              Option.isNone(stored) ? store.set(key, Session.seeded(seed.value, now)) : Effect.void
            )
          )
        }
        return store
      })
    ).pipe(Layer.provide(self))

/**
 * Moves the session `from` to the key `to` when the layer is built, once: under `to`'s lock, and only while `to` is
 * empty. For a change of key scheme, e.g. the CLI's Spotify session, kept under `default` by 0.2 and under `spotify`
 * since 0.3.
 *
 * @since 0.3.0
 * @category combinators
 */
export const moved =
  (from: string, to: string) =>
  <E, R>(self: Layer.Layer<TokenStore, E, R>): Layer.Layer<TokenStore, E | TokenStoreError, R> =>
    Layer.effect(
      TokenStore,
      Effect.gen(function* () {
        const store = yield* TokenStore
        if (from !== to && Option.isSome(yield* store.get(from)) && Option.isNone(yield* store.get(to))) {
          yield* store.withLock(to)(
            Effect.gen(function* () {
              const old = yield* store.get(from)
              if (Option.isNone(old) || Option.isSome(yield* store.get(to))) return
              yield* store.set(to, old.value)
              yield* store.remove(from)
            })
          )
        }
        return store
      })
    ).pipe(Layer.provide(self))

/**
 * Encrypts a store at rest: under the codec, each session's JSON is sealed with AES-256-GCM (Web Crypto, so it also
 * works in a browser) with a random IV per write and the session key as additional data, into a versioned envelope
 * (`token-refresher:aes-256-gcm:v1:…`). The store then holds, per session, only the envelope: no token, no expiry, no
 * scope. `key` is 32 random bytes in base64 (`openssl rand -base64 32`), best from
 * `Config.redacted("TOKEN_ENCRYPTION_KEY")`; another length fails the layer with a `ConfigError`.
 *
 * - A value that does not open (a wrong key, a tampered value, a value moved to another key) is `TokenStoreError`
 *   `Corrupt` for that key, and nothing is sent to the token endpoint.
 * - A store **without** this combinator that finds a sealed session fails with `TokenStoreError` `Encrypted`, for
 *   reads and for writes: it never sends a sealed value as a token, nor overwrites a sealed session in clear.
 * - Sessions written in clear before encryption was turned on are read (with one warning per session) and sealed at
 *   their next write; rows sealed by 0.3 are read too.
 *
 * `self` is built afresh under this combinator (`Layer.fresh`), so the same store layer used elsewhere without it is
 * never shared with it.
 *
 * @since 0.2.0
 * @category combinators
 */
export const encrypted =
  (key: Redacted.Redacted<string> | Config.Config<Redacted.Redacted<string>>) =>
  <E, R>(self: Layer.Layer<TokenStore, E, R>): Layer.Layer<TokenStore, E | ConfigError.ConfigError, R> =>
    Layer.provide(
      Layer.fresh(self),
      Layer.effect(
        encryption.StoreCipher,
        Effect.map(
          Effect.flatMap(Config.isConfig(key) ? key : Effect.succeed(key), encryption.importKey),
          encryption.makeCipher
        )
      )
    )

/**
 * {@link encrypted} for a store constructor rather than a layer: the store that `make` builds (with
 * `TokenStore.make` or `makeAround`) seals and opens its sessions with `key`.
 *
 * @example
 * ```ts
 * import { TokenStore } from "@token-refresher/core"
 * import { Redacted } from "effect"
 *
 * const store = TokenStore.makeMemory().pipe(TokenStore.withEncryption(Redacted.make(process.env.TOKEN_ENCRYPTION_KEY!)))
 * ```
 *
 * @since 0.4.0
 * @category combinators
 */
export const withEncryption =
  (key: Redacted.Redacted<string> | Config.Config<Redacted.Redacted<string>>) =>
  <A, E, R>(make: Effect.Effect<A, E, R>): Effect.Effect<A, E | ConfigError.ConfigError, R> =>
    Effect.flatMap(
      Effect.flatMap(Config.isConfig(key) ? key : Effect.succeed(key), encryption.importKey),
      (cryptoKey) => Effect.provideService(make, encryption.StoreCipher, encryption.makeCipher(cryptoKey))
    )
