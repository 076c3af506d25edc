import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Session, TokenStore } from "@token-refresher/core"
import { Redis, RedisTokenStore } from "@token-refresher/redis"
import { FakeAuthorizationServer } from "@token-refresher/testing/node"
import * as MultiProcess from "@token-refresher/testing/MultiProcess"
import * as TokenStoreContract from "@token-refresher/testing/TokenStoreContract"
import { Duration, Effect, Layer, Logger, LogLevel, Option, Redacted, Schedule } from "effect"
import { fixture, runScript } from "./child.js"
import { hasRedisServer, redisUrl, startRedis } from "./servers.js"

const encryptionKey = "q8a6VxQ1aY3cQ2qkE7n7sJm2b0u5sWZ0nC1m9P4yF6g="
let prefixes = 0
const newPrefix = (name: string) => `test:${name}:${process.pid}:${prefixes++}:`

const connect = (url: string) => Effect.orDie(Layer.build(Redis.layer(url)))

/** What `RedisTokenStore.make` logs when the server persists nothing (the test servers do not, on purpose). */
const persistenceWarning =
  "Redis persists nothing (appendonly is no and save is empty): when it restarts, every session is lost and every " +
  "user must log in again. Turn on AOF (appendonly yes) or RDB snapshots (save)"

/** Runs `effect` with its logs kept, as `LEVEL message {annotations}`. */
const withLogs = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const logs: Array<string> = []
    const logger = Logger.make(({ annotations, logLevel, message }) => {
      const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
      logs.push(`${logLevel.label} ${text} ${JSON.stringify(Object.fromEntries(annotations))}`)
    })
    const result = yield* effect.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    return { result, logs }
  })

/** The key of the index of session keys under `prefix` (its members are the keys in UTF-8, for keys up to U+FFFF). */
const indexKey = (prefix: string) => `${prefix}\u0000keys`

describe.skipIf(redisUrl === undefined)("Redis", () => {
  const setup = Effect.gen(function* () {
    const prefix = newPrefix("contract")
    const { client } = yield* Effect.provide(Redis.Redis, yield* connect(redisUrl!))
    const backing: TokenStoreContract.Backing = {
      // each instance has its own connection, as another process would
      store: ({ lockTimeout }) =>
        Effect.flatMap(connect(redisUrl!), (redis) =>
          RedisTokenStore.make({ prefix, lockTimeout, lockTtl: "2 seconds" }).pipe(
            Effect.provide(redis),
            // the server persists nothing, on purpose: its warning is tested once, below
            Logger.withMinimumLogLevel(LogLevel.Error)
          )
        ),
      // HSET below the codec, with the index entry that the store's write adds (a foreign write leaves none: the
      // store's first `keys` adds it, see "the index follows the hashes")
      writeRaw: (key, value) =>
        Effect.asVoid(
          Effect.promise(() =>
            client.multi().hset(`${prefix}${key}`, "tokens", value).zadd(indexKey(prefix), 0, key).exec()
          )
        ),
      holdInOtherProcess: (key, hold) =>
        Effect.map(
          runScript(fixture("hold-lock.ts"), [
            redisUrl!,
            prefix,
            key,
            String(Duration.toMillis(Duration.decode(hold)))
          ]),
          (child) => ({ locked: Effect.asVoid(child.waitFor(/locked/)), kill: Effect.asVoid(child.kill) })
        ),
      freedAfterDeathWithin: "2 seconds"
    }
    return backing
  })
  TokenStoreContract.suite("Redis (RedisTokenStore, lock TTL 2 s)", { setup })
  TokenStoreContract.suite("Redis, encrypted", {
    setup: TokenStoreContract.encrypted(setup, Redacted.make(encryptionKey)),
    // every store of this backing has a key: the cases with and without one run in the suite above
    encryptionCases: false
  })

  it.scoped("writes are compare-and-set: a holder whose lock ran out writes nothing; raw values hold no token", () =>
    Effect.gen(function* () {
      const prefix = newPrefix("cas")
      const redis = yield* connect(redisUrl!)
      const { client } = yield* Effect.provide(Redis.Redis, redis)
      const slow = yield* RedisTokenStore.make({ prefix, lockTtl: "300 millis" }).pipe(Effect.provide(redis))
      const other = yield* RedisTokenStore.make({ prefix }).pipe(Effect.provide(redis))
      const error = yield* Effect.flip(
        slow.withLock("alice")(
          Effect.gen(function* () {
            yield* slow.get("alice")
            // the holder stalls (its renewals cannot keep up): the lock expires and another takes it and writes
            yield* Effect.promise(() => client.del(`${prefix}alice\u0000lock`))
            yield* other.set("alice", Session.seeded("newer"))
            yield* slow.set("alice", Session.seeded("older"))
          })
        )
      )
      assert.strictEqual(error.reason, "Lock")
      assert.include(error.message, "nothing was written")
      assert.deepStrictEqual(
        Option.map(Option.flatMap(yield* other.get("alice"), Session.refreshToken), Redacted.value),
        Option.some("newer")
      )
      assert.strictEqual(yield* Effect.promise(() => client.hget(`${prefix}alice`, "version")), "1")

      const sealed = yield* Effect.orDie(
        TokenStore.withEncryption(Redacted.make(encryptionKey))(
          RedisTokenStore.make({ prefix }).pipe(Effect.provide(redis))
        )
      )
      yield* sealed.set("bob", Session.seeded("SENTINEL-REFRESH"))
      const raw = yield* Effect.promise(() => client.hget(`${prefix}bob`, "tokens"))
      assert.isString(raw)
      assert.isTrue(raw!.startsWith("token-refresher:aes-256-gcm:v1:"), raw!)
      assert.notInclude(raw!, "SENTINEL")
    })
  )

  it.scoped("keys: in JavaScript's string order (by UTF-16 code unit), a page at a time, for any character", () =>
    Effect.gen(function* () {
      const prefix = newPrefix("order")
      const redis = yield* connect(redisUrl!)
      const store = yield* RedisTokenStore.make({ prefix }).pipe(Effect.provide(redis))
      // U+FF01 sorts after U+1F600 by code unit (a surrogate, 0xD83D) and before it by code point (UTF-8's order)
      const keys = ["b", "a\uFF01", "a", "\u{1F600}", "a\u{1F600}", "\uE000", "é", "a\u{1F600}z", "\uFFFD", "A b"]
      for (const key of keys) yield* store.set(key, Session.seeded(`refresh-${key}`))
      const sorted = [...keys].sort()
      assert.deepStrictEqual(sorted, [
        "A b",
        "a",
        "a\u{1F600}",
        "a\u{1F600}z",
        "a\uFF01",
        "b",
        "é",
        "\u{1F600}",
        "\uE000",
        "\uFFFD"
      ])
      assert.deepStrictEqual(yield* store.keys(), sorted)
      const paged: Array<string> = []
      let after: string | undefined = undefined
      for (let i = 0; i < 20; i++) {
        const page: ReadonlyArray<string> = yield* store.keys({ limit: 3, after })
        paged.push(...page)
        if (page.length < 3) break
        after = page[page.length - 1]
      }
      assert.deepStrictEqual(paged, sorted)
      assert.deepStrictEqual(yield* store.keys({ prefix: "a" }), ["a", "a\u{1F600}", "a\u{1F600}z", "a\uFF01"])
      assert.deepStrictEqual(yield* store.keys({ prefix: "a", after: "a\u{1F600}" }), ["a\u{1F600}z", "a\uFF01"])
      assert.deepStrictEqual(yield* store.keys({ prefix: "a\u{1F600}" }), ["a\u{1F600}", "a\u{1F600}z"])
      // an `after` before the prefix starts at the prefix; one after every key under it gives nothing
      assert.deepStrictEqual(yield* store.keys({ prefix: "a", after: "A", limit: 2 }), ["a", "a\u{1F600}"])
      assert.deepStrictEqual(yield* store.keys({ prefix: "a", after: "a\uFF01" }), [])
      assert.deepStrictEqual(yield* store.keys({ prefix: "a", after: "b" }), [])
      assert.deepStrictEqual(yield* store.keys({ limit: 0 }), [])
      // every key still reads its own session
      for (const key of keys) {
        assert.deepStrictEqual(
          Option.map(Option.flatMap(yield* store.get(key), Session.refreshToken), Redacted.value),
          Option.some(`refresh-${key}`),
          key
        )
      }
      yield* store.remove("a\u{1F600}")
      assert.deepStrictEqual(yield* store.keys({ prefix: "a" }), ["a", "a\u{1F600}z", "a\uFF01"])
    })
  )

  it.scoped(
    "the index follows the hashes: what 0.3 wrote or removed, and nothing else, is reconciled at the first keys",
    () =>
      Effect.gen(function* () {
        // glob characters in the prefix, and a neighbour that the unescaped pattern would match
        const prefix = newPrefix("glob[ab]*?")
        const neighbour = prefix.replace("[ab]*?", "axx")
        const redis = yield* connect(redisUrl!)
        const { client } = yield* Effect.provide(Redis.Redis, redis)
        const store = yield* RedisTokenStore.make({ prefix }).pipe(Effect.provide(redis))
        yield* store.set("kept", Session.seeded("kept"))
        yield* store.set("gone", Session.seeded("gone"))
        assert.deepStrictEqual(yield* store.keys(), ["gone", "kept"])
        // 0.3 removes a session (DEL, no index) and writes one (HSET, no index), beside keys that are not sessions
        const legacy = `{"refreshToken":"legacy-refresh","tokenType":"Bearer","expiresAt":"1970-01-01T00:00:00.000Z","scope":[]}`
        yield* Effect.promise(() =>
          client
            .multi()
            .del(`${prefix}gone`)
            .hset(`${prefix}legacy`, "tokens", legacy, "version", "1")
            .set(`${prefix}kept\u0000lock`, "someone", "PX", 60_000)
            .set(`${prefix}a-string`, "not a session")
            .hset(`${prefix}other-hash`, "field", "value")
            .hset(`${neighbour}intruder`, "tokens", legacy, "version", "1")
            .exec()
        )
        // this store has reconciled already: it lists what its index says
        assert.deepStrictEqual(yield* store.keys(), ["gone", "kept"])
        const later = yield* RedisTokenStore.make({ prefix }).pipe(Effect.provide(redis))
        assert.deepStrictEqual(yield* later.keys(), ["kept", "legacy"])
        assert.deepStrictEqual(
          Option.map(Option.flatMap(yield* later.get("legacy"), Session.refreshToken), Redacted.value),
          Option.some("legacy-refresh")
        )
        assert.deepStrictEqual(yield* Effect.promise(() => client.zrange(indexKey(prefix), 0, -1)), ["kept", "legacy"])
        assert.strictEqual(yield* Effect.promise(() => client.exists(indexKey(neighbour))), 0)
        yield* later.remove("legacy")
        assert.deepStrictEqual(yield* later.keys(), ["kept"])
        assert.deepStrictEqual(yield* store.keys(), ["kept"])
      })
  )

  it.scoped("a server that persists nothing: one warning when the store starts", () =>
    Effect.gen(function* () {
      const prefix = newPrefix("persistence")
      const redis = yield* connect(redisUrl!)
      const { logs } = yield* withLogs(RedisTokenStore.make({ prefix }).pipe(Effect.provide(redis)))
      assert.deepStrictEqual(logs, [
        `WARN ${persistenceWarning} ${JSON.stringify({ location: `redis ${redisUrl} (${prefix}*)` })}`
      ])
    })
  )

  it.scopedLive(
    "8 processes × 50 callers for 20 s, 2 s tokens, rotation with family revocation: no invalid_grant, one refresh per expiry",
    () =>
      Effect.gen(function* () {
        const prefix = newPrefix("replicas")
        const lifetime = 2000
        const leeway = 1000
        const server = yield* FakeAuthorizationServer.make({
          rotate: true,
          revokeFamilyOnReuse: true,
          accessTokenLifetime: `${lifetime} millis`
        })
        const redis = yield* connect(redisUrl!)
        const store = yield* RedisTokenStore.make({ prefix }).pipe(Effect.provide(redis))
        const issued = yield* server.issueTokens()
        yield* store.set(TokenStore.defaultKey, Session.seeded(issued.refreshToken))
        yield* MultiProcess.runTogether({
          processes: 8,
          spawn: (env) =>
            runScript(
              fixture("worker.ts"),
              [
                ...MultiProcess.workerArgs({ accountsUrl: server.url, millis: 20_000, callers: 50, leeway }),
                redisUrl!,
                prefix,
                encryptionKey
              ],
              // a lease that a starved event loop (8 processes on 2 cores) cannot outlast between two renewals
              { ...env, LOCK_TTL: "10 seconds" }
            ),
          server,
          lifetime,
          leeway,
          minCalls: 2000
        })
        // the store holds a rotated refresh token: the seed was used once, and every refresh since brought a new one
        const sealed = yield* RedisTokenStore.make({ prefix }).pipe(
          TokenStore.withEncryption(Redacted.make(encryptionKey)),
          Effect.provide(redis)
        )
        const last = Option.getOrThrow(yield* sealed.get(TokenStore.defaultKey))
        assert.strictEqual(last._tag, "Active")
        assert.notStrictEqual(
          Redacted.value(Option.getOrThrow(Session.refreshToken(last))),
          Redacted.value(issued.refreshToken)
        )
      }),
    120_000
  )
})

describe.skipIf(!hasRedisServer)("Redis of the test's own (from PATH)", () => {
  it.scoped("the persistence warning: none with RDB snapshots or AOF on, none when CONFIG is not allowed", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "token-refresher-redis-" })
      const server = yield* startRedis(dir)
      const redis = yield* connect(server.url)
      const { client } = yield* Effect.provide(Redis.Redis, redis)
      const started = (url: string) =>
        Effect.map(
          withLogs(
            Effect.flatMap(connect(url), (connection) =>
              RedisTokenStore.make({ prefix: "p:" }).pipe(Effect.provide(connection))
            )
          ),
          ({ logs }) => logs
        )
      const location = JSON.stringify({ location: `redis ${server.url} (p:*)` })
      assert.deepStrictEqual(yield* started(server.url), [`WARN ${persistenceWarning} ${location}`])
      yield* Effect.promise(() => client.config("SET", "save", "3600 1"))
      assert.deepStrictEqual(yield* started(server.url), [])
      yield* Effect.promise(() => client.config("SET", "save", ""))
      yield* Effect.promise(() => client.config("SET", "appendonly", "yes"))
      assert.deepStrictEqual(yield* started(server.url), [])
      yield* Effect.promise(() => client.config("SET", "appendonly", "no"))
      assert.deepStrictEqual(yield* started(server.url), [`WARN ${persistenceWarning} ${location}`])
      // a user that may not run CONFIG (as on most hosted servers): nothing is said, and the store works
      yield* Effect.promise(() => client.call("ACL", "SETUSER", "app", "on", ">secret", "~*", "&*", "+@all", "-config"))
      const restricted = server.url.replace("redis://", "redis://app:secret@")
      assert.deepStrictEqual(yield* started(restricted), [])
      const store = yield* RedisTokenStore.make({ prefix: "p:" }).pipe(Effect.provide(yield* connect(restricted)))
      yield* store.set("alice", Session.seeded("alice"))
      assert.deepStrictEqual(yield* store.keys(), ["alice"])
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )

  it.scopedLive(
    "a lock holder killed mid-refresh: another process goes on within the TTL; Redis restarted mid-run: typed errors, then recovery",
    () =>
      Effect.gen(function* () {
        const fs = yield* FileSystem.FileSystem
        const dir = yield* fs.makeTempDirectoryScoped({ prefix: "token-refresher-redis-" })
        const first = yield* startRedis(dir)
        const prefix = newPrefix("restart")
        const server = yield* FakeAuthorizationServer.make({
          rotate: true,
          revokeFamilyOnReuse: true,
          tokenDelay: "5 seconds",
          accessTokenLifetime: "2 seconds"
        })
        const redis = yield* connect(first.url)
        const { client } = yield* Effect.provide(Redis.Redis, redis)
        const store = yield* RedisTokenStore.make({ prefix, lockTimeout: "20 seconds" }).pipe(Effect.provide(redis))
        const issued = yield* server.issueTokens()
        yield* store.set(TokenStore.defaultKey, Session.seeded(issued.refreshToken))
        const worker = (millis: number) =>
          runScript(fixture("worker.ts"), [
            ...MultiProcess.workerArgs({ accountsUrl: server.url, millis, callers: 1, leeway: 1000 }),
            first.url,
            prefix
          ])

        // killed mid-refresh, while its request is with the slow server
        const doomed = yield* worker(1)
        yield* Effect.repeat(
          Effect.promise(() => client.exists(`${prefix}${TokenStore.defaultKey}\u0000lock`)),
          { until: (n) => n === 1 }
        )
        yield* Effect.sleep("500 millis")
        assert.strictEqual((yield* doomed.kill).signal, "SIGKILL")
        // what frees the dead holder's lock is its TTL, 2 s in the workers, no longer renewed
        const ttl = yield* Effect.promise(() => client.pttl(`${prefix}${TokenStore.defaultKey}\u0000lock`))
        assert.isAbove(ttl, 0)
        assert.isAtMost(ttl, 2000)
        yield* server.setTokenDelay(0)
        const next = yield* (yield* worker(1)).result
        assert.strictEqual(next.code, 0, next.stderr)
        assert.deepStrictEqual(MultiProcess.summaryOf(next).errors, {})
        assert.strictEqual((yield* server.stats).refreshesRejected, 0)

        // Redis goes away for a while (saving its data), then comes back on the same port
        const during = yield* worker(8000)
        yield* during.waitFor(/ready/)
        yield* Effect.sleep("1 second")
        yield* Effect.promise(() => client.call("SHUTDOWN", "SAVE").catch(() => undefined))
        const down = yield* Effect.flip(store.get(TokenStore.defaultKey))
        assert.deepStrictEqual([down._tag, down.reason], ["TokenStoreError", "Read"])
        assert.isTrue(down.location.startsWith("redis ") && down.location.endsWith(`(${prefix}*)`), down.location)
        yield* Effect.sleep("2 seconds")
        yield* startRedis(dir, first.port)
        const outcome = yield* during.result
        assert.strictEqual(outcome.code, 0, outcome.stderr)
        const summary = MultiProcess.summaryOf(outcome)
        // while Redis was away some calls failed with a typed error; none was invalid_grant, and calls went on after
        assert.deepStrictEqual(
          Object.keys(summary.errors).filter((tag) => tag !== "TokenStoreError"),
          []
        )
        assert.isAbove(summary.accepted, 0)
        const stats = yield* server.stats
        assert.strictEqual(stats.refreshesRejected, 0)
        assert.strictEqual(stats.familiesRevoked, 0)
        // the store holds the server's current refresh token: one more refresh with it succeeds
        const stored = yield* Effect.retry(store.get(TokenStore.defaultKey), {
          times: 50,
          schedule: Schedule.spaced("200 millis")
        })
        assert.isTrue(Option.isSome(stored))
        const served = stats.refreshesServed
        // its access token expires (2 s); the next process refreshes with the stored refresh token
        yield* Effect.sleep("2500 millis")
        const last = yield* (yield* worker(1)).result
        assert.strictEqual(last.code, 0, last.stderr)
        assert.deepStrictEqual(MultiProcess.summaryOf(last).errors, {})
        assert.strictEqual((yield* server.stats).refreshesServed, served + 1)
        assert.strictEqual((yield* server.stats).refreshesRejected, 0)
      }).pipe(Effect.provide(NodeFileSystem.layer)),
    90_000
  )
})
