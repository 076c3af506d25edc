import { HttpClient, HttpClientResponse } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { BearerAuth, Errors, Session, TokenRefresher, TokenSessions, TokenSet, TokenStore } from "@token-refresher/core"
import { MockTokenEndpoint } from "@token-refresher/testing"
import { DateTime, Duration, Effect, Layer, Option, Redacted, Ref, TestClock } from "effect"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { assertError, clientId, clientSecret, requestCount, requests, tokenUrl } from "./utils.js"

const expired = (key: string) =>
  new TokenSet.TokenSet({
    accessToken: Redacted.make(""),
    refreshToken: Option.some(Redacted.make(`refresh-${key}`)),
    tokenType: "Bearer",
    expiresAt: DateTime.unsafeMake(0),
    scope: [],
    issuedAt: DateTime.unsafeMake(-3600_000)
  })

const valid = (key: string, expiresAt = 3600_000) =>
  new TokenSet.TokenSet({
    accessToken: Redacted.make(`access-${key}`),
    refreshToken: Option.some(Redacted.make(`refresh-${key}`)),
    tokenType: "Bearer",
    expiresAt: DateTime.unsafeMake(expiresAt),
    scope: [],
    issuedAt: DateTime.unsafeMake(0)
  })

/** Answers `access-for-<refresh token>`, so every caller can tell whose token it got. */
const echo: MockTokenEndpoint.Handler = () =>
  MockTokenEndpoint.json((request: MockTokenEndpoint.RecordedRequest) => ({
    access_token: `access-for-${request.form.refresh_token}`,
    token_type: "Bearer",
    expires_in: 3600
  }))

const sessionsOn = (
  store: Layer.Layer<TokenStore.TokenStore>,
  replies: Iterable<MockTokenEndpoint.Reply> | MockTokenEndpoint.Handler,
  options?: TokenSessions.Options
) =>
  TokenSessions.layer(options).pipe(
    Layer.provideMerge(store),
    Layer.provideMerge(TokenRefresher.layer({ tokenUrl, clientId, clientSecret })),
    Layer.provideMerge(MockTokenEndpoint.layer(replies)),
    Layer.orDie
  )

const keys = (n: number) => Array.from({ length: n }, (_, i) => `user-${i}`)

describe("TokenSessions", () => {
  it.effect(
    "1,000 keys × 10 concurrent callers on expired tokens: exactly 1,000 refreshes, each caller its own token",
    () =>
      Effect.gen(function* () {
        const sessions = yield* TokenSessions.TokenSessions
        const callers = keys(1000).flatMap((key) => Array.from({ length: 10 }, () => key))
        const results = yield* Effect.forEach(
          callers,
          (key) => Effect.map(sessions.accessToken(key), (token) => [key, Redacted.value(token)] as const),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(yield* requestCount, 1000)
        for (const [key, token] of results) assert.strictEqual(token, `access-for-refresh-${key}`)
        const sent = (yield* requests).map((r) => r.form.refresh_token)
        assert.strictEqual(new Set(sent).size, 1000)
      }).pipe(Effect.provide(sessionsOn(TokenStore.layerMemory(keys(1000).map((k) => [k, expired(k)])), echo)))
  )

  it.effect("one manager per key while in use; released after idleTimeToLive", () =>
    Effect.gen(function* () {
      const sessions = yield* TokenSessions.TokenSessions
      const first = yield* Effect.scoped(sessions.manager("alice"))
      const again = yield* Effect.scoped(sessions.manager("alice"))
      assert.strictEqual(again, first)
      assert.notStrictEqual(yield* Effect.scoped(sessions.manager("bob")), first)
      yield* TestClock.adjust("59 seconds")
      assert.strictEqual(yield* Effect.scoped(sessions.manager("alice")), first)
      yield* TestClock.adjust("61 seconds")
      const fresh = yield* Effect.scoped(sessions.manager("alice"))
      assert.notStrictEqual(fresh, first)
      assert.strictEqual(fresh.key, "alice")
    }).pipe(
      Effect.provide(
        sessionsOn(
          TokenStore.layerMemory([
            ["alice", valid("alice")],
            ["bob", valid("bob")]
          ]),
          [],
          {
            idleTimeToLive: "1 minute"
          }
        )
      )
    )
  )

  it.effect("save resets the live manager of its key (a new login), remove forgets the session", () =>
    Effect.gen(function* () {
      const sessions = yield* TokenSessions.TokenSessions
      assert.strictEqual(Redacted.value(yield* sessions.accessToken("alice")), "access-alice")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const held = yield* sessions.manager("alice")
          yield* sessions.save("alice", valid("alice-again"))
          // even a manager still held by someone stops serving what it cached
          assert.strictEqual(Redacted.value(yield* held.accessToken), "access-alice-again")
        })
      )
      assert.strictEqual(Redacted.value(yield* sessions.accessToken("alice")), "access-alice-again")
      yield* sessions.remove("alice")
      assertError(yield* Effect.flip(sessions.accessToken("alice")), new Errors.NoToken({}))
      assert.strictEqual(Redacted.value(yield* sessions.accessToken("bob")), "access-bob")
      assert.strictEqual(yield* requestCount, 0)
    }).pipe(
      Effect.provide(
        sessionsOn(
          TokenStore.layerMemory([
            ["alice", valid("alice")],
            ["bob", valid("bob")]
          ]),
          []
        )
      )
    )
  )

  it.effect("a Retry-After from the endpoint holds back every session, without a request", () =>
    Effect.gen(function* () {
      const sessions = yield* TokenSessions.TokenSessions
      const first = yield* Effect.flip(sessions.accessToken("user-0"))
      assertError(
        first,
        new Errors.NetworkError({ reason: "Status", status: 429, attempts: 1, retryAfter: Duration.seconds(3600) })
      )
      const others = yield* Effect.forEach(keys(100).slice(1), (key) => Effect.flip(sessions.accessToken(key)), {
        concurrency: "unbounded"
      })
      // no time passes on the TestClock: every other session is held back for exactly the hour, and sends nothing
      const heldBack = new Errors.NetworkError({
        reason: "Status",
        status: 429,
        attempts: 0,
        retryAfter: Duration.seconds(3600),
        detail: "not sent: the token endpoint asked this client to wait (Retry-After)"
      })
      for (const error of others) assertError(error, heldBack)
      assert.strictEqual(yield* requestCount, 1)
    }).pipe(
      Effect.provide(
        sessionsOn(TokenStore.layerMemory(keys(100).map((k) => [k, expired(k)])), [MockTokenEndpoint.rateLimited(3600)])
      )
    )
  )

  // live clock: TestClock keeps its sleepers in a sorted list, which 100,000 idle timers would make quadratic
  it.live(
    "memory does not grow with the keys ever seen: 100,000 keys touched once, then the idle time passes",
    () => {
      const all = keys(100_000)
      const farAhead = Date.now() + 3600_000
      return Effect.gen(function* () {
        v8.setFlagsFromString("--expose-gc")
        const gc = vm.runInNewContext("gc") as () => void
        const heap = () => {
          gc()
          gc()
          return process.memoryUsage().heapUsed
        }
        const sessions = yield* TokenSessions.TokenSessions
        const before = heap()
        let peak = 0
        for (let i = 0; i < all.length; i += 10_000) {
          yield* Effect.forEach(all.slice(i, i + 10_000), (key) => sessions.accessToken(key), {
            concurrency: 100,
            discard: true
          })
          peak = Math.max(peak, process.memoryUsage().heapUsed - before)
        }
        yield* Effect.sleep("3 seconds")
        const after = heap() - before
        const mb = (bytes: number) => `${Math.round(bytes / 1e5) / 10} MB`
        console.log(
          `TokenSessions heap: peak +${mb(peak)} while touching 100,000 keys, +${mb(after)} after the idle time`
        )
        assert.isBelow(after, 20e6, `${mb(after)} left after the idle time`)
        assert.strictEqual(yield* requestCount, 0)
      }).pipe(
        Effect.provide(
          sessionsOn(TokenStore.layerMemory(all.map((k) => [k, valid(k, farAhead)])), [], {
            idleTimeToLive: "2 seconds"
          })
        )
      )
    },
    120_000
  )
})

/** An API that records the Authorization header of each request, and answers 401 where `reject` says so, else 204. */
const recordingApi = (reject: (authorization: string) => Effect.Effect<boolean>) =>
  Effect.map(Ref.make<ReadonlyArray<string>>([]), (seen) => ({
    seen,
    api: HttpClient.make((request) =>
      Effect.gen(function* () {
        const auth = request.headers.authorization ?? ""
        yield* Ref.update(seen, (all) => [...all, auth])
        const status = (yield* reject(auth)) ? 401 : 204
        return HttpClientResponse.fromWeb(request, new Response(null, { status }))
      })
    )
  }))

describe("BearerAuth.forSession", () => {
  it.effect("sends the session's token, and recovers from a 401 for that session only", () =>
    Effect.gen(function* () {
      const rejectOnce = yield* Ref.make(true)
      const { api, seen } = yield* recordingApi((auth) =>
        auth === "Bearer access-alice" ? Ref.getAndSet(rejectOnce, false) : Effect.succeed(false)
      )
      const alice = api.pipe(BearerAuth.forSession("alice"))
      const bob = api.pipe(BearerAuth.forSession("bob"))
      assert.strictEqual((yield* bob.get("https://api.example.com/me")).status, 204)
      assert.strictEqual((yield* alice.get("https://api.example.com/me")).status, 204)
      assert.deepStrictEqual(yield* Ref.get(seen), [
        "Bearer access-bob",
        "Bearer access-alice",
        "Bearer access-for-refresh-alice"
      ])
      assert.deepStrictEqual(
        (yield* requests).map((r) => r.form.refresh_token),
        ["refresh-alice"]
      )
    }).pipe(
      Effect.provide(
        sessionsOn(
          TokenStore.layerMemory([
            ["alice", valid("alice")],
            ["bob", valid("bob")]
          ]),
          echo
        )
      )
    )
  )

  it.effect("a 401 on a token answered from memory is recovered from too: one refresh, the request sent again", () =>
    Effect.gen(function* () {
      const rejecting = yield* Ref.make(false)
      const { api, seen } = yield* recordingApi((auth) =>
        auth === "Bearer access-alice" ? Ref.get(rejecting) : Effect.succeed(false)
      )
      const alice = api.pipe(BearerAuth.forSession("alice"))
      // the first call reads the store; the token is then in memory
      assert.strictEqual((yield* alice.get("https://api.example.com/me")).status, 204)
      yield* Ref.set(rejecting, true)
      assert.strictEqual((yield* alice.get("https://api.example.com/me")).status, 204)
      assert.deepStrictEqual(yield* Ref.get(seen), [
        "Bearer access-alice",
        "Bearer access-alice",
        "Bearer access-for-refresh-alice"
      ])
      assert.deepStrictEqual(
        (yield* requests).map((r) => r.form.refresh_token),
        ["refresh-alice"]
      )
    }).pipe(Effect.provide(sessionsOn(TokenStore.layerMemory([["alice", valid("alice")]]), echo)))
  )

  it.effect("status: the state and the times of a session, never a token; None for a key with nothing stored", () =>
    Effect.gen(function* () {
      yield* TokenSessions.save("active", valid("active"))
      yield* TokenSessions.save("seeded", Session.seeded("seed-token", 1_000))
      const rejected = yield* Effect.flip(TokenSessions.accessToken("doomed"))
      assertError(rejected, new Errors.InvalidGrant({ status: 400, description: "Refresh token revoked" }))
      const active = Option.getOrThrow(yield* TokenSessions.status("active"))
      assert.deepStrictEqual(
        { ...active, expiresAt: active.expiresAt?.epochMillis, issuedAt: active.issuedAt?.epochMillis },
        { key: "active", state: "Active", expiresAt: 3600_000, issuedAt: 0 }
      )
      assert.deepStrictEqual(Option.getOrThrow(yield* TokenSessions.status("seeded")), {
        key: "seeded",
        state: "Seeded",
        seededAt: DateTime.unsafeMake(1_000)
      })
      const doomed = Option.getOrThrow(yield* TokenSessions.status("doomed"))
      assert.strictEqual(doomed.state, "Rejected")
      assert.strictEqual(doomed.rejectedAt?.epochMillis, 0)
      assertError(doomed.error!, rejected as Errors.InvalidGrant)
      assert.deepStrictEqual(Object.keys(doomed).sort(), ["error", "key", "rejectedAt", "state"])
      for (const status of [active, doomed]) {
        for (const secret of ["access-active", "refresh-active", "refresh-doomed", "seed-token"]) {
          assert.notInclude(JSON.stringify(status), secret)
        }
      }
      assert.isTrue(Option.isNone(yield* TokenSessions.status("nobody")))
      // a new login brings a rejected session back
      yield* TokenSessions.save("doomed", valid("doomed-again"))
      assert.strictEqual(Redacted.value(yield* TokenSessions.accessToken("doomed")), "access-doomed-again")
      assert.strictEqual(yield* requestCount, 1)
      // the module accessors reach the service
      yield* TokenSessions.remove("doomed")
      assert.isTrue(Option.isNone(yield* TokenSessions.status("doomed")))
      const manager = yield* Effect.scoped(TokenSessions.manager("active"))
      assert.strictEqual(manager.key, "active")
    }).pipe(
      Effect.provide(
        sessionsOn(TokenStore.layerMemory([["doomed", expired("doomed")]]), [
          MockTokenEndpoint.invalidGrant("Refresh token revoked")
        ])
      )
    )
  )
})
