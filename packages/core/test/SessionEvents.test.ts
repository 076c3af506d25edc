import { assert, describe, it } from "@effect/vitest"
import {
  Errors,
  Session,
  SessionEvent,
  TokenRefresher,
  TokenSessions,
  TokenSet,
  TokenStore
} from "@token-refresher/core"
import { MockTokenEndpoint } from "@token-refresher/testing"
import { DateTime, Effect, Fiber, Layer, Option, Redacted, Ref, Stream } from "effect"
import { clientId, clientSecret, requestCount, tokenUrl } from "./utils.js"

const sessionsOn = (
  replies: Iterable<MockTokenEndpoint.Reply> | MockTokenEndpoint.Handler,
  options?: TokenSessions.Options,
  initial?: TokenStore.Initial
) =>
  TokenSessions.layer(options).pipe(
    Layer.provideMerge(TokenStore.layerMemory(initial)),
    Layer.provideMerge(TokenRefresher.layer({ tokenUrl, clientId, clientSecret })),
    Layer.provideMerge(MockTokenEndpoint.layer(replies)),
    Layer.orDie
  )

/** Collects the events from now on; `take` gives those seen so far. */
const collect = Effect.gen(function* () {
  const seen = yield* Ref.make<ReadonlyArray<SessionEvent.SessionEvent>>([])
  const fiber = yield* Effect.fork(
    Stream.runForEach(TokenSessions.events, (event) => Ref.update(seen, (all) => [...all, event]))
  )
  // let the subscriber subscribe before anything is published
  for (let i = 0; i < 5; i++) yield* Effect.yieldNow()
  // the subscriber runs in its own fiber: give it turns until it has taken what was published
  const take = Effect.zipRight(Effect.repeatN(Effect.yieldNow(), 20), Ref.get(seen))
  return { take, fiber }
})

/** An event without its error's stack, for comparison. */
const plain = (event: SessionEvent.SessionEvent) =>
  "error" in event ? { ...event, error: { _tag: event.error._tag, message: event.error.message } } : { ...event }

describe("TokenSessions.events", () => {
  it.effect("a scripted run: login, refresh with rotation, invalid_grant, another failure, logout, in order", () =>
    Effect.gen(function* () {
      const { take } = yield* collect
      const sessions = yield* TokenSessions.TokenSessions
      yield* sessions.save("alice", Session.seeded("refresh-alice"))
      assert.strictEqual(Redacted.value(yield* sessions.accessToken("alice")), "access-1")
      yield* sessions.save(
        "bob",
        TokenSet.make({ accessToken: "old", refreshToken: "refresh-bob", expiresAt: 0, issuedAt: -3_600_000 })
      )
      const rejected = yield* Effect.flip(sessions.accessToken("bob"))
      assert.strictEqual(rejected._tag, "InvalidGrant")
      // alice's token is due again: the server now refuses the client
      yield* sessions.save(
        "alice",
        TokenSet.make({ accessToken: "a", refreshToken: "refresh-alice-2", expiresAt: 0, issuedAt: -3_600_000 })
      )
      const failed = yield* Effect.flip(sessions.accessToken("alice"))
      assert.strictEqual(failed._tag, "InvalidClient")
      yield* sessions.remove("alice")
      const events = yield* take
      assert.deepStrictEqual(events.map(plain), [
        { _tag: "Saved", key: "alice" },
        { _tag: "Refreshed", key: "alice", rotated: true, expiresAt: DateTime.unsafeMake(3_600_000) },
        { _tag: "Saved", key: "bob" },
        {
          _tag: "Rejected",
          key: "bob",
          error: { _tag: "InvalidGrant", message: (rejected as Errors.InvalidGrant).message }
        },
        { _tag: "Saved", key: "alice" },
        { _tag: "RefreshFailed", key: "alice", error: { _tag: "InvalidClient", message: failed.message } },
        { _tag: "Removed", key: "alice", revoked: false }
      ])
      // no event holds a token
      const text = JSON.stringify(events)
      for (const secret of ["access-1", "refresh-alice", "refresh-bob", "refresh-1"]) assert.notInclude(text, secret)
      assert.strictEqual(yield* requestCount, 3)
    }).pipe(
      Effect.provide(
        sessionsOn([
          MockTokenEndpoint.ok({ rotate: true, accessToken: "access-1", refreshToken: "refresh-1" }),
          MockTokenEndpoint.invalidGrant(),
          MockTokenEndpoint.invalidClient()
        ])
      )
    )
  )

  it.effect("a subscriber that never reads does not slow a refresh: it loses the oldest events", () =>
    Effect.gen(function* () {
      const sessions = yield* TokenSessions.TokenSessions
      // a subscriber stuck on its first event
      const stuck = yield* Effect.fork(Stream.runForEach(sessions.events, () => Effect.never))
      for (let i = 0; i < 5; i++) yield* Effect.yieldNow()
      const keys = Array.from({ length: 50 }, (_, i) => `user-${i}`)
      for (const key of keys) yield* sessions.save(key, Session.seeded(`refresh-${key}`))
      const tokens = yield* Effect.forEach(keys, (key) => sessions.accessToken(key), { concurrency: 10 })
      assert.strictEqual(tokens.length, 50)
      assert.strictEqual(yield* requestCount, 50)
      yield* Fiber.interrupt(stuck)
      // a subscriber that reads sees what comes after it subscribed
      const { take } = yield* collect
      yield* sessions.remove("user-0")
      assert.deepStrictEqual((yield* take).map(plain), [{ _tag: "Removed", key: "user-0", revoked: false }])
    }).pipe(Effect.provide(sessionsOn(() => MockTokenEndpoint.ok(), { eventBuffer: 4 })))
  )
})

describe("TokenSessions.list", () => {
  const at = DateTime.unsafeMake(0)
  const active = (key: string) =>
    Session.active(
      TokenSet.make({ accessToken: `a-${key}`, refreshToken: `r-${key}`, expiresAt: 3_600_000, issuedAt: 0 })
    )
  const rejected = new Session.Rejected({
    refreshToken: Option.none(),
    rejectedAt: at,
    error: new Errors.InvalidGrant({ status: 400, description: "revoked" })
  })
  const stored: ReadonlyArray<readonly [string, Session.Session]> = [
    ["a", active("a")],
    ["b", Session.seeded("r-b", 0)],
    ["c", rejected],
    ["d", active("d")],
    ["e", Session.seeded("r-e", 0)]
  ]

  it.effect("pages in key order, filters by state, and says where the next page starts", () =>
    Effect.gen(function* () {
      const page = (options: TokenSessions.ListOptions) =>
        Effect.map(TokenSessions.list(options), ({ next, sessions }) => ({
          keys: sessions.map((s) => `${s.key}:${s.state}`),
          next: Option.getOrNull(next)
        }))
      assert.deepStrictEqual(yield* page({ limit: 2 }), { keys: ["a:Active", "b:Seeded"], next: "b" })
      assert.deepStrictEqual(yield* page({ limit: 2, after: "b" }), { keys: ["c:Rejected", "d:Active"], next: "d" })
      assert.deepStrictEqual(yield* page({ limit: 2, after: "d" }), { keys: ["e:Seeded"], next: null })
      assert.deepStrictEqual(yield* page({}), {
        keys: ["a:Active", "b:Seeded", "c:Rejected", "d:Active", "e:Seeded"],
        next: null
      })
      assert.deepStrictEqual(yield* page({ state: "Active", limit: 2 }), { keys: ["a:Active"], next: "b" })
      assert.deepStrictEqual(yield* page({ state: "Active", limit: 2, after: "b" }), { keys: ["d:Active"], next: "d" })
      assert.deepStrictEqual(yield* page({ state: "Active", limit: 2, after: "d" }), { keys: [], next: null })
      const all = yield* TokenSessions.list({ state: "Rejected" })
      assert.deepStrictEqual(all.sessions, [{ key: "c", state: "Rejected", rejectedAt: at, error: rejected.error }])
      assert.strictEqual(yield* requestCount, 0)
    }).pipe(Effect.provide(sessionsOn([], undefined, stored)))
  )
})
