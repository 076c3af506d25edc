import { Effect } from "effect"
import { spawn, spawnSync } from "node:child_process"
import * as Net from "node:net"

/**
 * Where the Redis server of the tests is: `TOKEN_REFRESHER_REDIS_URL` (`source scripts/test-servers.sh` sets it).
 * Without it the Redis tests are skipped with one line saying so, except in CI (`CI` set to 1 or true), where that is an error.
 */
export const redisUrl: string | undefined = process.env.TOKEN_REFRESHER_REDIS_URL || undefined

if (redisUrl === undefined) {
  if (["1", "true"].includes(process.env.CI ?? "")) {
    throw new Error("CI is set but TOKEN_REFRESHER_REDIS_URL is not set: .ci/run must start Redis")
  }
  console.warn(
    "Redis tests skipped: no TOKEN_REFRESHER_REDIS_URL. Run `source scripts/test-servers.sh` first to run them."
  )
}

/** Whether `redis-server` is on PATH, for the tests that start (and restart) a server of their own. */
export const hasRedisServer = spawnSync("redis-server", ["--version"]).status === 0

const freePort = Effect.async<number>((resume) => {
  const server = Net.createServer().listen(0, "127.0.0.1", () => {
    const port = (server.address() as Net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** A `redis-server` from PATH on a free port, persisting to `dir` only when asked (SHUTDOWN SAVE); stopped with the scope. */
export const startRedis = (dir: string, port?: number) =>
  Effect.gen(function* () {
    const chosen = port ?? (yield* freePort)
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(
          "redis-server",
          ["--port", String(chosen), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
          { stdio: "ignore" }
        )
      ),
      (child) => Effect.sync(() => child.kill("SIGKILL"))
    )
    // ready when it accepts connections
    yield* Effect.async<void>((resume) => {
      const attempt = () => {
        const socket = Net.connect(chosen, "127.0.0.1")
        socket.once("connect", () => {
          socket.destroy()
          resume(Effect.void)
        })
        socket.once("error", () => setTimeout(attempt, 50))
      }
      attempt()
    }).pipe(Effect.timeout("10 seconds"), Effect.orDie)
    return { url: `redis://127.0.0.1:${chosen}`, port: chosen, child }
  })
