import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as HashSet from "effect/HashSet"
import * as Option from "effect/Option"
import * as RcMap from "effect/RcMap"
import * as Scope from "effect/Scope"
import type * as Session from "../Session.js"
import type * as TokenStore from "../TokenStore.js"
import { TokenStoreError } from "../TokenStore.js"
import { StoreCipher } from "./encryption.js"
import * as codec from "./sessionCodec.js"

const defaultLockTimeout = Duration.seconds(30)

type Around = (name: string) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | TokenStoreError, R>

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
    // one queue per lock in this process, released with its last user, so memory does not grow with the keys seen
    const queues = yield* RcMap.make({ lookup: (_: string) => Effect.makeSemaphore(1) })
    // the locks the current fiber holds, for re-entrancy
    const held = yield* FiberRef.make(HashSet.empty<string>())
    // the sessions found in clear by a store that encrypts: one warning each, until their next write seals them
    const warnedInClear = new Set<string>()

    const take = (name: string, key: string): Effect.Effect<void, TokenStoreError, Scope.Scope> =>
      Effect.gen(function* () {
        const queue = yield* RcMap.get(queues, name)
        // as `Semaphore.withPermits`: the wait is interruptible, the release is registered as soon as the permit is had
        yield* Effect.uninterruptibleMask((restore) =>
          Effect.zipRight(
            restore(queue.take(1)),
            Effect.addFinalizer(() => queue.release(1))
          )
        )
        if (lock.acquire !== undefined) yield* lock.acquire(name)
      }).pipe(
        Effect.timeoutFail({
          duration: lockTimeout,
          onTimeout: () =>
            new TokenStoreError({
              reason: "Lock",
              location,
              detail: `the refresh lock of session "${key}" was not free within ${Duration.format(lockTimeout)}`
            })
        })
      )

    const withLock =
      (key: string) =>
      <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | TokenStoreError, R> =>
        Effect.flatMap(FiberRef.get(held), (names) => {
          const name = lockName(key)
          if (HashSet.has(names, name)) return self
          return Effect.acquireUseRelease(
            Scope.make(),
            (scope) =>
              Effect.zipRight(
                Scope.extend(take(name, key), scope),
                Effect.locally(
                  lock.around === undefined ? self : lock.around(name)(self),
                  held,
                  HashSet.add(names, name)
                )
              ),
            // closed in a fiber of its own, awaited, not joined: a finalizer runs with the FiberRefs of the fiber that
            // added it (here the racing fiber of the timeout, or the backend's), and restoring them in the caller
            // would leave entries behind in it on every call, so a fiber that takes a lock in a loop would slow down
            (scope, exit) => Effect.flatMap(Effect.forkDaemon(Scope.close(scope, exit)), Fiber.await)
          )
        })

    const get = (key: string): Effect.Effect<Option.Option<Session.Session>, TokenStoreError> =>
      Effect.flatMap(backend.get(key), (stored) => {
        if (Option.isNone(stored)) return Effect.succeedNone
        return Effect.flatMap(codec.decode(location, key, stored.value, cipher), ({ inClear, session }) => {
          if (!inClear || warnedInClear.has(key)) return Effect.succeedSome(session)
          warnedInClear.add(key)
          return Effect.as(
            Effect.logWarning("a session is stored in clear in an encrypted store: it is sealed at its next write").pipe(
              Effect.annotateLogs({ key, location })
            ),
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
      withLock
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
