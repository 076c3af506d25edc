import { assert, describe, it } from "@effect/vitest"
import { Session, TokenSet, TokenStore } from "@token-refresher/core"
import * as TokenStoreContract from "@token-refresher/testing/TokenStoreContract"
import { Config, ConfigProvider, DateTime, Effect, Layer, Logger, Option, Redacted } from "effect"
import { encoded, storedTokens, stringBackend } from "./utils.js"

const key = Redacted.make("q8a6VxQ1aY3cQ2qkE7n7sJm2b0u5sWZ0nC1m9P4yF6g=")
/** Another key; also the key of the 0.3 fixtures. */
const otherKey = Redacted.make("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")

const tokens = new TokenSet.TokenSet({
  accessToken: Redacted.make("SENTINEL-ACCESS"),
  refreshToken: Option.some(Redacted.make("SENTINEL-REFRESH")),
  tokenType: "Bearer",
  expiresAt: DateTime.unsafeMake("2031-05-06T07:08:09.000Z"),
  scope: ["SENTINEL-SCOPE"],
  issuedAt: DateTime.unsafeMake("2031-05-06T06:08:09.000Z")
})

/** Raw entries a test can read and tamper with, and stores on them: sealed with `key`, with another key, in clear. */
const rawBacking = Effect.gen(function* () {
  const entries = new Map<string, string>()
  const build = TokenStore.make(stringBackend(entries))
  return {
    entries,
    sealed: yield* TokenStore.withEncryption(key)(build),
    wrongKey: yield* TokenStore.withEncryption(otherKey)(build),
    plain: yield* build
  }
})

describe("TokenStore.encrypted", () => {
  it.scoped(
    "the stored value is a versioned envelope: no token, no scope, no expiry; reading it gives the session",
    () =>
      Effect.gen(function* () {
        const { entries, sealed } = yield* rawBacking
        yield* sealed.set("alice", Session.active(tokens))
        const raw = entries.get("alice")!
        assert.match(raw, /^token-refresher:aes-256-gcm:v1:[A-Za-z0-9+/]+=*$/)
        for (const secret of ["SENTINEL", "2031", "Active"]) assert.notInclude(raw, secret)
        assert.strictEqual(encoded(Option.getOrThrow(yield* sealed.get("alice"))), encoded(Session.active(tokens)))
        // a random IV per write: the same session never gives the same value twice
        yield* sealed.set("alice", Session.active(tokens))
        assert.notStrictEqual(entries.get("alice"), raw)
      })
  )

  it.scoped("a value moved to another session, tampered with, or read with another key is Corrupt for that key", () =>
    Effect.gen(function* () {
      const { entries, sealed, wrongKey } = yield* rawBacking
      yield* sealed.set("alice", Session.active(tokens))
      yield* sealed.set("bob", Session.seeded("SENTINEL-SEED", 0))
      entries.set("mallory", entries.get("alice")!)
      const moved = yield* Effect.flip(sealed.get("mallory"))
      assert.deepStrictEqual(
        moved,
        new TokenStore.TokenStoreError({
          reason: "Corrupt",
          location: "test",
          detail: `session "mallory" cannot be decrypted: a wrong key, a tampered value, or a value moved from another session`
        })
      )
      const raw = entries.get("alice")!
      entries.set("alice", raw.slice(0, -6) + (raw.endsWith("AAAA==") ? "BBBB==" : "AAAA=="))
      assert.strictEqual((yield* Effect.flip(sealed.get("alice"))).reason, "Corrupt")
      assert.strictEqual((yield* Effect.flip(wrongKey.get("bob"))).reason, "Corrupt")
      // the other sessions stay readable
      assert.strictEqual(
        encoded(Option.getOrThrow(yield* sealed.get("bob"))),
        encoded(Session.seeded("SENTINEL-SEED", 0))
      )
    })
  )

  it.scoped("a store without the key neither reads a sealed session nor overwrites it in clear: Encrypted", () =>
    Effect.gen(function* () {
      const { entries, plain, sealed } = yield* rawBacking
      yield* sealed.set("alice", Session.active(tokens))
      const before = entries.get("alice")
      const read = yield* Effect.flip(plain.get("alice"))
      assert.deepStrictEqual(
        read,
        new TokenStore.TokenStoreError({
          reason: "Encrypted",
          location: "test",
          detail: `session "alice" is encrypted: provide TokenStore.encrypted with its key`
        })
      )
      const write = yield* Effect.flip(plain.set("alice", Session.seeded("downgrade", 0)))
      assert.deepStrictEqual(
        write,
        new TokenStore.TokenStoreError({
          reason: "Encrypted",
          location: "test",
          detail: `session "alice" is encrypted: provide TokenStore.encrypted with its key to replace it`
        })
      )
      assert.strictEqual(entries.get("alice"), before)
      // a logout is still possible
      yield* plain.remove("alice")
      assert.isTrue(Option.isNone(yield* sealed.get("alice")))
    })
  )

  it.scoped(
    "sessions stored in clear before encryption are read with one warning each, and sealed at their next write",
    () =>
      Effect.gen(function* () {
        const logs: Array<string> = []
        const logger = Logger.make(({ annotations, message }) => {
          logs.push(`${String(message)} ${JSON.stringify(Object.fromEntries(annotations))}`)
        })
        const { entries, plain, sealed } = yield* rawBacking
        yield* plain.set("alice", Session.active(tokens))
        assert.include(entries.get("alice")!, "SENTINEL-ACCESS")
        yield* Effect.gen(function* () {
          assert.strictEqual(encoded(Option.getOrThrow(yield* sealed.get("alice"))), encoded(Session.active(tokens)))
          yield* sealed.get("alice")
        }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
        assert.deepStrictEqual(logs, [
          `a session is stored in clear in an encrypted store: it is sealed at its next write {"key":"alice","location":"test"}`
        ])
        yield* sealed.set("alice", Session.active(tokens))
        assert.notInclude(entries.get("alice")!, "SENTINEL")
      })
  )

  it.scoped(
    "a row sealed by 0.3 (the payload in refreshToken of a TokenSet) is opened, and resealed at its next write",
    () =>
      Effect.gen(function* () {
        // written by 0.3 with the fixtures' key (packages/core/test/fixtures/v0.3/README.md)
        const fixture = JSON.parse(
          yield* Effect.promise(() =>
            import("node:fs/promises").then((fs) =>
              fs.readFile(new URL("./fixtures/v0.3/file-encrypted.json", import.meta.url), "utf8")
            )
          )
        ) as Record<string, unknown>
        const entries = new Map(Object.entries(fixture).map(([k, v]) => [k, JSON.stringify(v)]))
        const build = TokenStore.make(stringBackend(entries))
        const store = yield* TokenStore.withEncryption(otherKey)(build)
        const alice = Option.getOrThrow(Option.flatMap(yield* store.get("alice"), Session.tokens))
        assert.strictEqual(Redacted.value(alice.accessToken), "alice-access")
        assert.strictEqual(
          encoded(Option.getOrThrow(yield* store.get("bob"))),
          encoded(Session.seeded("bob-refresh", 0))
        )
        assert.strictEqual((yield* Effect.flip((yield* build).get("alice"))).reason, "Encrypted")
        yield* store.set("alice", Session.active(alice))
        assert.isTrue(entries.get("alice")!.startsWith("token-refresher:aes-256-gcm:v1:"))
      })
  )

  it.effect("the key comes from Config; a key that is not 32 bytes of base64 fails the layer with a ConfigError", () =>
    Effect.gen(function* () {
      const layer = (value: string) =>
        TokenStore.layerMemory().pipe(
          TokenStore.encrypted(Config.redacted("TOKEN_ENCRYPTION_KEY")),
          Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["TOKEN_ENCRYPTION_KEY", value]]))))
        )
      const stored = yield* Effect.zipRight(TokenStore.set(TokenStore.defaultKey, tokens), storedTokens()).pipe(
        Effect.provide(layer(Redacted.value(key)))
      )
      assert.strictEqual(Redacted.value(stored.accessToken), "SENTINEL-ACCESS")
      const error = yield* Effect.flip(Effect.provide(TokenStore.get(), layer("too short")))
      assert.include(String(error), "must be 32 random bytes in base64")
    })
  )

  it.effect("encrypted builds its store afresh: the same layer used elsewhere in clear is not shared with it", () =>
    Effect.gen(function* () {
      const entries = new Map<string, string>()
      const base = Layer.scoped(TokenStore.TokenStore, TokenStore.make(stringBackend(entries)))
      const Sealed = TokenStore.encrypted(key)(base)
      yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.set("alice", Session.active(tokens))).pipe(
        Effect.provide(Layer.merge(Layer.build(base).pipe(Layer.scopedDiscard), Sealed))
      )
      assert.isTrue(entries.get("alice")!.startsWith("token-refresher:aes-256-gcm:v1:"))
      assert.notStrictEqual(entries.get("alice"), encoded(tokens))
    })
  )
})

TokenStoreContract.suite("memory, encrypted", {
  setup: TokenStoreContract.encrypted(TokenStoreContract.memory, key),
  // this backing is sealed already: the cases with and without a key run on the plain backings
  encryptionCases: false,
  noOtherProcess: "a memory store lives in one process"
})
