import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as HashSet from "effect/HashSet"
import * as RcMap from "effect/RcMap"
import * as Scope from "effect/Scope"
import type * as TokenStore from "../TokenStore.js"
import { TokenStoreError } from "../TokenStore.js"

const defaultLockTimeout = Duration.seconds(30)

export const make = (backend: TokenStore.Backend): Effect.Effect<TokenStore.Service, never, Scope.Scope> =>
  Effect.gen(function* () {
    const lockTimeout = Duration.decode(backend.lockTimeout ?? defaultLockTimeout)
    const lockName = backend.lockName ?? ((key: string) => key)
    // one queue per lock in this process, released with its last user, so memory does not grow with the keys seen
    const queues = yield* RcMap.make({ lookup: (_: string) => Effect.makeSemaphore(1) })
    // the locks the current fiber holds, for re-entrancy
    const held = yield* FiberRef.make(HashSet.empty<string>())

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
        if (backend.acquire !== undefined) yield* backend.acquire(name)
      }).pipe(
        Effect.timeoutFail({
          duration: lockTimeout,
          onTimeout: () =>
            new TokenStoreError({
              reason: "Lock",
              location: backend.location,
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
                  backend.around === undefined ? self : backend.around(name)(self),
                  held,
                  HashSet.add(names, name)
                )
              ),
            (scope, exit) => Scope.close(scope, exit)
          )
        })

    return {
      get: backend.get,
      set: (key, tokens) => withLock(key)(backend.set(key, tokens)),
      remove: (key) => withLock(key)(backend.remove(key)),
      withLock
    }
  })
