import { NodeHttpClient } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { assert, describe, it } from "@effect/vitest"
import { Session, TokenRefresher, TokenSessions, TokenStore } from "@token-refresher/core"
import { SqlTokenStore } from "@token-refresher/sql"
import { FakeAuthorizationServer } from "@token-refresher/testing/node"
import { Duration, Effect, Exit, Fiber, Layer, Redacted, Ref, Schedule } from "effect"
import { buildIn, pgUrl } from "./servers.js"

let tables = 0
const nextTable = (name: string) => `${name}_${process.pid}_${tables++}`

/** A store on a pool of `connections`, with the raw client beside it. */
const storeOn = (connections: number, table: string, lockTimeout: Duration.DurationInput) =>
  Effect.gen(function* () {
    const client = yield* buildIn(PgClient.layer({ url: Redacted.make(pgUrl!), maxConnections: connections }))
    const store = yield* SqlTokenStore.make({ table, lockTimeout }).pipe(Effect.provide(client), Effect.orDie)
    return { client, store }
  })

/** Every key answers `get` within a second, and `connections` locks can be held at once: no connection was lost. */
const poolIsWhole = (store: TokenStore.Service, keys: ReadonlyArray<string>, connections: number) =>
  Effect.gen(function* () {
    for (const key of keys) {
      const got = yield* Effect.exit(store.get(key).pipe(Effect.timeout("1 second")))
      assert.isTrue(Exit.isSuccess(got), `get("${key}") did not answer within a second`)
    }
    // each holder waits inside its lock until all are in: they need `connections` connections at the same time
    const inside = yield* Ref.make(0)
    yield* Effect.all(
      Array.from({ length: connections }, (_, i) =>
        store.withLock(`whole-${i}`)(
          Effect.zipRight(
            Ref.update(inside, (n) => n + 1),
            Effect.repeat(Ref.get(inside), { until: (n) => n === connections, schedule: Schedule.spaced("10 millis") })
          )
        )
      ),
      { concurrency: "unbounded" }
    ).pipe(
      Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => "the pool has fewer connections than it should" }),
      Effect.orDie
    )
  })

const lockFailure = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error instanceof TokenStore.TokenStoreError
    ? exit.cause.error.reason
    : String(exit)

const tokenTimeout = Duration.seconds(5)

/**
 * `sessions` sessions whose access tokens have expired (seeds), `callers` callers of each at once through
 * `TokenSessions`, on a pool of `connections`, against a server that rotates refresh tokens and revokes the family of
 * one used twice.
 */
const storm = (options: {
  readonly connections: number
  readonly sessions: number
  readonly callers: number
  readonly lockTimeout: Duration.DurationInput
}) =>
  Effect.gen(function* () {
    const lockTimeout = Duration.decode(options.lockTimeout)
    // each refresh takes 100 ms, holding its lock and its connection: the pool is the bottleneck
    const server = yield* FakeAuthorizationServer.make({
      rotate: true,
      revokeFamilyOnReuse: true,
      tokenDelay: "100 millis"
    })
    const { store } = yield* storeOn(options.connections, nextTable("storm"), lockTimeout)
    const keys = Array.from({ length: options.sessions }, (_, i) => `user-${i}`)
    for (const key of keys) {
      const issued = yield* server.issueTokens()
      yield* Effect.orDie(store.set(key, Session.seeded(issued.refreshToken)))
    }
    const sessions = yield* buildIn(
      TokenSessions.layer().pipe(
        Layer.provide(
          TokenRefresher.layer({
            ...FakeAuthorizationServer.confidentialOptions(server.url),
            timeout: tokenTimeout
          }).pipe(Layer.provide(NodeHttpClient.layerUndici))
        ),
        Layer.provide(Layer.succeed(TokenStore.TokenStore, store))
      )
    )
    const accessToken = (key: string) => Effect.provide(TokenSessions.accessToken(key), sessions)

    const started = Date.now()
    const calls = yield* Effect.all(
      keys.flatMap((key) => Array.from({ length: options.callers }, () => Effect.exit(Effect.timed(accessToken(key))))),
      { concurrency: "unbounded" }
    )
    const stormMillis = Date.now() - started
    const bound = Duration.toMillis(lockTimeout) + Duration.toMillis(tokenTimeout) + 1000
    let locked = 0
    for (const call of calls) {
      if (Exit.isSuccess(call)) {
        assert.isAtMost(Duration.toMillis(call.value[0]), bound)
        assert.match(Redacted.value(call.value[1]), /^fake-access-/)
      } else {
        // the only failure allowed: the lock was not free in time
        assert.strictEqual(lockFailure(call), "Lock")
        locked++
      }
    }
    // afterwards every session gets its token (one at a time: the sessions that were not refreshed are refreshed now)
    const again = Date.now()
    const tokens = yield* Effect.forEach(keys, (key) => accessToken(key).pipe(Effect.timeout("5 seconds"))).pipe(
      Effect.orDie
    )
    const afterMillis = Date.now() - again
    assert.strictEqual(tokens.length, options.sessions)
    // one refresh per session in all, and no refresh token used twice
    const stats = yield* server.stats
    assert.strictEqual(stats.refreshesRejected, 0)
    assert.strictEqual(stats.familiesRevoked, 0)
    assert.strictEqual(stats.refreshesServed, options.sessions)
    console.log(
      `storm on a pool of ${options.connections}: ${options.sessions} sessions × ${options.callers} callers served ` +
        `in ${stormMillis} ms (${locked} Lock failures), then all ${options.sessions} again in ${afterMillis} ms`
    )
  })

describe.skipIf(pgUrl === undefined)("PostgreSQL store under pool pressure", () => {
  it.scopedLive("pool of 2: two holders and two waiters that time out, then every key answers within a second", () =>
    Effect.gen(function* () {
      const { store } = yield* storeOn(2, nextTable("pool2"), "1 second")
      const keys = ["a", "b", "c", "d"]
      for (const key of keys) yield* Effect.orDie(store.set(key, Session.seeded(`refresh-${key}`)))
      const holders = yield* Effect.forkAll(
        keys.slice(0, 2).map((key) => store.withLock(key)(Effect.sleep("2 seconds")))
      )
      yield* Effect.sleep("300 millis")
      const waiters = yield* Effect.all(
        keys.slice(2).map((key) => Effect.exit(store.withLock(key)(Effect.void))),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(waiters.map(lockFailure), ["Lock", "Lock"])
      const details = waiters.map((exit) =>
        Exit.isFailure(exit) && exit.cause._tag === "Fail"
          ? (exit.cause.error as TokenStore.TokenStoreError).detail
          : ""
      )
      assert.deepStrictEqual(details, [
        'the refresh lock of session "c" was not free within 1s',
        'the refresh lock of session "d" was not free within 1s'
      ])
      yield* Effect.orDie(Fiber.join(holders))
      yield* poolIsWhole(store, keys, 2)
    })
  )

  it.scopedLive(
    "pool of 2: an interrupted waiter, a failed query and a lost connection inside the lock leak nothing",
    () =>
      Effect.gen(function* () {
        const { client, store } = yield* storeOn(2, nextTable("paths"), "5 seconds")
        const sql = yield* Effect.provide(SqlClient.SqlClient, client)
        // interrupted while it waits for a connection (both are held) and while it waits for the lock
        const holders = yield* Effect.forkAll(["a", "b"].map((key) => store.withLock(key)(Effect.sleep("1 second"))))
        yield* Effect.sleep("200 millis")
        const forConnection = yield* Effect.fork(store.withLock("c")(Effect.void))
        const forLock = yield* Effect.fork(store.withLock("a")(Effect.void))
        yield* Effect.sleep("200 millis")
        yield* Fiber.interrupt(forConnection)
        yield* Fiber.interrupt(forLock)
        yield* Effect.orDie(Fiber.join(holders))
        yield* poolIsWhole(store, ["a", "c"], 2)
        // a failed query inside the lock: the failure comes out, the connection goes back
        const failed = yield* Effect.exit(store.withLock("a")(sql`SELECT * FROM no_such_table`))
        assert.isTrue(Exit.isFailure(failed))
        yield* poolIsWhole(store, ["a"], 2)
        // the holder's connection is lost (terminated by the server) while it holds the lock
        const lost = yield* Effect.exit(store.withLock("a")(sql`SELECT pg_terminate_backend(pg_backend_pid())`))
        assert.isTrue(Exit.isFailure(lost))
        yield* poolIsWhole(store, ["a"], 2)
        // interrupted while it holds the lock, in the middle of a statement
        const holding = yield* Effect.fork(store.withLock("a")(sql`SELECT pg_sleep(0.5)`))
        yield* Effect.sleep("100 millis")
        yield* Fiber.interrupt(holding)
        yield* poolIsWhole(store, ["a"], 2)
      })
  )

  it.scopedLive(
    "pool of 2: 20 expired sessions × 10 callers on a rotating server: one refresh each, no reuse, then all served",
    () => storm({ connections: 2, sessions: 20, callers: 10, lockTimeout: "1 second" }),
    60_000
  )

  it.scopedLive(
    "pool of 10: 200 expired sessions × 10 callers on a rotating server: one refresh each, no reuse, then all served",
    () => storm({ connections: 10, sessions: 200, callers: 10, lockTimeout: "5 seconds" }),
    120_000
  )
})
