/**
 * The `Redis` connection service: `Redis.layer(url | options)`.
 *
 * @since 0.1.0
 */
export * as Redis from "./Redis.js"

/**
 * `RedisTokenStore.layer({ prefix, lockTimeout, lockTtl })`: a `TokenStore` in Redis with the refresh lock in Redis.
 *
 * @since 0.1.0
 */
export * as RedisTokenStore from "./RedisTokenStore.js"
