/**
 * A `TokenStore` in Redis, with the refresh lock in Redis.
 *
 * @since 0.1.0
 */
import { TokenSet, TokenStore } from "@token-refresher/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
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

const decodeTokens = Schema.decodeUnknownEither(TokenSet.TokenSetFromJson)
const encodeTokens = Schema.encodeSync(TokenSet.TokenSetFromJson)

/** Writes only while `owner` holds the lock and the version is the one last read (when one was read). */
const writeScript = `
if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
local v = redis.call('HGET', KEYS[1], 'version')
if ARGV[2] ~= '' and (v or '0') ~= ARGV[2] then return -2 end
if ARGV[3] == '' then redis.call('DEL', KEYS[1]) return 0 end
local n = (tonumber(v) or 0) + 1
redis.call('HSET', KEYS[1], 'tokens', ARGV[3], 'version', n)
return n`

const releaseScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

const renewScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`

/**
 * Builds the store on the `Redis` connection in context.
 *
 * - The tokens of a session sit in a hash under `prefix + key`: the encoded `TokenSet` and a version number.
 * - The refresh lock is `SET <lock key> <random owner> NX PX <ttl>`, renewed by its holder every third of the TTL and
 *   released only by its owner (a compare-and-delete script). A holder that dies stops renewing: the lock frees
 *   itself when the TTL runs out.
 * - Writes are compare-and-set: only while the writer still owns the lock, and on the version it last read, so a
 *   holder whose lease ran out cannot overwrite a newer write (`TokenStoreError`, reason `Lock`).
 * - Redis unreachable or restarting: calls fail with `TokenStoreError` after `commandTimeout`, and `withLock` waits
 *   (within `lockTimeout`) or fails; nothing is refreshed without the lock, and work resumes when Redis is back.
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

    /** The owner of each lock this instance holds, and the version each holder last read. */
    const owners = new Map<string, string>()
    const versions = new Map<string, string>()

    const get = (key: string) =>
      command("Read", "cannot read the session", () => client.hmget(dataKey(key), "tokens", "version")).pipe(
        Effect.flatMap(([text, version]) => {
          if (owners.has(key)) versions.set(key, version ?? "0")
          if (text === null || text === undefined) return Effect.succeedNone
          return Either.match(decodeTokens(text), {
            onLeft: () =>
              Effect.fail(
                new TokenStore.TokenStoreError({
                  reason: "Corrupt",
                  location: where,
                  detail: `the value of session "${key}" is not a saved TokenSet`
                })
              ),
            onRight: (tokens) => Effect.succeed(Option.some(tokens))
          })
        })
      )

    const write = (key: string, text: string) =>
      command("Write", "cannot write the session", () =>
        client.eval(writeScript, 2, dataKey(key), lockKey(key), owners.get(key) ?? "", versions.get(key) ?? "", text)
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
      set: (key, tokens) => write(key, encodeTokens(tokens)),
      remove: (key) => write(key, ""),
      acquire,
      lockTimeout: options?.lockTimeout
    })
  })

/**
 * The store as a layer on the `Redis` connection in context: `RedisTokenStore.layer().pipe(Layer.provide(Redis.layer(url)))`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<TokenStore.TokenStore, never, Redis> =>
  Layer.scoped(TokenStore.TokenStore, make(options))
