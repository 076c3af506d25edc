import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"

/**
 * One run of `self` at a time, shared by every caller that comes while it runs. The run is forked in the scope of
 * `make`, so a caller that is interrupted stops waiting without cancelling it for the others; a caller that comes
 * after it ended starts a new one.
 */
export const make = <A, E>(self: Effect.Effect<A, E>): Effect.Effect<Effect.Effect<A, E>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const inflight = yield* Ref.make(Option.none<Deferred.Deferred<A, E>>())
    return Effect.uninterruptibleMask((restore) =>
      Effect.gen(function* () {
        // only the leader allocates a Deferred: the others find the one in flight
        const [flight, leader] = yield* Effect.fiberIdWith((fiberId) =>
          Ref.modify(
            inflight,
            (running): [[Deferred.Deferred<A, E>, boolean], Option.Option<Deferred.Deferred<A, E>>] => {
              if (Option.isSome(running)) return [[running.value, false], running]
              const mine = Deferred.unsafeMake<A, E>(fiberId)
              return [[mine, true], Option.some(mine)]
            }
          )
        )
        if (leader) {
          yield* self.pipe(
            Effect.interruptible,
            Effect.exit,
            Effect.flatMap((exit) => Effect.zipRight(Ref.set(inflight, Option.none()), Deferred.done(flight, exit))),
            Effect.forkIn(scope)
          )
        }
        return yield* restore(Deferred.await(flight))
      })
    )
  })
