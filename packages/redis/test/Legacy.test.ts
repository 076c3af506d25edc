// The hashes that RedisTokenStore 0.3 wrote (packages/core/test/fixtures/v0.3, see its README.md) are listed, read,
// and rewritten in the form of today.
import { assert, describe, it } from "@effect/vitest"
import { Session, TokenStore } from "@token-refresher/core"
import { Redis, RedisTokenStore } from "@token-refresher/redis"
import { Effect, Layer, Logger, LogLevel, Option, Redacted, Schema } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { root } from "./child.js"
import { redisUrl } from "./servers.js"

/** The key of the encrypted fixtures (README.md: the bytes 0x00 to 0x1f). */
const fixtureKey = Redacted.make("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")

/** What an encrypted store writes today in place of a session. */
const envelope = "token-refresher:aes-256-gcm:v1:"

interface Fixture {
  readonly prefix: string
  readonly hashes: Record<string, Record<string, string>>
}

const readFixture = (name: string): Fixture =>
  JSON.parse(Fs.readFileSync(Path.join(root, "packages", "core", "test", "fixtures", "v0.3", name), "utf8"))

/** The three sessions of the fixtures, as today's codec encodes them (README.md, "The sessions"). */
const expected = {
  alice: {
    _tag: "Active",
    tokens: {
      accessToken: "alice-access",
      refreshToken: "alice-refresh",
      tokenType: "Bearer",
      expiresAt: "2030-01-01T00:00:00.000Z",
      scope: ["a", "b"],
      issuedAt: "2029-12-31T23:00:00.000Z",
      authorizedAt: "2029-06-01T00:00:00.000Z",
      refreshTokenExpiresAt: "2030-06-01T00:00:00.000Z"
    }
  },
  // a seed of 0.3 (`TokenSet.fromRefreshToken`): not used yet, seeded at an unknown time (the epoch)
  bob: { _tag: "Seeded", refreshToken: "bob-refresh", seededAt: "1970-01-01T00:00:00.000Z" },
  // no refresh token, and no `issuedAt`: the epoch, so that the leeway is never shortened
  carol: {
    _tag: "Active",
    tokens: {
      accessToken: "carol-access",
      tokenType: "Bearer",
      expiresAt: "2030-01-01T00:00:00.000Z",
      scope: [],
      issuedAt: "1970-01-01T00:00:00.000Z"
    }
  }
} as const

const sessionKeys = Object.keys(expected) as ReadonlyArray<keyof typeof expected>
const encodeSession = Schema.encodeSync(Session.Session)
const sessionClasses = { Active: Session.Active, Seeded: Session.Seeded, Rejected: Session.Rejected }

let prefixes = 0

describe.skipIf(redisUrl === undefined)("Redis: the hashes that 0.3 wrote", () => {
  /** A new prefix holding the fixture's hashes as 0.3 left them (`HSET`, no index), and a store opener on it. */
  const load = (name: string) =>
    Effect.gen(function* () {
      const fixture = readFixture(name)
      const prefix = `test:legacy:${process.pid}:${prefixes++}:`
      const redis = yield* Effect.orDie(Layer.build(Redis.layer(redisUrl!)))
      const { client } = yield* Effect.provide(Redis.Redis, redis)
      assert.deepStrictEqual(
        Object.keys(fixture.hashes).sort(),
        sessionKeys.map((key) => `${fixture.prefix}${key}`)
      )
      for (const [key, hash] of Object.entries(fixture.hashes)) {
        yield* Effect.promise(() => client.hset(`${prefix}${key.slice(fixture.prefix.length)}`, hash))
      }
      const open = RedisTokenStore.make({ prefix }).pipe(
        Effect.provide(redis),
        // the test server persists nothing, on purpose (RedisTokenStore.test.ts tests the warning)
        Logger.withMinimumLogLevel(LogLevel.Error)
      )
      const raw = (key: string) => Effect.promise(() => client.hgetall(`${prefix}${key}`))
      return { client, open, prefix, raw }
    })

  /** Every session of `store` is the expected one, of the right class. */
  const assertSessions = (store: TokenStore.Service) =>
    Effect.gen(function* () {
      for (const key of sessionKeys) {
        const stored = Option.getOrThrow(yield* store.get(key))
        assert.isTrue(stored instanceof sessionClasses[expected[key]._tag], key)
        assert.deepStrictEqual(encodeSession(stored), expected[key], key)
      }
    })

  it.scoped("plaintext: listed, read as Session, and rewritten as the JSON of a Session", () =>
    Effect.gen(function* () {
      const { client, open, prefix, raw } = yield* load("redis-hashes.json")
      assert.strictEqual(yield* Effect.promise(() => client.exists(`${prefix}\u0000keys`)), 0, "no index yet")
      const store = yield* open
      assert.deepStrictEqual(yield* store.keys(), ["alice", "bob", "carol"])
      assert.deepStrictEqual(yield* store.keys({ after: "alice", limit: 1 }), ["bob"])
      yield* assertSessions(store)
      // the same sessions, read in clear by a store that encrypts (it seals them at their next write)
      yield* assertSessions(yield* TokenStore.withEncryption(fixtureKey)(open))

      for (const key of sessionKeys) {
        yield* store.set(key, Option.getOrThrow(yield* store.get(key)))
        const hash = yield* raw(key)
        assert.deepStrictEqual(Object.keys(hash).sort(), ["tokens", "version"], key)
        assert.strictEqual(hash.version, "2", key)
        assert.deepStrictEqual(JSON.parse(hash.tokens!), expected[key], key)
      }
      const reopened = yield* open
      yield* assertSessions(reopened)
      assert.deepStrictEqual(yield* reopened.keys(), ["alice", "bob", "carol"])
    })
  )

  it.scoped("encrypted: listed, read with the key, resealed in today's envelope; without the key, Encrypted", () =>
    Effect.gen(function* () {
      const { open, raw } = yield* load("redis-hashes-encrypted.json")
      const plain = yield* open
      // listing reads no value: it needs no key
      assert.deepStrictEqual(yield* plain.keys(), ["alice", "bob", "carol"])
      const refused = (store: TokenStore.Service) =>
        Effect.gen(function* () {
          for (const key of sessionKeys) {
            const error = yield* Effect.flip(store.get(key))
            assert.strictEqual(error._tag, "TokenStoreError")
            assert.strictEqual(error.reason, "Encrypted", key)
            assert.strictEqual(error.detail, `session "${key}" is encrypted: provide TokenStore.encrypted with its key`)
            const overwrite = yield* Effect.flip(store.set(key, Session.seeded("downgrade")))
            assert.strictEqual(overwrite.reason, "Encrypted", key)
          }
        })
      yield* refused(plain)

      const sealed = yield* TokenStore.withEncryption(fixtureKey)(open)
      yield* assertSessions(sealed)
      for (const key of sessionKeys) {
        const before = (yield* raw(key)).tokens!
        yield* sealed.set(key, Option.getOrThrow(yield* sealed.get(key)))
        const hash = yield* raw(key)
        assert.strictEqual(hash.version, "2", key)
        assert.isTrue(hash.tokens!.startsWith(envelope), key)
        assert.notStrictEqual(hash.tokens, before, key)
        const payload = hash.tokens!.slice(envelope.length)
        for (const clear of [`${key}-access`, `${key}-refresh`, "Bearer", "2030", "Active", "Seeded"]) {
          assert.notInclude(payload, clear, key)
        }
      }
      yield* assertSessions(yield* TokenStore.withEncryption(fixtureKey)(open))
      yield* refused(plain)
    })
  )
})
