/**
 * A small service holding one ioredis connection, opened with the layer and closed with its scope.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { Redis as IORedis, type RedisOptions } from "ioredis"

/**
 * The connection could not be opened.
 *
 * @since 0.1.0
 * @category errors
 */
export class RedisConnectionError extends Schema.TaggedError<RedisConnectionError>(
  "@token-refresher/redis/RedisConnectionError"
)("RedisConnectionError", {
  /** The server, without any password. */
  location: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `Cannot connect to Redis at ${this.location}: ${this.detail}`
  }
}

/**
 * The `Redis` service.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly client: IORedis
  /** The server, without any password (for error messages). */
  readonly location: string
}

/**
 * The tag of the `Redis` service.
 *
 * @since 0.1.0
 * @category tags
 */
export class Redis extends Context.Tag("@token-refresher/redis/Redis")<Redis, Service>() {}

const describe = (options: string | RedisOptions): string => {
  if (typeof options !== "string") return `${options.host ?? "127.0.0.1"}:${options.port ?? 6379}`
  try {
    const url = new URL(options)
    return `${url.protocol}//${url.host}${url.pathname === "/" ? "" : url.pathname}`
  } catch {
    return "redis"
  }
}

/**
 * Opens a connection (`redis://host:port/db` or ioredis options) and closes it with the scope. While the server is
 * unreachable, ioredis reconnects by itself; the store's calls fail with a typed error in the meantime.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: string | RedisOptions): Layer.Layer<Redis, RedisConnectionError> =>
  Layer.scoped(
    Redis,
    Effect.gen(function* () {
      const location = describe(options)
      const settings: RedisOptions = {
        lazyConnect: true,
        // a command waits for a reconnect at most once; the store bounds every call with its own timeout too
        maxRetriesPerRequest: 1,
        retryStrategy: (times) => Math.min(times * 100, 1000)
      }
      const client =
        typeof options === "string" ? new IORedis(options, settings) : new IORedis({ ...settings, ...options })
      // without a listener, ioredis reports connection errors on stderr
      client.on("error", () => {})
      yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: () => client.connect(),
          catch: (error) =>
            new RedisConnectionError({ location, detail: error instanceof Error ? error.message : String(error) })
        }).pipe(Effect.onError(() => Effect.sync(() => client.disconnect()))),
        () => Effect.promise(() => client.quit().catch(() => client.disconnect()))
      )
      return { client, location }
    })
  )
