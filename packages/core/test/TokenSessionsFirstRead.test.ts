import { assert, describe, it } from "@effect/vitest"
import { Session, TokenSessions, TokenSet, TokenStore } from "@token-refresher/core"
import { MockTokenEndpoint } from "@token-refresher/testing"
import { Deferred, Effect, Fiber, FiberId, Layer, Logger, Option, Redacted } from "effect"
import { refresherWith, requestCount } from "./utils.js"

const hour = 3_600_000
const day = 24 * hour

const stored = (name: string, fields?: Partial<TokenSet.MakeOptions>) =>
  Session.active(
    TokenSet.make({
      accessToken: `access-${name}`,
      refreshToken: `refresh-${name}`,
      expiresAt: hour,
      issuedAt: 0,
      ...fields
    })
  )

/**
 * A memory store that counts its reads, and whose reads answer only when `gate` opens, if one is given (a slow
 * database): the test decides when a read returns.
 */
const countingStore = (sessions: ReadonlyArray<readonly [string, Session.Session]>, gate?: Deferred.Deferred<void>) => {
  const reads = { count: 0 }
  const layer = Layer.scoped(
    TokenStore.TokenStore,
    Effect.map(TokenStore.makeMemory(sessions), (memory) =>
      TokenStore.TokenStore.of({
        ...memory,
        get: (key) =>
          Effect.zipRight(
            Effect.sync(() => reads.count++),
            // what was there when the read started, answered when the gate opens
            Effect.zipLeft(memory.get(key), gate === undefined ? Effect.void : Deferred.await(gate))
          )
      })
    )
  )
  return { reads, layer }
}

const sessionsOn = (store: Layer.Layer<TokenStore.TokenStore>, replies: Iterable<MockTokenEndpoint.Reply> = []) =>
  TokenSessions.layer().pipe(Layer.provideMerge(store), Layer.provideMerge(refresherWith(replies)))

const token = (key: string) => Effect.map(TokenSessions.accessToken(key), Redacted.value)

describe("TokenSessions: the first call for a session", () => {
  it.effect("10 callers of a session stored with a fresh token: one read of the store, no request, then none", () => {
    const gate = Deferred.unsafeMake<void>(FiberId.none)
    const { reads, layer } = countingStore([["alice", stored("alice")]], gate)
    return Effect.gen(function* () {
      // the 10 callers all come while the store's answer is on its way
      const callers = yield* Effect.fork(
        Effect.all(
          Array.from({ length: 10 }, () => token("alice")),
          { concurrency: "unbounded" }
        )
      )
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow()
      yield* Deferred.succeed(gate, undefined)
      const tokens = yield* Fiber.join(callers)
      assert.deepStrictEqual(
        tokens,
        Array.from({ length: 10 }, () => "access-alice")
      )
      assert.strictEqual(reads.count, 1)
      assert.strictEqual(yield* token("alice"), "access-alice")
      assert.strictEqual(reads.count, 1)
      assert.strictEqual(yield* requestCount, 0)
    }).pipe(Effect.provide(sessionsOn(layer)))
  })

  it.effect(
    "a session saved while its first read is under way: that read is not kept, every call has the saved token",
    () => {
      const gate = Deferred.unsafeMake<void>(FiberId.none)
      const { reads, layer } = countingStore([["alice", stored("alice")]], gate)
      return Effect.gen(function* () {
        const first = yield* Effect.fork(token("alice"))
        while (reads.count === 0) yield* Effect.yieldNow()
        // the write does not wait for the read (only reads are gated)
        yield* TokenSessions.save("alice", stored("alice-2"))
        yield* Deferred.succeed(gate, undefined)
        // the read started before the write: its token is not kept, and the call asks the session's manager
        assert.strictEqual(yield* Fiber.join(first), "access-alice-2")
        assert.strictEqual(yield* token("alice"), "access-alice-2")
        assert.strictEqual(reads.count, 2)
      }).pipe(Effect.provide(sessionsOn(layer)))
    }
  )

  it.effect("a session to refresh, or one whose refresh token ends within the warning, goes to its manager", () => {
    const { reads, layer } = countingStore([
      ["expired", stored("expired", { expiresAt: 0, issuedAt: -hour })],
      ["ending", stored("ending", { refreshTokenExpiresAt: 2 * day })]
    ])
    const warnings: Array<unknown> = []
    const logger = Logger.make(({ logLevel, message }) => {
      if (logLevel._tag === "Warning") warnings.push(message)
    })
    return Effect.gen(function* () {
      assert.strictEqual(yield* token("expired"), "fresh-access-token")
      assert.strictEqual(yield* requestCount, 1)
      assert.strictEqual(yield* token("ending"), "access-ending")
      assert.deepStrictEqual(warnings, [
        ["the refresh token reaches its end of life soon: the user must log in again before then"]
      ])
      // the first read, then the manager's own (and its read under the lock, for the refresh)
      assert.strictEqual(reads.count, 3 + 2)
      const refreshed = Option.getOrThrow(yield* TokenStore.get("expired"))
      assert.strictEqual(Redacted.value(Option.getOrThrow(Session.tokens(refreshed)).accessToken), "fresh-access-token")
    }).pipe(
      Effect.provide(sessionsOn(layer, [MockTokenEndpoint.ok({ accessToken: "fresh-access-token" })])),
      Effect.provide(Logger.replace(Logger.defaultLogger, logger))
    )
  })

  it.effect(
    "a seed goes to its manager; refused, it stays with its manager, which answers its error without a request",
    () => {
      const { layer } = countingStore([["refused", Session.seeded(Redacted.make("refresh-refused"))]])
      return Effect.gen(function* () {
        const error = yield* Effect.flip(token("refused"))
        assert.strictEqual(error._tag, "InvalidGrant")
        assert.strictEqual((yield* Effect.flip(token("refused")))._tag, "InvalidGrant")
        assert.strictEqual(yield* requestCount, 1)
      }).pipe(Effect.provide(sessionsOn(layer, [MockTokenEndpoint.invalidGrant()])))
    }
  )
})
