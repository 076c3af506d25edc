import { assert, describe, it } from "@effect/vitest"
import { TokenSet, TokenStore } from "@token-refresher/core"
import * as TokenStoreContract from "@token-refresher/testing/TokenStoreContract"
import { Config, ConfigProvider, DateTime, Effect, Layer, Option, Redacted, Schema } from "effect"

const key = Redacted.make("q8a6VxQ1aY3cQ2qkE7n7sJm2b0u5sWZ0nC1m9P4yF6g=")
const otherKey = Redacted.make("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")

const tokens = new TokenSet.TokenSet({
  accessToken: Option.some(Redacted.make("SENTINEL-ACCESS")),
  refreshToken: Option.some(Redacted.make("SENTINEL-REFRESH")),
  tokenType: "Bearer",
  expiresAt: DateTime.unsafeMake("2031-05-06T07:08:09.000Z"),
  scope: ["SENTINEL-SCOPE"],
  issuedAt: DateTime.unsafeMake("2031-05-06T06:08:09.000Z")
})

/** A memory backing whose raw entries a test can read and tamper with. */
const rawBacking = Effect.gen(function* () {
  const entries = new Map<string, TokenSet.TokenSet>()
  const plain = yield* TokenStore.make({
    location: "memory",
    get: (k) => Effect.sync(() => Option.fromNullable(entries.get(k))),
    set: (k, t) => Effect.sync(() => void entries.set(k, t)),
    remove: (k) => Effect.sync(() => void entries.delete(k))
  })
  return { entries, plain }
})

/** The entries as a store would persist them (encoded JSON, redacted values revealed). */
const rawText = (entries: Map<string, TokenSet.TokenSet>) =>
  JSON.stringify([...entries].map(([k, t]) => [k, Schema.encodeSync(TokenSet.TokenSet)(t)]))

describe("TokenStore.encrypted", () => {
  it.scoped("the stored value holds no token, no scope and no expiry; reading it back gives the tokens", () =>
    Effect.gen(function* () {
      const { entries, plain } = yield* rawBacking
      const store = yield* TokenStore.makeEncrypted(plain, key)
      yield* store.set("alice", tokens)
      const raw = rawText(entries)
      for (const secret of ["SENTINEL", "2031"]) assert.notInclude(raw, secret)
      const back = Option.getOrThrow(yield* store.get("alice"))
      assert.strictEqual(Redacted.value(Option.getOrThrow(back.accessToken)), "SENTINEL-ACCESS")
      assert.strictEqual(Redacted.value(Option.getOrThrow(back.refreshToken)), "SENTINEL-REFRESH")
      assert.deepStrictEqual(back.scope, ["SENTINEL-SCOPE"])
      assert.strictEqual(DateTime.formatIso(back.issuedAt!), "2031-05-06T06:08:09.000Z")
      // a random IV per write: the same tokens never give the same value twice
      const first = Redacted.value(entries.get("alice")!.refreshToken.pipe(Option.getOrThrow))
      yield* store.set("alice", tokens)
      assert.notStrictEqual(Redacted.value(entries.get("alice")!.refreshToken.pipe(Option.getOrThrow)), first)
    })
  )

  it.scoped(
    "a value copied to another session, or read with another key, fails to decrypt: TokenStoreError Corrupt",
    () =>
      Effect.gen(function* () {
        const { entries, plain } = yield* rawBacking
        const store = yield* TokenStore.makeEncrypted(plain, key)
        yield* store.set("alice", tokens)
        entries.set("mallory", entries.get("alice")!)
        const copied = yield* Effect.flip(store.get("mallory"))
        assert.strictEqual(copied.reason, "Corrupt")
        assert.include(copied.message, 'session "mallory" cannot be decrypted')
        const wrongKey = yield* TokenStore.makeEncrypted(plain, otherKey)
        assert.strictEqual((yield* Effect.flip(wrongKey.get("alice"))).reason, "Corrupt")
      })
  )

  it.scoped("tokens stored before encryption was turned on are read, and sealed at their next write", () =>
    Effect.gen(function* () {
      const { entries, plain } = yield* rawBacking
      yield* plain.set("alice", tokens)
      const store = yield* TokenStore.makeEncrypted(plain, key)
      assert.strictEqual(
        Redacted.value(Option.getOrThrow(yield* store.get("alice")).accessToken.pipe(Option.getOrThrow)),
        "SENTINEL-ACCESS"
      )
      yield* store.set("alice", tokens)
      assert.notInclude(rawText(entries), "SENTINEL")
    })
  )

  it.effect("the key comes from Config; a key that is not 32 bytes of base64 fails the layer with a ConfigError", () =>
    Effect.gen(function* () {
      const layer = (value: string) =>
        TokenStore.layerMemory().pipe(
          TokenStore.encrypted(Config.redacted("TOKEN_ENCRYPTION_KEY")),
          Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["TOKEN_ENCRYPTION_KEY", value]]))))
        )
      yield* Effect.provide(TokenStore.set(tokens), layer(Redacted.value(key)))
      const error = yield* Effect.flip(Effect.provide(TokenStore.get(), layer("too short")))
      assert.include(String(error), "must be 32 random bytes in base64")
    })
  )
})

TokenStoreContract.suite("memory, encrypted", { setup: TokenStoreContract.encrypted(TokenStoreContract.memory, key) })
