/**
 * A `TokenStore` in Redis, with the refresh lock in Redis.
 *
 * @since 0.1.0
 */
import { TokenStore } from "@token-refresher/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { Redis as IORedis } from "ioredis"
import * as keyIndex from "./internal/keyIndex.js"
import { Redis } from "./Redis.js"

/**
 * The options of the Redis store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Prepended to every key this store writes. Default: `token-refresher:`. */
  readonly prefix?: string | undefined
  /** How long `withLock` waits for the lock before failing with `TokenStoreError` (`Lock`). Default: 30 seconds. */
  readonly lockTimeout?: Duration.DurationInput | undefined
  /**
   * The lock's time to live; its holder renews it every third of it. A holder that dies stops renewing, and the lock
   * frees itself when the TTL runs out. Default: 5 seconds.
   */
  readonly lockTtl?: Duration.DurationInput | undefined
  /** The longest one Redis command may take before the call fails with `TokenStoreError`. Default: 3 seconds. */
  readonly commandTimeout?: Duration.DurationInput | undefined
}

/**
 * Writes only while `owner` holds the lock and the version is the one last read (when one was read), and keeps the
 * index of keys in step: `ZADD` with the write, `ZREM` with the delete.
 */
const writeScript = `
if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
local v = redis.call('HGET', KEYS[1], 'version')
if ARGV[2] ~= '' and (v or '0') ~= ARGV[2] then return -2 end
if ARGV[3] == '' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[3], ARGV[4])
  return 0
end
local n = (tonumber(v) or 0) + 1
redis.call('HSET', KEYS[1], 'tokens', ARGV[3], 'version', n)
redis.call('ZADD', KEYS[3], 0, ARGV[4])
return n`

/** Whether a key holds a session: a hash with a `tokens` field (not a lock, nor another application's key). */
const isSession = `
local function isSession(key)
  return redis.call('TYPE', key).ok == 'hash' and redis.call('HEXISTS', key, 'tokens') == 1
end`

/** Indexes the sessions among `KEYS[2..]` (their members in `ARGV`), checked at the moment they are indexed. */
const indexScript = `${isSession}
for i = 2, #KEYS do
  if isSession(KEYS[i]) then redis.call('ZADD', KEYS[1], 0, ARGV[i - 1]) end
end
return 0`

/** Drops the members of the index (`ARGV`) whose key (`KEYS[2..]`) holds no session any more. */
const pruneScript = `${isSession}
for i = 2, #KEYS do
  if not isSession(KEYS[i]) then redis.call('ZREM', KEYS[1], ARGV[i - 1]) end
end
return 0`

const releaseScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

const renewScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`

/** How many keys one step of the reconciliation of the index reads. */
const batch = 1000

/**
 * Builds the store on the `Redis` connection in context.
 *
 * - A session sits in a hash under `prefix + key`: `tokens`, the string that the store's codec gives (the JSON of the
 *   `Session`, or its sealed envelope under `TokenStore.encrypted`), and a version number. Hashes written by 0.3 hold
 *   the JSON of a `TokenSet` there, which the codec still reads; their next write replaces it.
 * - `keys` reads an index: a sorted set under `prefix + "\0keys"` whose members (all of score 0) are the session
 *   keys, added and removed by the same script as the session's write, so it never disagrees with the hashes. It pages
 *   with `ZRANGEBYLEX`, in `O(log n + limit)` per page: the keys in JavaScript's string order
 *   (by UTF-16 code unit: the members are the keys in CESU-8, whose bytes sort that way), those that start with the
 *   option `prefix`, strictly after `after`, at most `limit`. With `after` the last key of the previous page, no page
 *   repeats a key, and a key written meanwhile shows in a later page when it sorts after `after`.
 * - The first `keys` of a store reconciles the index with the hashes, once (`SCAN MATCH prefix*`, then the index):
 *   sessions written by 0.3, which kept no index, are added, and entries whose session is gone (removed by 0.3, or by
 *   hand) are dropped. During an upgrade, what 0.3 processes write after that is reconciled by the next store started.
 * - The refresh lock is `SET <prefix + key + "\0lock"> <random owner> NX PX <ttl>`, renewed by its holder every third
 *   of the TTL and released only by its owner (a compare-and-delete script). A holder that dies stops renewing: the
 *   lock frees itself when the TTL runs out.
 * - Writes are compare-and-set: only while the writer still owns the lock, and on the version it last read, so a
 *   holder whose lease ran out cannot overwrite a newer write (`TokenStoreError`, reason `Lock`).
 * - Redis unreachable or restarting: calls fail with `TokenStoreError` after `commandTimeout`, and `withLock` waits
 *   (within `lockTimeout`) or fails; nothing is refreshed without the lock, and work resumes when Redis is back.
 * - A Redis that persists nothing (neither AOF, `appendonly`, nor RDB snapshots, `save`) loses every session when it
 *   restarts: the store logs one warning when it starts on one (when the server lets it read `CONFIG`).
 *
 * Session keys must not contain a NUL character, which the lock and the index use to keep out of their way.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): Effect.Effect<TokenStore.Service, never, Redis | Scope.Scope> =>
  Effect.gen(function* () {
    const { client, location } = yield* Redis
    const prefix = options?.prefix ?? "token-refresher:"
    const ttlMillis = Math.round(Duration.toMillis(Duration.decode(options?.lockTtl ?? "5 seconds")))
    const commandTimeout = Duration.decode(options?.commandTimeout ?? "3 seconds")
    const dataKey = (key: string) => `${prefix}${key}`
    // a NUL cannot clash with any session key that a user would choose
    const lockKey = (key: string) => `${prefix}${key}\u0000lock`
    const indexKey = `${prefix}\u0000keys`
    const where = `redis ${location} (${prefix}*)`

    const command = <A>(
      reason: TokenStore.TokenStoreError["reason"],
      doing: string,
      run: () => Promise<A>
    ): Effect.Effect<A, TokenStore.TokenStoreError> =>
      Effect.tryPromise({
        try: run,
        catch: (error) =>
          new TokenStore.TokenStoreError({
            reason,
            location: where,
            detail: `${doing}: ${error instanceof Error ? error.message : String(error)}`
          })
      }).pipe(
        Effect.timeoutFail({
          duration: commandTimeout,
          onTimeout: () =>
            new TokenStore.TokenStoreError({
              reason,
              location: where,
              detail: `${doing}: Redis did not answer within ${Duration.format(commandTimeout)}`
            })
        })
      )

    yield* warnWithoutPersistence(client, commandTimeout).pipe(Effect.annotateLogs({ location: where }))

    /** The owner of each lock this instance holds, and the version each holder last read. */
    const owners = new Map<string, string>()
    const versions = new Map<string, string>()

    const get = (key: string) =>
      command("Read", "cannot read the session", () => client.hmget(dataKey(key), "tokens", "version")).pipe(
        Effect.map(([text, version]) => {
          if (owners.has(key)) versions.set(key, version ?? "0")
          return Option.fromNullable(text)
        })
      )

    const write = (key: string, text: string) =>
      command("Write", "cannot write the session", () =>
        client.eval(
          writeScript,
          3,
          dataKey(key),
          lockKey(key),
          indexKey,
          owners.get(key) ?? "",
          versions.get(key) ?? "",
          text,
          keyIndex.encode(key)
        )
      ).pipe(
        Effect.flatMap((result) => {
          if (result === -1) {
            return Effect.fail(
              new TokenStore.TokenStoreError({
                reason: "Lock",
                location: where,
                detail: `the lock of session "${key}" ran out while it was held; nothing was written`
              })
            )
          }
          if (result === -2) {
            return Effect.fail(
              new TokenStore.TokenStoreError({
                reason: "Write",
                location: where,
                detail: `session "${key}" changed since it was read; nothing was written`
              })
            )
          }
          if (typeof result === "number") versions.set(key, String(result))
          return Effect.void
        })
      )

    /** Adds to the index the sessions it lacks (written by 0.3), and drops its entries whose session is gone. */
    const reconcile = Effect.gen(function* () {
      const pattern = keyIndex.matchPrefix(prefix)
      let cursor = "0"
      do {
        const [next, found]: [string, Array<string>] = yield* command("Read", "cannot list the sessions", () =>
          client.scan(cursor, "MATCH", pattern, "COUNT", batch)
        )
        cursor = next
        const keys = found.map((found) => found.slice(prefix.length)).filter((key) => !key.includes("\u0000"))
        if (keys.length > 0) {
          yield* command("Write", "cannot index the sessions", () =>
            client.eval(indexScript, keys.length + 1, indexKey, ...keys.map(dataKey), ...keys.map(keyIndex.encode))
          )
        }
      } while (cursor !== "0")
      let from: Buffer = Buffer.from("-")
      for (;;) {
        const members = yield* command("Read", "cannot list the sessions", () =>
          client.zrangebylexBuffer(indexKey, from, "+", "LIMIT", 0, batch)
        )
        if (members.length === 0) break
        const keys = members.map(keyIndex.decode)
        yield* command("Write", "cannot index the sessions", () =>
          client.eval(pruneScript, keys.length + 1, indexKey, ...keys.map(dataKey), ...members)
        )
        if (members.length < batch) break
        from = Buffer.concat([Buffer.from("("), members[members.length - 1]!])
      }
    })
    // once per store, before its first `keys`, and again after a failure
    const reconciling = yield* Effect.makeSemaphore(1)
    let reconciled = false
    const indexed = Effect.suspend(() =>
      reconciled
        ? Effect.void
        : reconciling.withPermits(1)(
            Effect.suspend(() =>
              reconciled ? Effect.void : Effect.tap(reconcile, () => Effect.sync(() => (reconciled = true)))
            )
          )
    )

    const keys = (keysOptions?: TokenStore.KeysOptions) =>
      Effect.gen(function* () {
        const limit = keysOptions?.limit
        if (limit !== undefined && limit <= 0) return []
        yield* indexed
        const { max, min } = keyIndex.range(keysOptions?.prefix ?? "", keysOptions?.after)
        const members = yield* command("Read", "cannot list the sessions", () =>
          limit === undefined || !Number.isFinite(limit)
            ? client.zrangebylexBuffer(indexKey, min, max)
            : client.zrangebylexBuffer(indexKey, min, max, "LIMIT", 0, Math.ceil(limit))
        )
        return members.map(keyIndex.decode)
      })

    const acquire = (key: string): Effect.Effect<void, TokenStore.TokenStoreError, Scope.Scope> =>
      Effect.gen(function* () {
        const owner = globalThis.crypto.randomUUID()
        const tryOnce = command("Lock", "cannot take the lock", () =>
          client.set(lockKey(key), owner, "PX", ttlMillis, "NX")
        )
        yield* Effect.uninterruptibleMask((restore) =>
          Effect.zipRight(
            restore(
              Effect.repeat(tryOnce, {
                // unreachable Redis: keep trying until lockTimeout, as for a busy lock
                schedule: Schedule.spaced("25 millis"),
                until: (answer) => answer === "OK"
              }).pipe(Effect.retry({ schedule: Schedule.spaced("100 millis") }))
            ),
            Effect.addFinalizer(() =>
              Effect.zipRight(
                Effect.sync(() => {
                  owners.delete(key)
                  versions.delete(key)
                }),
                Effect.ignore(
                  command("Lock", "cannot release the lock", () => client.eval(releaseScript, 1, lockKey(key), owner))
                )
              )
            )
          )
        )
        owners.set(key, owner)
        versions.delete(key)
        const renew = Effect.ignore(
          command("Lock", "cannot renew the lock", () => client.eval(renewScript, 1, lockKey(key), owner, ttlMillis))
        )
        yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(Duration.millis(ttlMillis / 3)), renew)))
      })

    return yield* TokenStore.make({
      location: where,
      get,
      set: write,
      remove: (key) => write(key, ""),
      keys,
      acquire,
      lockTimeout: options?.lockTimeout
    })
  })

/** What a server without persistence loses when it restarts, said once when the store starts. */
const persistenceWarning =
  "Redis persists nothing (appendonly is no and save is empty): when it restarts, every session is lost and every " +
  "user must log in again. Turn on AOF (appendonly yes) or RDB snapshots (save)"

/** The value of a `CONFIG GET <name>` reply: `[name, value]`. */
const valueOf = (reply: unknown): unknown => (Array.isArray(reply) && reply.length === 2 ? reply[1] : undefined)

/** `CONFIG GET`: a server (or a user) that does not allow it says nothing, and the store says nothing either. */
const warnWithoutPersistence = (client: IORedis, timeout: Duration.Duration): Effect.Effect<void> =>
  Effect.tryPromise(() => Promise.all([client.config("GET", "appendonly"), client.config("GET", "save")])).pipe(
    Effect.timeout(timeout),
    Effect.flatMap(([appendonly, save]) =>
      valueOf(appendonly) === "no" && valueOf(save) === "" ? Effect.logWarning(persistenceWarning) : Effect.void
    ),
    Effect.ignore
  )

/**
 * The store as a layer on the `Redis` connection in context: `RedisTokenStore.layer().pipe(Layer.provide(Redis.layer(url)))`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<TokenStore.TokenStore, never, Redis> =>
  Layer.scoped(TokenStore.TokenStore, make(options))
