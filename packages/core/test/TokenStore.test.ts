import { assert, describe, it } from "@effect/vitest"
import { Session, TokenSessions, TokenStore } from "@token-refresher/core"
import { TestStack } from "@token-refresher/testing"
import { encoded } from "./utils.js"
import {
  Chunk,
  Config,
  ConfigProvider,
  DateTime,
  Effect,
  Either,
  type FiberRefs,
  Layer,
  Option,
  Redacted,
  Schema,
  Stream
} from "effect"

const withEnv = (env: Record<string, string>) =>
  Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

const seed = Config.redacted("SPOTIFY_REFRESH_TOKEN")

describe("TokenStore", () => {
  it.effect("moved: a session moves to its new key once, and never over a session already there", () =>
    Effect.gen(function* () {
      const old = Session.seeded("old")
      const moved = yield* Effect.flatMap(TokenStore.TokenStore, (store) =>
        Effect.all([store.get("default"), store.get("spotify")])
      ).pipe(Effect.provide(TokenStore.layerMemory([["default", old]]).pipe(TokenStore.moved("default", "spotify"))))
      assert.isTrue(Option.isNone(moved[0]))
      assert.strictEqual(
        Option.getOrUndefined(Option.flatMap(moved[1], (t) => Option.map(Session.refreshToken(t), Redacted.value))),
        "old"
      )

      const kept = yield* Effect.flatMap(TokenStore.TokenStore, (store) =>
        Effect.all([store.get("default"), store.get("spotify")])
      ).pipe(
        Effect.provide(
          TokenStore.layerMemory([
            ["default", old],
            ["spotify", Session.seeded("new")]
          ]).pipe(TokenStore.moved("default", "spotify"))
        )
      )
      assert.strictEqual(
        Option.getOrUndefined(Option.flatMap(kept[0], (t) => Option.map(Session.refreshToken(t), Redacted.value))),
        "old"
      )
      assert.strictEqual(
        Option.getOrUndefined(Option.flatMap(kept[1], (t) => Option.map(Session.refreshToken(t), Redacted.value))),
        "new"
      )
    })
  )

  it.effect("layerMemory starts empty or with the initial sessions, and keeps what is set", () =>
    Effect.gen(function* () {
      assert.isTrue(Option.isNone(yield* TokenStore.get()))
      yield* TokenStore.set(TokenStore.defaultKey, Session.seeded("r", 0))
      assert.strictEqual(encoded(Option.getOrThrow(yield* TokenStore.get())), encoded(Session.seeded("r", 0)))
      assert.deepStrictEqual(yield* TokenStore.keys(), ["default"])
    }).pipe(Effect.provide(TokenStore.layerMemory()))
  )

  it.effect("Session.seeded: a bare refresh token, no access token, seededAt now by default", () =>
    Effect.gen(function* () {
      const seed = Session.seeded(Redacted.make("r"), "2029-01-01T00:00:00.000Z")
      assert.strictEqual(seed._tag, "Seeded")
      assert.strictEqual(Redacted.value(seed.refreshToken), "r")
      assert.strictEqual(DateTime.formatIso(seed.seededAt), "2029-01-01T00:00:00.000Z")
      assert.deepStrictEqual(Object.keys(seed).sort(), ["_tag", "dpopKey", "refreshToken", "seededAt"])
      assert.isTrue(Option.isNone(seed.dpopKey))
      // no DPoP key: the encoded form is as before 0.6
      assert.deepStrictEqual(Object.keys(Schema.encodeSync(Session.Session)(seed)).sort(), [
        "_tag",
        "refreshToken",
        "seededAt"
      ])
    })
  )

  it.effect(
    "Session.seeded with a DPoP key: kept, encoded with the session, and a key that is no private JWK does not decode",
    () =>
      Effect.gen(function* () {
        const jwk = JSON.stringify({ kty: "EC", crv: "P-256", x: "x-coordinate", y: "y-coordinate", d: "private" })
        const seed = Session.seeded("r", { seededAt: 0, dpopKey: Redacted.make(jwk) })
        assert.strictEqual(DateTime.formatIso(seed.seededAt), "1970-01-01T00:00:00.000Z")
        assert.strictEqual(Redacted.value(Option.getOrThrow(seed.dpopKey)), jwk)
        const encodedSeed = Schema.encodeSync(Session.Session)(seed)
        assert.strictEqual((encodedSeed as { dpopKey?: string }).dpopKey, jwk)
        const decodedSeed = Schema.decodeUnknownSync(Session.Session)(encodedSeed)
        assert.strictEqual(Redacted.value(Option.getOrThrow((decodedSeed as Session.Seeded).dpopKey)), jwk)
        const publicOnly = { ...encodedSeed, dpopKey: JSON.stringify({ kty: "EC", crv: "P-256", x: "x", y: "y" }) }
        assert.isTrue(Either.isLeft(Schema.decodeUnknownEither(Session.Session)(publicOnly)))
      })
  )

  it.effect("allKeys streams every key a page at a time", () =>
    Effect.gen(function* () {
      for (const key of ["c", "a", "e", "b", "d"]) yield* TokenStore.set(key, Session.seeded(key, 0))
      const all = yield* Stream.runCollect(TokenStore.allKeys({ pageSize: 2 }))
      assert.deepStrictEqual(Chunk.toReadonlyArray(all), ["a", "b", "c", "d", "e"])
    }).pipe(Effect.provide(TokenStore.layerMemory()))
  )

  it.effect("seeded fills an empty store from the variable, as Seeded at the Clock's time", () =>
    Effect.gen(function* () {
      // the TestClock's time: 0
      assert.strictEqual(encoded(Option.getOrThrow(yield* TokenStore.get())), encoded(Session.seeded("from-env", 0)))
    }).pipe(
      Effect.provide(
        TokenStore.layerMemory().pipe(
          TokenStore.seeded(seed),
          Layer.provide(withEnv({ SPOTIFY_REFRESH_TOKEN: "from-env" }))
        )
      )
    )
  )

  it.effect("seeded leaves a store that holds tokens alone, and a missing variable is no seed", () =>
    Effect.gen(function* () {
      const kept = yield* TokenStore.get().pipe(
        Effect.provide(
          TokenStore.layerMemory(Session.seeded("saved", 0)).pipe(
            TokenStore.seeded(seed),
            Layer.provide(withEnv({ SPOTIFY_REFRESH_TOKEN: "from-env" }))
          )
        )
      )
      assert.strictEqual(encoded(Option.getOrThrow(kept)), encoded(Session.seeded("saved", 0)))
      const empty = yield* TokenStore.get().pipe(
        Effect.provide(TokenStore.layerMemory().pipe(TokenStore.seeded(seed), Layer.provide(withEnv({}))))
      )
      assert.isTrue(Option.isNone(empty))
      const blank = yield* TokenStore.get().pipe(
        Effect.provide(
          TokenStore.layerMemory().pipe(TokenStore.seeded(seed), Layer.provide(withEnv({ SPOTIFY_REFRESH_TOKEN: "" })))
        )
      )
      assert.isTrue(Option.isNone(blank))
    })
  )

  it("TokenStoreError's message names the store", () => {
    const error = new TokenStore.TokenStoreError({ reason: "Write", location: "/tmp/x.json", detail: "disk full" })
    assert.strictEqual(error.message, "Token store /tmp/x.json: disk full")
  })
})

/** How many values the fiber's FiberRefs hold, all stacks together (read off the implementation). */
const entries = (refs: FiberRefs.FiberRefs) => {
  let n = 0
  for (const stack of (refs as unknown as { locals: Map<unknown, Array<unknown>> }).locals.values()) n += stack.length
  return n
}

describe("TokenStore locks from one fiber", () => {
  it.effect(
    "100,000 TokenSessions.save of one session leave the fiber's FiberRefs as they were",
    () =>
      Effect.gen(function* () {
        const sessions = yield* TokenSessions.TokenSessions
        yield* sessions.save("alice", Session.seeded("r", 0))
        const before = entries(yield* Effect.getFiberRefs)
        for (let i = 0; i < 100_000; i++) yield* sessions.save("alice", Session.seeded("r", 0))
        assert.isAtMost(entries(yield* Effect.getFiberRefs) - before, 1)
      }).pipe(
        Effect.provide(
          TokenSessions.layer().pipe(Layer.provide(TokenStore.layerMemory()), Layer.provide(TestStack.refresher([])))
        )
      ),
    60_000
  )

  it.effect(
    "100,000 saves of one session leave the fiber's FiberRefs as they were",
    () =>
      Effect.gen(function* () {
        const store = yield* TokenStore.TokenStore
        yield* store.set("alice", Session.seeded("r", 0))
        const before = entries(yield* Effect.getFiberRefs)
        for (let i = 0; i < 100_000; i++) yield* store.set("alice", Session.seeded("r", 0))
        // a growth per call would be 90,000 entries or more; the runtime may set one FiberRef of its own once
        assert.isAtMost(entries(yield* Effect.getFiberRefs) - before, 1)
      }).pipe(Effect.provide(TokenStore.layerMemory())),
    60_000
  )
})
