import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import type * as Fiber from "effect/Fiber"

/**
 * The time by the fiber's own `Clock` (a `TestClock` under test), read in the step that has the fiber: no effect for
 * a clock reading on a hot path.
 */
export const nowMillis = (fiber: Pick<Fiber.RuntimeFiber<unknown, unknown>, "currentDefaultServices">): number =>
  Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis()
