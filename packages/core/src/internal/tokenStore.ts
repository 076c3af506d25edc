import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as HashSet from "effect/HashSet"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import type * as Session from "../Session.js"
import type * as TokenStore from "../TokenStore.js"
import { TokenStoreError } from "../TokenStore.js"
import { StoreCipher } from "./encryption.js"
import * as KeyedMutex from "./keyedMutex.js"
import * as codec from "./sessionCodec.js"

const defaultLockTimeout = Duration.seconds(30)

type Around = (
  name: string,
  timeout: Duration.Duration
) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | TokenStoreError, R>

interface Lock {
  readonly acquire: ((name: string) => Effect.Effect<void, TokenStoreError, Scope.Scope>) | undefined
  readonly around: Around | undefined
}

export const make = (
  backend: TokenStore.Backend & {
    readonly acquire?: ((name: string) => Effect.Effect<void, TokenStoreError, Scope.Scope>) | undefined
  }
): Effect.Effect<TokenStore.Service, never, Scope.Scope> =>
  makeWith(backend, { acquire: backend.acquire, around: undefined })

export const makeAround = (
  backend: TokenStore.Backend & { readonly around: Around }
): Effect.Effect<TokenStore.Service, never, Scope.Scope> =>
  makeWith(backend, { acquire: undefined, around: backend.around })

const makeWith = (backend: TokenStore.Backend, lock: Lock): Effect.Effect<TokenStore.Service, never, Scope.Scope> =>
  Effect.gen(function* () {
    const cipher = yield* Effect.serviceOption(StoreCipher)
    const location = backend.location
    const lockTimeout = Duration.decode(backend.lockTimeout ?? defaultLockTimeout)
    const lockName = backend.lockName ?? ((key: string) => key)
    // one lock per name in this process, so fibers of one process never poll the shared lock against each other
    const local = KeyedMutex.make()
    // the locks the current fiber holds, for re-entrancy
    const held = yield* FiberRef.make(HashSet.empty<string>())
    // the sessions found in clear by a store that encrypts: one warning each, until their next write seals them
    const warnedInClear = new Set<string>()

    const lockError = (key: string) =>
      new TokenStoreError({
        reason: "Lock",
        location,
        detail: `the refresh lock of session "${key}" was not free within ${Duration.format(lockTimeout)}`
      })

    /** Runs `self` holding `name` in this process (and, for `makeAround`, among processes). */
    const holding = <A, E, R>(
      name: string,
      key: string,
      names: HashSet.HashSet<string>,
      self: Effect.Effect<A, E, R>
    ): Effect.Effect<A, E | TokenStoreError, R> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(Clock.currentTimeMillis, (started) =>
          Effect.flatMap(restore(local.take(name, lockTimeout, () => lockError(key))), (release) =>
            Effect.ensuring(
              restore(
                Effect.locally(
                  lock.around === undefined ? self : aroundWithin(lock.around, name, started, self),
                  held,
                  HashSet.add(names, name)
                )
              ),
              release
            )
          )
        )
      )

    /** The backend's lock around `self`, given what is left of `lockTimeout` since `started`. */
    const aroundWithin = <A, E, R>(
      around: Around,
      name: string,
      started: number,
      self: Effect.Effect<A, E, R>
    ): Effect.Effect<A, E | TokenStoreError, R> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        around(name, Duration.millis(Math.max(0, Duration.toMillis(lockTimeout) - (now - started))))(self)
      )

    /**
     * The lock among processes, taken after the local one within what is left of `lockTimeout`. Its scope is closed in
     * a fiber of its own, awaited and not joined: the backend's finalizers were added by the racing fiber of the
     * timeout, and a finalizer runs with the FiberRefs of the fiber that added it, so closing the scope in the caller
     * would leave entries behind in it on every call (a fiber that takes a lock in a loop would slow down for ever).
     */
    const acrossProcesses = <A, E, R>(
      acquire: (name: string) => Effect.Effect<void, TokenStoreError, Scope.Scope>,
      name: string,
      key: string,
      started: number,
      self: Effect.Effect<A, E, R>
    ): Effect.Effect<A, E | TokenStoreError, R> =>
      Effect.acquireUseRelease(
        Scope.make(),
        (scope) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            Effect.zipRight(
              Scope.extend(acquire(name), scope).pipe(
                Effect.timeoutFail({
                  duration: Duration.millis(Math.max(0, Duration.toMillis(lockTimeout) - (now - started))),
                  onTimeout: () => lockError(key)
                })
              ),
              self
            )
          ),
        (scope, exit) => Effect.flatMap(Effect.forkDaemon(Scope.close(scope, exit)), Fiber.await)
      )

    const withLock =
      (key: string) =>
      <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | TokenStoreError, R> =>
        Effect.flatMap(FiberRef.get(held), (names) => {
          const name = lockName(key)
          if (HashSet.has(names, name)) return self
          const acquire = lock.acquire
          if (acquire === undefined) return holding(name, key, names, self)
          // the whole wait, here and among processes, is bounded by one lockTimeout
          return Effect.flatMap(Clock.currentTimeMillis, (started) =>
            holding(name, key, names, acrossProcesses(acquire, name, key, started, self))
          )
        })

    const get = (key: string): Effect.Effect<Option.Option<Session.Session>, TokenStoreError> =>
      Effect.flatMap(backend.get(key), (stored) => {
        if (Option.isNone(stored)) return Effect.succeedNone
        return Effect.flatMap(codec.decode(location, key, stored.value, cipher), ({ inClear, session }) => {
          if (!inClear || warnedInClear.has(key)) return Effect.succeedSome(session)
          warnedInClear.add(key)
          return Effect.as(
            Effect.logWarning(
              "a session is stored in clear in an encrypted store: it is sealed at its next write"
            ).pipe(Effect.annotateLogs({ key, location })),
            Option.some(session)
          )
        })
      })

    const refuseDowngrade = (key: string): Effect.Effect<void, TokenStoreError> =>
      Effect.flatMap(backend.get(key), (stored) =>
        Option.isSome(stored) && codec.isSealed(stored.value)
          ? Effect.fail(
              new TokenStoreError({
                reason: "Encrypted",
                location,
                detail: `session "${key}" is encrypted: provide TokenStore.encrypted with its key to replace it`
              })
            )
          : Effect.void
      )

    const set = (key: string, session: Session.Session): Effect.Effect<void, TokenStoreError> => {
      const text = codec.encode(session)
      return withLock(key)(
        Option.isSome(cipher)
          ? Effect.flatMap(cipher.value.seal(key, text), (sealed) =>
              Effect.zipRight(
                backend.set(key, sealed),
                Effect.sync(() => warnedInClear.delete(key))
              )
            )
          : Effect.zipRight(refuseDowngrade(key), backend.set(key, text))
      )
    }

    return {
      location,
      get,
      set,
      remove: (key) => withLock(key)(backend.remove(key)),
      keys: (options) => backend.keys(options),
      withLock,
      changes: backend.changes
    }
  })

/** Pages through sorted keys: those under `prefix`, after `after`, at most `limit`. For backends that list them all. */
export const pageOf = (sorted: ReadonlyArray<string>, options: TokenStore.KeysOptions | undefined): Array<string> => {
  const prefix = options?.prefix ?? ""
  const after = options?.after
  const limit = options?.limit ?? Number.POSITIVE_INFINITY
  const page: Array<string> = []
  for (const key of sorted) {
    if (page.length >= limit) break
    if (!key.startsWith(prefix)) continue
    if (after !== undefined && key <= after) continue
    page.push(key)
  }
  return page
}
