import { FileSystem, Path } from "@effect/platform"
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Session, TokenManager, TokenRefresher, TokenSet, TokenStore } from "@token-refresher/core"
import { NodeTokenStore } from "@token-refresher/node"
import { MockTokenEndpoint } from "@token-refresher/testing"
import { DateTime, Effect, Layer, Logger, LogLevel, Option, Redacted, Schema } from "effect"
import { root } from "./child.js"

/**
 * The token files that 0.1 to 0.3 wrote (packages/core/test/fixtures/v0.3, see its README.md), read by this version's
 * file store, then written back in the current format.
 */

const NodeFs = Layer.merge(NodeFileSystem.layer, NodePath.layer)

/** The key of the encrypted fixture, from the fixtures' README. */
const fixtureKey = Redacted.make("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")

const epoch = DateTime.unsafeMake(0)

const alice = Session.active(
  new TokenSet.TokenSet({
    accessToken: Redacted.make("alice-access"),
    refreshToken: Option.some(Redacted.make("alice-refresh")),
    tokenType: "Bearer",
    expiresAt: DateTime.unsafeMake("2030-01-01T00:00:00.000Z"),
    scope: ["a", "b"],
    issuedAt: DateTime.unsafeMake("2029-12-31T23:00:00.000Z"),
    authorizedAt: Option.some(DateTime.unsafeMake("2029-06-01T00:00:00.000Z")),
    refreshTokenExpiresAt: Option.some(DateTime.unsafeMake("2030-06-01T00:00:00.000Z"))
  })
)
// a seed of 0.3 (`TokenSet.fromRefreshToken`): never used, so seeded at an unknown time, the epoch
const bob = new Session.Seeded({ refreshToken: Redacted.make("bob-refresh"), seededAt: epoch })
// no refresh token, and no `issuedAt` (before 0.2): issued at the epoch
const carol = Session.active(
  new TokenSet.TokenSet({
    accessToken: Redacted.make("carol-access"),
    tokenType: "Bearer",
    expiresAt: DateTime.unsafeMake("2030-01-01T00:00:00.000Z"),
    scope: [],
    issuedAt: epoch
  })
)
// the one session of a 0.1 file: five fields, read as the session "default"
const single = Session.active(
  new TokenSet.TokenSet({
    accessToken: Redacted.make("alice-access"),
    refreshToken: Option.some(Redacted.make("alice-refresh")),
    tokenType: "Bearer",
    expiresAt: DateTime.unsafeMake("2030-01-01T00:00:00.000Z"),
    scope: ["a", "b"],
    issuedAt: epoch
  })
)
// 0.1's seed (an empty access token)
const seed = new Session.Seeded({ refreshToken: Redacted.make("seed-refresh"), seededAt: epoch })

/**
 * Every field of a session, tokens included, as plain JSON: `Redacted` values compare equal whatever they hold, so
 * sessions are compared in their encoded form.
 */
const encode = Schema.encodeSync(Session.Session)

const expectSession = (actual: Option.Option<Session.Session>, expected: Session.Session, what: string) => {
  assert.isTrue(Option.isSome(actual), `${what}: no session`)
  const session = Option.getOrThrow(actual)
  assert.strictEqual(session._tag, expected._tag, what)
  assert.strictEqual(Object.getPrototypeOf(session), Object.getPrototypeOf(expected), what)
  assert.deepStrictEqual(encode(session), encode(expected), what)
}

interface Fixture {
  readonly name: string
  readonly encrypted: boolean
  readonly sessions: ReadonlyArray<readonly [string, Session.Session]>
}

const fixtures: ReadonlyArray<Fixture> = [
  { name: "file-0.1-single.json", encrypted: false, sessions: [[TokenStore.defaultKey, single]] },
  { name: "file-0.1-seeded.json", encrypted: false, sessions: [[TokenStore.defaultKey, seed]] },
  {
    name: "file-keyed.json",
    encrypted: false,
    sessions: [
      ["alice", alice],
      ["bob", bob],
      ["carol", carol]
    ]
  },
  {
    name: "file-encrypted.json",
    encrypted: true,
    sessions: [
      ["alice", alice],
      ["bob", bob],
      ["carol", carol]
    ]
  }
]

/** A copy of the fixture in a new folder, mode 0600 as the store writes it (the committed copy is 0644). */
const copyOf = (name: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const file = path.join(yield* fs.makeTempDirectoryScoped({ prefix: "token-refresher-legacy-" }), name)
    yield* fs.copyFile(path.join(root, "packages", "core", "test", "fixtures", "v0.3", name), file)
    yield* fs.chmod(file, 0o600)
    return { file, fs }
  })

const openStore = (file: string, encrypted: boolean) =>
  encrypted
    ? NodeTokenStore.makeFile(file).pipe(TokenStore.withEncryption(fixtureKey), Effect.orDie)
    : NodeTokenStore.makeFile(file)

const envelope = /^token-refresher:aes-256-gcm:v1:/

/** Whether a value of the file is in this version's form: a session's JSON (with `_tag`), or an envelope. */
const currentForm = (value: unknown, encrypted: boolean) =>
  encrypted
    ? typeof value === "string" && envelope.test(value)
    : typeof value === "object" && value !== null && typeof (value as { _tag?: unknown })._tag === "string"

describe("the token files of 0.1 to 0.3", () => {
  for (const fixture of fixtures) {
    it.scoped(
      `${fixture.name}: every session reads as it was; written back in the current form, it reads the same`,
      () =>
        Effect.gen(function* () {
          const { file, fs } = yield* copyOf(fixture.name)
          const readAll = (store: TokenStore.Service, when: string) =>
            Effect.gen(function* () {
              assert.deepStrictEqual(
                yield* store.keys(),
                fixture.sessions.map(([key]) => key),
                when
              )
              for (const [key, expected] of fixture.sessions) {
                expectSession(yield* store.get(key), expected, `${when}: ${key}`)
              }
            })
          const fileValues = Effect.map(fs.readFileString(file), (text) => JSON.parse(text) as Record<string, unknown>)

          const store = yield* openStore(file, fixture.encrypted)
          yield* readAll(store, "as found")

          // one session written back: its value takes the current form, the others are left as they were
          const [firstKey, first] = fixture.sessions[0]!
          const before = yield* fileValues
          yield* store.set(firstKey, first)
          const once = yield* fileValues
          assert.deepStrictEqual(
            Object.keys(once),
            fixture.sessions.map(([key]) => key)
          )
          assert.isTrue(currentForm(once[firstKey], fixture.encrypted), JSON.stringify(once[firstKey]))
          for (const [key] of fixture.sessions.slice(1)) {
            assert.deepStrictEqual(once[key], before[key], key)
          }
          yield* readAll(store, "after one write")
          yield* readAll(yield* openStore(file, fixture.encrypted), "after one write, by a new store")

          // every session written back: the whole file is in the current form
          for (const [key, session] of fixture.sessions) yield* store.set(key, session)
          const text = yield* fs.readFileString(file)
          const all = JSON.parse(text) as Record<string, unknown>
          for (const [key] of fixture.sessions) {
            assert.isTrue(currentForm(all[key], fixture.encrypted), `${key}: ${JSON.stringify(all[key])}`)
          }
          if (fixture.encrypted) {
            for (const secret of ["alice-access", "alice-refresh", "bob-refresh", "carol-access", "Bearer", "2030"]) {
              assert.notInclude(text, secret)
            }
          } else {
            for (const [key, session] of fixture.sessions) assert.deepStrictEqual(all[key], encode(session), key)
          }
          assert.strictEqual((yield* fs.stat(file)).mode & 0o777, 0o600)
          yield* readAll(yield* openStore(file, fixture.encrypted), "rewritten, by a new store")
        }).pipe(Effect.provide(NodeFs), Logger.withMinimumLogLevel(LogLevel.None))
    )
  }

  /** A manager of `key` on `store` asks for a token: what it fails with, and how many token requests it sent. */
  const askWithoutKey = (store: TokenStore.Service, key: string) =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Effect.flatMap(TokenManager.TokenManager, (manager) => manager.accessToken))
      const requests = yield* Effect.flatMap(MockTokenEndpoint.MockTokenEndpoint, (mock) => mock.count)
      return { error, requests }
    }).pipe(
      Effect.provide(
        TokenManager.layer({ key }).pipe(
          Layer.provide(Layer.succeed(TokenStore.TokenStore, store)),
          Layer.provideMerge(
            TokenRefresher.layer({ tokenUrl: "https://auth.example.com/token", clientId: "legacy" }).pipe(
              Layer.provideMerge(MockTokenEndpoint.layer([]))
            )
          )
        )
      )
    )

  it.scoped("file-encrypted.json without the key: TokenStoreError Encrypted, nothing sent, nothing overwritten", () =>
    Effect.gen(function* () {
      const { file, fs } = yield* copyOf("file-encrypted.json")
      const original = yield* fs.readFileString(file)
      const plain = yield* NodeTokenStore.makeFile(file)
      const check = (when: string) =>
        Effect.gen(function* () {
          assert.deepStrictEqual(yield* plain.keys(), ["alice", "bob", "carol"], when)
          for (const key of ["alice", "bob", "carol"]) {
            const error = yield* Effect.flip(plain.get(key))
            assert.deepStrictEqual(
              [error._tag, error.reason, error.location, error.detail],
              [
                "TokenStoreError",
                "Encrypted",
                file,
                `session "${key}" is encrypted: provide TokenStore.encrypted with its key`
              ],
              `${when}: ${key}`
            )
            const asked = yield* askWithoutKey(plain, key)
            assert.strictEqual(asked.requests, 0, `${when}: ${key}: nothing was sent to the token endpoint`)
            assert.strictEqual(asked.error._tag, "TokenStoreError", when)
            if (asked.error._tag === "TokenStoreError") assert.strictEqual(asked.error.reason, "Encrypted", when)
            // a session in clear is never written over a sealed one
            const refused = yield* Effect.flip(plain.set(key, alice))
            assert.deepStrictEqual(
              [refused.reason, refused.detail],
              ["Encrypted", `session "${key}" is encrypted: provide TokenStore.encrypted with its key to replace it`]
            )
          }
        })
      yield* check("sealed by 0.3")
      assert.strictEqual(yield* fs.readFileString(file), original)

      // sealed again by this version (envelopes): the same
      const sealed = yield* openStore(file, true)
      for (const [key, session] of fixtures[3]!.sessions) yield* sealed.set(key, session)
      const resealed = yield* fs.readFileString(file)
      yield* check("sealed by this version")
      assert.strictEqual(yield* fs.readFileString(file), resealed)
    }).pipe(Effect.provide(NodeFs), Logger.withMinimumLogLevel(LogLevel.None))
  )
})
