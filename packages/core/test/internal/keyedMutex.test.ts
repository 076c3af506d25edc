import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, TestClock } from "effect"
import * as KeyedMutex from "../../src/internal/keyedMutex.js"

const timeout = () => "timeout" as const

describe("KeyedMutex", () => {
  it.effect(
    "a free name is taken at once; the next taker waits its turn, in arrival order; names are independent",
    () =>
      Effect.gen(function* () {
        const mutex = KeyedMutex.make()
        const log: Array<string> = []
        const releaseA = yield* mutex.take("a", "1 minute", timeout)
        const releaseB = yield* mutex.take("b", "1 minute", timeout)
        const waiter = (who: string) =>
          Effect.fork(
            Effect.flatMap(mutex.take("a", "1 minute", timeout), (release) =>
              Effect.zipRight(
                Effect.sync(() => log.push(who)),
                release
              )
            )
          )
        const first = yield* waiter("first")
        const second = yield* waiter("second")
        yield* Effect.yieldNow()
        assert.deepStrictEqual(log, [])
        assert.strictEqual(mutex.size(), 2)
        yield* releaseA
        yield* Fiber.join(first)
        yield* Fiber.join(second)
        assert.deepStrictEqual(log, ["first", "second"])
        yield* releaseB
        assert.strictEqual(mutex.size(), 0, "a name takes memory only while held")
      })
  )

  it.effect("a wait longer than the timeout fails with onTimeout, and the lock goes to the next waiter", () =>
    Effect.gen(function* () {
      const mutex = KeyedMutex.make()
      const release = yield* mutex.take("a", "1 minute", timeout)
      const impatient = yield* Effect.fork(mutex.take("a", "1 second", timeout))
      const patient = yield* Effect.fork(mutex.take("a", "1 minute", timeout))
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(yield* Effect.flip(Fiber.join(impatient)), "timeout")
      yield* release
      const next = yield* Fiber.join(patient)
      assert.strictEqual(mutex.size(), 1)
      yield* next
      assert.strictEqual(mutex.size(), 0)
    })
  )

  it.effect("an interrupted waiter declines the lock: it passes to the one after, and is never lost", () =>
    Effect.gen(function* () {
      const mutex = KeyedMutex.make()
      const release = yield* mutex.take("a", "1 minute", timeout)
      const gone = yield* Effect.fork(mutex.take("a", "1 minute", timeout))
      const next = yield* Effect.fork(mutex.take("a", "1 minute", timeout))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(gone)
      yield* release
      yield* Effect.flatten(Fiber.join(next))
      assert.strictEqual(mutex.size(), 0)
      // and it can be taken again at once
      yield* Effect.flatten(mutex.take("a", "1 second", timeout))
      assert.strictEqual(mutex.size(), 0)
    })
  )
})
