import { TokenStore } from "@token-refresher/core"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

/** The name of the Web Lock that guards `key` of the store at `location`: one origin-wide name per session. */
export const lockName = (location: string, key: string): string => `token-refresher:lock:${location}:${key}`

/** The `BroadcastChannel` on which the store at `location` announces its writes and removes. */
export const channelName = (location: string): string => `token-refresher:${location}`

/**
 * Takes the Web Lock `name` (exclusive, origin-wide: every tab, window and worker of the origin) and holds it until
 * the scope closes. The wait can be interrupted (the store bounds it with `lockTimeout`): the request is then aborted.
 * The browser frees the lock by itself when the tab that holds it closes or crashes.
 */
export const acquireWebLock =
  (location: string) =>
  (name: string): Effect.Effect<void, TokenStore.TokenStoreError, Scope.Scope> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(function* () {
        const locks = globalThis.navigator?.locks
        if (locks === undefined) {
          return yield* new TokenStore.TokenStoreError({
            reason: "Lock",
            location,
            detail: "this page has no Web Locks (navigator.locks): it needs a secure context (https or localhost)"
          })
        }
        const controller = new AbortController()
        let release!: () => void
        const held = new Promise<void>((resolve) => {
          release = resolve
        })
        // added before the request: whatever happens next (granted, interrupted, both at once), closing the scope
        // gives the lock back or withdraws the request
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            controller.abort()
            release()
          })
        )
        yield* restore(
          Effect.async<void, TokenStore.TokenStoreError>((resume) => {
            locks
              .request(name, { mode: "exclusive", signal: controller.signal }, () => {
                resume(Effect.void)
                return held
              })
              .catch((cause: unknown) => {
                if (controller.signal.aborted) return
                resume(
                  Effect.fail(
                    new TokenStore.TokenStoreError({
                      reason: "Lock",
                      location,
                      detail: `the Web Lock failed: ${cause instanceof Error ? cause.name : "unknown error"}`
                    })
                  )
                )
              })
            return Effect.sync(() => controller.abort())
          })
        )
      })
    )

/** What a store instance announces: which key it wrote or removed. Never a value. */
interface Changed {
  readonly type: "token-refresher/changed"
  readonly key: string
}

const isChanged = (data: unknown): data is Changed =>
  typeof data === "object" &&
  data !== null &&
  (data as Changed).type === "token-refresher/changed" &&
  typeof (data as Changed).key === "string"

/** A store instance's line to the other instances of the same store (other tabs): it tells and hears changed keys. */
export interface News {
  readonly announce: (key: string) => Effect.Effect<void>
  /** The keys other instances announced. This instance does not hear its own announcements. */
  readonly heard: Stream.Stream<string>
}

/** One `BroadcastChannel` per store instance, closed with the scope; `None`-like no-op where there is none. */
export const news = (location: string): Effect.Effect<News, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() =>
        typeof globalThis.BroadcastChannel === "function" ? new BroadcastChannel(channelName(location)) : undefined
      ),
      (channel) => Effect.sync(() => channel?.close())
    ),
    (channel): News => ({
      announce: (key) =>
        Effect.sync(() => {
          try {
            channel?.postMessage({ type: "token-refresher/changed", key } satisfies Changed)
          } catch {
            // a closed channel (the store is being shut down): nobody left to tell
          }
        }),
      heard:
        channel === undefined
          ? Stream.empty
          : Stream.async<string>((emit) => {
              const listener = (event: MessageEvent) => {
                if (isChanged(event.data)) void emit.single(event.data.key)
              }
              channel.addEventListener("message", listener)
              return Effect.sync(() => channel.removeEventListener("message", listener))
            })
    })
  )

/** What makes a store hold across tabs: its Web Locks, its `lockTimeout`, and the news of the other tabs. */
export const acrossTabs = (location: string, lockTimeout: Duration.DurationInput | undefined, news: News) => ({
  acquire: acquireWebLock(location),
  lockName: (key: string) => lockName(location, key),
  lockTimeout,
  changes: news.heard
})

/** Runs a browser storage call, failing with a `TokenStoreError` of `reason` that names the error, never a value. */
export const attempt = <A>(
  location: string,
  reason: "Read" | "Write",
  what: string,
  f: () => A
): Effect.Effect<A, TokenStore.TokenStoreError> =>
  Effect.try({
    try: f,
    catch: (cause) =>
      new TokenStore.TokenStoreError({
        reason,
        location,
        detail: `${what} failed: ${errorName(cause)}`
      })
  })

/** The name of a DOM error (`QuotaExceededError`, `SecurityError`, ...), never its message, which may quote a value. */
export const errorName = (cause: unknown): string =>
  cause instanceof Error || (typeof DOMException === "function" && cause instanceof DOMException)
    ? (cause as Error).name
    : "unknown error"
