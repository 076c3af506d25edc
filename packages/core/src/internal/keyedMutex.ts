import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/**
 * One exclusive lock per name, in this process, handed over to waiters in arrival order. A free lock is taken at once,
 * without a fiber or a timer; only a wait is bounded (by `Effect.timeoutFail`, which leaves nothing behind in the
 * caller since the wait registers no finalizer). A name takes memory only while it is held.
 */
export interface KeyedMutex {
  /** Takes `name`, waiting at most `timeout`; succeeds with the release, to run exactly once. */
  readonly take: <E>(
    name: string,
    timeout: Duration.DurationInput,
    onTimeout: () => E
  ) => Effect.Effect<Effect.Effect<void>, E>
  /** How many names are held now. */
  readonly size: () => number
}

interface Held {
  /** Called in arrival order when the lock is handed over; each returns whether it took it. */
  readonly waiters: Array<() => boolean>
}

export const make = (): KeyedMutex => {
  const held = new Map<string, Held>()

  const release = (name: string) =>
    Effect.sync(() => {
      const entry = held.get(name)
      if (entry === undefined) return
      while (entry.waiters.length > 0) {
        // a waiter that gave up meanwhile declines, and the next one is asked
        if (entry.waiters.shift()!()) return
      }
      held.delete(name)
    })

  const take = <E>(
    name: string,
    timeout: Duration.DurationInput,
    onTimeout: () => E
  ): Effect.Effect<Effect.Effect<void>, E> =>
    Effect.suspend(() => {
      const releaseThis = release(name)
      if (!held.has(name)) {
        held.set(name, { waiters: [] })
        return Effect.succeed(releaseThis)
      }
      let state: "waiting" | "granted" | "gone" = "waiting"
      /** Gives up: declines a later handover, or passes on one that came meanwhile. */
      const giveUp = Effect.suspend(() => {
        const granted = state === "granted"
        state = "gone"
        return granted ? releaseThis : Effect.void
      })
      const wait = Effect.async<Effect.Effect<void>>((resume) => {
        // the wait starts in a fiber of the timeout's race: the lock may have been freed before it did
        const entry = held.get(name)
        if (entry === undefined) {
          held.set(name, { waiters: [] })
          state = "granted"
          resume(Effect.succeed(releaseThis))
          return giveUp
        }
        entry.waiters.push(() => {
          if (state !== "waiting") return false
          state = "granted"
          resume(Effect.succeed(releaseThis))
          return true
        })
        // interrupted: the caller gave up, or the timeout won the race
        return giveUp
      })
      // the timeout may win the race just after the handover: then the lock is passed on here
      return Effect.timeoutFail(wait, { duration: timeout, onTimeout }).pipe(Effect.tapError(() => giveUp))
    })

  return { take, size: () => held.size }
}
