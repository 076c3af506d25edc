/**
 * The order of `localStorage` writes across tabs.
 *
 * A tab reads `localStorage` from a copy of its own, which the browser brings up to date with another tab's writes by
 * a message to that tab; nothing orders that message before a Web Lock granted to the same tab afterwards. Chromium
 * grants the lock first often enough: in a test of 4 tabs that each add 1 to a stored counter 50 times under the lock,
 * 10 to 20 of the 200 additions were lost, because the next holder read the value from before the last write. For
 * sessions this means a tab that sends a refresh token another tab has already rotated (`invalid_grant`, and a server
 * that detects reuse revokes the whole family).
 *
 * So each write carries a number, one more than the session's last, and the tab that writes it takes a shared Web Lock
 * that names the number (a "witness") before it lets the session's lock go, and holds it for a few seconds. Whoever
 * takes the session's lock next asks the lock manager which witnesses are held (the same manager that granted the
 * lock, so the last witness is there) and waits until its own copy shows that write, or a later one. The browser frees
 * a closed tab's witnesses with its locks: a tab that closes within milliseconds of a write leaves the next holder
 * without that order, as before.
 */
import { TokenStore } from "@token-refresher/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { errorName } from "./shared.js"

/** A stored value with its write number: `@<n>:<value>`. A value without it (written before 0.7) is number 0. */
const numbered = /^@(\d{1,15}):/

/** The value and its write number, as stored. */
export const parse = (stored: string): { readonly n: number; readonly value: string } => {
  const match = numbered.exec(stored)
  return match === null ? { n: 0, value: stored } : { n: Number(match[1]), value: stored.slice(match[0].length) }
}

/** `value` as stored with its write number `n`. */
export const format = (n: number, value: string): string => `@${n}:${value}`

/** What the last write of a session did: wrote number `n`, or removed the session as write `n`. */
export interface Witnessed {
  readonly n: number
  readonly removed: boolean
}

const witnessPrefix = "token-refresher:written:"

/** The witness of write `n` of `key` at `location`: the number first, so no key can be read as another's. */
export const witnessName = (location: string, key: string, written: Witnessed): string =>
  `${witnessPrefix}${written.n}:${written.removed ? "removed" : "set"}:${location}:${key}`

const witnessPattern = /^(\d{1,15}):(set|removed):/

/** The latest write of `key` at `location` among the held witnesses. */
export const latest = (held: ReadonlyArray<LockInfo>, location: string, key: string): Witnessed | undefined => {
  const suffix = `${location}:${key}`
  let found: Witnessed | undefined
  for (const lock of held) {
    const name = lock.name
    if (name === undefined || !name.startsWith(witnessPrefix)) continue
    const rest = name.slice(witnessPrefix.length)
    const match = witnessPattern.exec(rest)
    if (match === null || rest.slice(match[0].length) !== suffix) continue
    const n = Number(match[1])
    if (found === undefined || n > found.n) found = { n, removed: match[2] === "removed" }
  }
  return found
}

/** Whether the stored value (`null`: none) shows the write `written`, or a later one. */
export const shows = (stored: string | null, written: Witnessed): boolean =>
  stored === null ? written.removed : parse(stored).n >= written.n + (written.removed ? 1 : 0)

/** How often a tab that waits for another tab's write looks again, besides the `storage` event. */
const pollMillis = 10

/**
 * How long a tab holds the witness of its write. Another tab's copy takes milliseconds to show it; a witness that
 * outlived every later write's (their tabs closed) keeps the next holder waiting for at most this long.
 */
export const witnessMillis = 5_000

/** The write order of one `localStorage` store instance (one tab). */
export interface Order {
  /** With the session's lock just taken: wait until this tab's copy shows the session's last write. */
  readonly catchUp: (key: string) => Effect.Effect<void, TokenStore.TokenStoreError>
  /** The number of the next write of `key`, from what is stored and what catching up found. */
  readonly next: (key: string, stored: string | null) => number
  /** Hold the witness of `written` for `key` for `witnessMillis`. */
  readonly witness: (key: string, written: Witnessed) => Effect.Effect<void, TokenStore.TokenStoreError>
}

/** A Web Lock call that failed, named by its DOM error (never a value). */
const failure = (location: string, what: string) => (cause: unknown) =>
  new TokenStore.TokenStoreError({ reason: "Lock", location, detail: `${what} failed: ${errorName(cause)}` })

/** Resumes at the next `storage` event for `name`, or after `pollMillis`, whichever comes first. */
const nextChange = (name: string): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const done = () => {
      clearTimeout(timer)
      globalThis.removeEventListener?.("storage", onStorage)
    }
    const onStorage = (event: StorageEvent) => {
      if (event.key !== name && event.key !== null) return
      done()
      resume(Effect.void)
    }
    const timer = setTimeout(() => {
      done()
      resume(Effect.void)
    }, pollMillis)
    globalThis.addEventListener?.("storage", onStorage)
    return Effect.sync(done)
  })

export const make = (
  location: string,
  storage: Storage,
  itemName: (key: string) => string
): Effect.Effect<Order, never, Scope.Scope> =>
  Effect.gen(function* () {
    /** The last write number of each session that this tab's witnesses or another's showed it. */
    const seen = new Map<string, number>()
    const see = (key: string, n: number) => seen.set(key, Math.max(seen.get(key) ?? 0, n))
    /** The releases of the witnesses this tab holds. */
    const releases = new Set<() => void>()
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const release of releases) release()
        releases.clear()
      })
    )

    const query = Effect.tryPromise({
      try: () => globalThis.navigator.locks.query(),
      catch: failure(location, "asking the Web Locks for the last write")
    })

    // each look asks the lock manager again: a witness may go (its time is up) while this tab waits for its write
    const catchUp = (key: string): Effect.Effect<void, TokenStore.TokenStoreError> => {
      const name = itemName(key)
      const look: Effect.Effect<void, TokenStore.TokenStoreError> = Effect.flatMap(query, (snapshot) => {
        const written = latest(snapshot.held ?? [], location, key)
        if (written === undefined) return Effect.void
        see(key, written.n)
        if (shows(storage.getItem(name), written)) return Effect.void
        // the write has not reached this tab's copy yet; the lock's timeout bounds the wait
        return Effect.zipRight(
          nextChange(name),
          Effect.suspend(() => look)
        )
      })
      return look
    }

    const next = (key: string, stored: string | null): number =>
      Math.max(stored === null ? 0 : parse(stored).n, seen.get(key) ?? 0) + 1

    const witness = (key: string, written: Witnessed): Effect.Effect<void, TokenStore.TokenStoreError> =>
      Effect.async<void, TokenStore.TokenStoreError>((resume) => {
        globalThis.navigator.locks
          .request(witnessName(location, key, written), { mode: "shared" }, () => {
            see(key, written.n)
            resume(Effect.void)
            return new Promise<void>((resolve) => {
              const release = () => {
                clearTimeout(timer)
                releases.delete(release)
                resolve()
              }
              const timer = setTimeout(release, witnessMillis)
              releases.add(release)
            })
          })
          .catch((cause: unknown) => resume(Effect.fail(failure(location, "holding the witness of a write")(cause))))
      })

    return { catchUp, next, witness }
  })

/** The value stored under `name`, without its write number. */
export const valueOf = (stored: string | null): Option.Option<string> =>
  stored === null ? Option.none() : Option.some(parse(stored).value)
