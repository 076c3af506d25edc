import { assert, describe, it } from "@effect/vitest"
import { TokenSet, TokenStore } from "@token-refresher/core"
import { Config, ConfigProvider, DateTime, Effect, Layer, Option, Redacted, Schema } from "effect"

const withEnv = (env: Record<string, string>) =>
  Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

const seed = Config.redacted("SPOTIFY_REFRESH_TOKEN")

describe("TokenStore", () => {
  it.effect("moved: a session moves to its new key once, and never over a session already there", () =>
    Effect.gen(function* () {
      const old = TokenSet.fromRefreshToken("old")
      const moved = yield* Effect.flatMap(TokenStore.TokenStore, (store) =>
        Effect.all([store.get("default"), store.get("spotify")])
      ).pipe(Effect.provide(TokenStore.layerMemory([["default", old]]).pipe(TokenStore.moved("default", "spotify"))))
      assert.isTrue(Option.isNone(moved[0]))
      assert.strictEqual(
        Option.getOrUndefined(Option.flatMap(moved[1], (t) => Option.map(t.refreshToken, Redacted.value))),
        "old"
      )

      const kept = yield* Effect.flatMap(TokenStore.TokenStore, (store) =>
        Effect.all([store.get("default"), store.get("spotify")])
      ).pipe(
        Effect.provide(
          TokenStore.layerMemory([
            ["default", old],
            ["spotify", TokenSet.fromRefreshToken("new")]
          ]).pipe(TokenStore.moved("default", "spotify"))
        )
      )
      assert.strictEqual(
        Option.getOrUndefined(Option.flatMap(kept[0], (t) => Option.map(t.refreshToken, Redacted.value))),
        "old"
      )
      assert.strictEqual(
        Option.getOrUndefined(Option.flatMap(kept[1], (t) => Option.map(t.refreshToken, Redacted.value))),
        "new"
      )
    })
  )

  it.effect("layerMemory starts empty or with the initial tokens, and keeps what is set", () =>
    Effect.gen(function* () {
      assert.isTrue(Option.isNone(yield* TokenStore.get()))
      yield* TokenStore.set(TokenSet.fromRefreshToken("r"))
      const stored = Option.getOrThrow(yield* TokenStore.get())
      assert.strictEqual(Redacted.value(Option.getOrThrow(stored.refreshToken)), "r")
    }).pipe(Effect.provide(TokenStore.layerMemory()))
  )

  it.effect("fromRefreshToken is already expired, so its first use refreshes", () =>
    Effect.gen(function* () {
      const tokens = TokenSet.fromRefreshToken(Redacted.make("r"))
      assert.isTrue(tokens.isExpired(yield* DateTime.now))
      // no access token yet, said as such (0.2 used an empty string)
      assert.isTrue(Option.isNone(tokens.accessToken))
      assert.deepStrictEqual(Option.getOrUndefined(Option.map(tokens.refreshToken, Redacted.value)), "r")
      assert.strictEqual(tokens.refreshAtMillis("60 seconds"), Number.NEGATIVE_INFINITY)
      assert.isFalse("accessToken" in Schema.encodeSync(TokenSet.TokenSet)(tokens))
      assert.deepStrictEqual(tokens.scope, [])
    })
  )

  it.effect("seeded fills an empty store from the variable", () =>
    Effect.gen(function* () {
      const stored = Option.getOrThrow(yield* TokenStore.get())
      assert.strictEqual(Redacted.value(Option.getOrThrow(stored.refreshToken)), "from-env")
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
          TokenStore.layerMemory(TokenSet.fromRefreshToken("saved")).pipe(
            TokenStore.seeded(seed),
            Layer.provide(withEnv({ SPOTIFY_REFRESH_TOKEN: "from-env" }))
          )
        )
      )
      assert.strictEqual(Redacted.value(Option.getOrThrow(Option.getOrThrow(kept).refreshToken)), "saved")
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
