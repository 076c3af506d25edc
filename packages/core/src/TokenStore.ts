/**
 * Where the tokens of every session are kept between refreshes (and between runs), with the refresh lock that makes
 * one refresh per expiry among every process that shares the store.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as encryption from "./internal/encryption.js"
import * as internal from "./internal/tokenStore.js"
import { fromRefreshToken, TokenSet } from "./TokenSet.js"

/**
 * A store could not read or write the tokens, or could not take the refresh lock. Its message names the store (a
 * file's path, say) and never holds a token.
 *
 * @since 0.1.0
 * @category errors
 */
export class TokenStoreError extends Schema.TaggedError<TokenStoreError>("@token-refresher/core/TokenStoreError")(
  "TokenStoreError",
  {
    /**
     * `Read`/`Write`: the storage failed; `Corrupt`: it holds something that is not a `TokenSet`; `Lock`: the refresh
     * lock could not be had within the store's `lockTimeout`, or the lock's backend failed.
     */
    reason: Schema.Literal("Read", "Write", "Corrupt", "Lock"),
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
 * A keyed, lockable store. A key names one session: one user's tokens with one provider.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The tokens stored under `key`, `None` when there are none. */
  readonly get: (key: string) => Effect.Effect<Option.Option<TokenSet>, TokenStoreError>
  /** Replaces the tokens under `key`. Outside `withLock(key)` it takes the lock briefly. */
  readonly set: (key: string, tokens: TokenSet) => Effect.Effect<void, TokenStoreError>
  /** Forgets `key` (a logout). Outside `withLock(key)` it takes the lock briefly. */
  readonly remove: (key: string) => Effect.Effect<void, TokenStoreError>
  /**
   * Runs `self` while holding `key`'s refresh lock, exclusive among every process that shares this store. Re-entrant
   * for the fiber that holds it (and the fibers it forks): `get`, `set`, `remove` and `withLock` inside do not wait for
   * themselves.
   */
  readonly withLock: (
    key: string
  ) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | TokenStoreError, R>
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
 * What a store provides to {@link make}: plain reads and writes, and (for stores shared between processes) a lock
 * that works across them.
 *
 * @since 0.2.0
 * @category models
 */
export interface Backend {
  /** Names the store in errors: a file's path, a table, a URL without its password. */
  readonly location: string
  readonly get: (key: string) => Effect.Effect<Option.Option<TokenSet>, TokenStoreError>
  /** Called with the lock of `key` held. */
  readonly set: (key: string, tokens: TokenSet) => Effect.Effect<void, TokenStoreError>
  /** Called with the lock of `key` held. */
  readonly remove: (key: string) => Effect.Effect<void, TokenStoreError>
  /**
   * Takes the lock named `name` among processes, waiting as long as it must (interruptibly: {@link make} bounds the
   * wait with `lockTimeout`), and holds it until the scope closes, renewing its lease while it is held. Omit it for a
   * store that only one process uses: the lock is then in-process.
   */
  readonly acquire?: ((name: string) => Effect.Effect<void, TokenStoreError, Scope.Scope>) | undefined
  /**
   * Instead of `acquire`, for a lock that must wrap the work itself (a database transaction whose connection the
   * work's reads and writes use): runs `self` holding the lock named `name` among processes. It bounds its own wait
   * (with the store's `lockTimeout`); {@link make} still adds the in-process queue and re-entrancy.
   */
  readonly around?:
    ((name: string) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | TokenStoreError, R>) | undefined
  /**
   * Which lock guards `key`. Default: one lock per key. A store that cannot lock more finely returns one name for
   * every key (the file store locks the whole file).
   */
  readonly lockName?: ((key: string) => string) | undefined
  /** How long `withLock` waits for the lock before failing with `TokenStoreError` (`Lock`). Default: 30 seconds. */
  readonly lockTimeout?: Duration.DurationInput | undefined
}

/**
 * Builds a store from a {@link Backend}: one in-process queue per lock (so fibers of one process never poll the
 * shared lock against each other), the cross-process lock, the `lockTimeout`, re-entrancy, and `set`/`remove` that
 * take the lock briefly when called outside it.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make: (backend: Backend) => Effect.Effect<Service, never, Scope.Scope> = internal.make

/**
 * A store in memory, lost with the process; its lock is in-process. `initial` is a `TokenSet`, kept under
 * {@link defaultKey}, or an iterable of `[key, TokenSet]`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (
  initial?: TokenSet | Iterable<readonly [string, TokenSet]>,
  options?: { readonly lockTimeout?: Duration.DurationInput | undefined }
): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.suspend(() => {
    const entries = new Map<string, TokenSet>(
      initial === undefined ? [] : initial instanceof TokenSet ? [[defaultKey, initial]] : initial
    )
    return make({
      location: "memory",
      get: (key) => Effect.sync(() => Option.fromNullable(entries.get(key))),
      set: (key, tokens) => Effect.sync(() => void entries.set(key, tokens)),
      remove: (key) => Effect.sync(() => void entries.delete(key)),
      lockTimeout: options?.lockTimeout
    })
  })

/**
 * A store in memory, optionally filled with tokens: for scripts, tests and app tokens.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (
  initial?: TokenSet | Iterable<readonly [string, TokenSet]>,
  options?: { readonly lockTimeout?: Duration.DurationInput | undefined }
): Layer.Layer<TokenStore> => Layer.scoped(TokenStore, makeMemory(initial, options))

/**
 * The tokens of the session `key` (default `defaultKey`), with the `TokenStore` in context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const get = (key: string = defaultKey): Effect.Effect<Option.Option<TokenSet>, TokenStoreError, TokenStore> =>
  Effect.flatMap(TokenStore, (store) => store.get(key))

/**
 * Stores the tokens of the session `key` (default `defaultKey`), with the `TokenStore` in context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const set = (tokens: TokenSet, key: string = defaultKey): Effect.Effect<void, TokenStoreError, TokenStore> =>
  Effect.flatMap(TokenStore, (store) => store.set(key, tokens))

/**
 * Forgets the session `key` (default `defaultKey`), with the `TokenStore` in context.
 *
 * @since 0.2.0
 * @category accessors
 */
export const remove = (key: string = defaultKey): Effect.Effect<void, TokenStoreError, TokenStore> =>
  Effect.flatMap(TokenStore, (store) => store.remove(key))

/**
 * Seeds an empty session with a bare refresh token read from `Config` (e.g.
 * `Config.redacted("SPOTIFY_REFRESH_TOKEN")`), marked expired so its first use refreshes. The check and the write
 * happen under the session's lock, so a process that starts late never writes the seed over a rotated token. A
 * session that already holds tokens, or a missing or empty variable, is left as it is.
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
          yield* store.withLock(key)(
            Effect.flatMap(store.get(key), (stored) =>
              Option.isNone(stored) ? store.set(key, fromRefreshToken(seed.value)) : Effect.void
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
 * Encrypts every store at rest: each `TokenSet` is encoded, then encrypted with AES-256-GCM (Web Crypto, so it also
 * works in a browser) with a random IV per write and the session key as additional data, so a row copied to another
 * key fails to decrypt (`TokenStoreError`, reason `Corrupt`). The store then holds, per session, only a sealed
 * payload: no token, no expiry, no scope. `key` is 32 random bytes in base64 (`openssl rand -base64 32`), best from
 * `Config.redacted("TOKEN_ENCRYPTION_KEY")`; another length fails the layer with a `ConfigError`. Sessions written
 * before encryption was turned on are read as they are and sealed at their next write.
 *
 * @since 0.2.0
 * @category combinators
 */
export const encrypted =
  (key: Redacted.Redacted<string> | Config.Config<Redacted.Redacted<string>>) =>
  <E, R>(self: Layer.Layer<TokenStore, E, R>): Layer.Layer<TokenStore, E | ConfigError.ConfigError, R> =>
    Layer.effect(
      TokenStore,
      Effect.flatMap(TokenStore, (store) => makeEncrypted(store, key))
    ).pipe(Layer.provide(self))

/**
 * {@link encrypted} for a store service rather than a layer.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeEncrypted = (
  store: Service,
  key: Redacted.Redacted<string> | Config.Config<Redacted.Redacted<string>>
): Effect.Effect<Service, ConfigError.ConfigError> =>
  Effect.gen(function* () {
    const cryptoKey = yield* encryption.importKey(Config.isConfig(key) ? yield* key : key)
    return encryption.wrap(cryptoKey, store, "encrypted store")
  })
