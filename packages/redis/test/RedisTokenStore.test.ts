import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { TokenSet, TokenStore } from "@token-refresher/core"
import { Redis, RedisTokenStore } from "@token-refresher/redis"
import { FakeAuthorizationServer } from "@token-refresher/testing/node"
import * as MultiProcess from "@token-refresher/testing/MultiProcess"
import * as TokenStoreContract from "@token-refresher/testing/TokenStoreContract"
import { Duration, Effect, Layer, Option, Redacted, Schedule } from "effect"
import { fixture, runScript } from "./child.js"
import { hasRedisServer, redisUrl, startRedis } from "./servers.js"

const encryptionKey = "q8a6VxQ1aY3cQ2qkE7n7sJm2b0u5sWZ0nC1m9P4yF6g="
let prefixes = 0
const newPrefix = (name: string) => `test:${name}:${process.pid}:${prefixes++}:`

const connect = (url: string) => Effect.orDie(Layer.build(Redis.layer(url)))

describe.skipIf(redisUrl === undefined)("Redis", () => {
  const setup = Effect.sync(() => {
    const prefix = newPrefix("contract")
    const backing: TokenStoreContract.Backing = {
      // each instance has its own connection, as another process would
      store: ({ lockTimeout }) =>
        Effect.flatMap(connect(redisUrl!), (redis) =>
          RedisTokenStore.make({ prefix, lockTimeout, lockTtl: "2 seconds" }).pipe(Effect.provide(redis))
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
    setup: TokenStoreContract.encrypted(setup, Redacted.make(encryptionKey))
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
            yield* other.set("alice", TokenSet.fromRefreshToken("newer"))
            yield* slow.set("alice", TokenSet.fromRefreshToken("older"))
          })
        )
      )
      assert.strictEqual(error.reason, "Lock")
      assert.include(error.message, "nothing was written")
      assert.strictEqual(
        Redacted.value(Option.getOrThrow(yield* other.get("alice")).refreshToken.pipe(Option.getOrThrow)),
        "newer"
      )
      assert.strictEqual(yield* Effect.promise(() => client.hget(`${prefix}alice`, "version")), "1")

      const sealed = yield* Effect.orDie(TokenStore.makeEncrypted(other, Redacted.make(encryptionKey)))
      yield* sealed.set("bob", TokenSet.fromRefreshToken("SENTINEL-REFRESH"))
      const raw = yield* Effect.promise(() => client.hget(`${prefix}bob`, "tokens"))
      assert.isString(raw)
      assert.notInclude(raw!, "SENTINEL")
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
        yield* store.set(TokenStore.defaultKey, TokenSet.fromRefreshToken(issued.refreshToken))
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
              env
            ),
          loadMillis: 8000,
          server,
          lifetime,
          leeway,
          minCalls: 2000
        })
      }),
    120_000
  )
})

describe.skipIf(!hasRedisServer)("Redis of the test's own (from PATH)", () => {
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
        yield* store.set(TokenStore.defaultKey, TokenSet.fromRefreshToken(issued.refreshToken))
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
