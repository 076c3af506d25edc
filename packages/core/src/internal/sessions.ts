import type * as Redacted from "effect/Redacted"

/**
 * What a `TokenSessions` service holds in memory, read without an effect: the access token of `key` while it is fresh
 * at `now` (the session's idle time starts again), else `undefined`. `BearerAuth.forSession` reads it on every request.
 */
export const freshTokens = new WeakMap<object, (key: string, now: number) => Redacted.Redacted<string> | undefined>()
