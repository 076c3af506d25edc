import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Ref } from "effect"
import * as SingleFlight from "../../src/internal/singleFlight.js"

describe("SingleFlight", () => {
  it.scoped("callers that come while a run is under way share it; one that comes after starts a new one", () =>
    Effect.gen(function* () {
      const runs = yield* Ref.make(0)
      const gate = yield* Deferred.make<void>()
      const shared = yield* SingleFlight.make(
        Effect.zipRight(
          Deferred.await(gate),
          Ref.updateAndGet(runs, (n) => n + 1)
        )
      )
      const callers = yield* Effect.forkAll(Array.from({ length: 100 }, () => shared))
      yield* Effect.yieldNow()
      yield* Deferred.succeed(gate, undefined)
      assert.deepStrictEqual(new Set(yield* Fiber.join(callers)), new Set([1]))
      assert.strictEqual(yield* shared, 2)
      assert.strictEqual(yield* Ref.get(runs), 2)
    })
  )

  it.scoped("an interrupted caller stops waiting without cancelling the run for the others; failures are shared", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const shared = yield* SingleFlight.make(Effect.zipRight(Deferred.await(gate), Effect.fail("refused" as const)))
      const impatient = yield* Effect.fork(shared)
      const patient = yield* Effect.fork(shared)
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(impatient)
      yield* Deferred.succeed(gate, undefined)
      assert.deepStrictEqual(yield* Fiber.await(patient), Exit.fail("refused"))
    })
  )
})
