/**
 * `pnpm bench`: how fast the hot paths are. Prints figures; asserts nothing.
 */
import { NodeContext, NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { TokenManager, TokenRefresher, TokenSessions, TokenSet, TokenStore } from "@token-refresher/core"
import { NodeTokenStore } from "@token-refresher/node"
import { Spotify } from "@token-refresher/spotify"
import { FakeAuthorizationServer, MockTokenEndpoint } from "@token-refresher/testing"
import { Console, DateTime, Effect, Layer, Redacted, Option } from "effect"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const start = process.hrtime.bigint()
    const value = yield* effect
    return { value, millis: Number(process.hrtime.bigint() - start) / 1e6 }
  })

const row = (name: string, n: number, millis: number, extra = "") =>
  Console.log(
    `${name.padEnd(58)}${String(n).padStart(8)}  ${millis.toFixed(1).padStart(9)} ms  ${((millis * 1000) / n)
      .toFixed(2)
      .padStart(10)} µs/op  ${extra}`
  )

const fresh = new TokenSet.TokenSet({
  accessToken: Option.some(Redacted.make("fresh-access")),
  refreshToken: Option.some(Redacted.make("r")),
  tokenType: "Bearer",
  expiresAt: DateTime.unsafeMake(Date.now() + 3600_000),
  scope: []
})

const mockStack = (
  replies: Iterable<MockTokenEndpoint.Reply> | MockTokenEndpoint.Handler,
  initial: TokenSet.TokenSet
) =>
  TokenManager.layer().pipe(
    Layer.provideMerge(TokenStore.layerMemory(initial)),
    Layer.provideMerge(
      TokenRefresher.layer({
        tokenUrl: "https://accounts.example.com/token",
        clientId: "id",
        clientSecret: Redacted.make("s")
      })
    ),
    Layer.provideMerge(MockTokenEndpoint.layer(replies)),
    Layer.orDie
  )

const program = Effect.gen(function* () {
  yield* Console.log(`${"benchmark".padEnd(58)}${"n".padStart(8)}  ${"total".padStart(12)}  ${"per op".padStart(16)}`)

  // warm-up, then the cached fast path: no refresh, no store read
  yield* Effect.gen(function* () {
    const manager = yield* TokenManager.TokenManager
    yield* Effect.repeatN(manager.accessToken, 10_000)
    const n = 200_000
    const { millis } = yield* timed(Effect.repeatN(manager.accessToken, n - 1))
    yield* row("TokenManager.accessToken, valid token (cached)", n, millis)
  }).pipe(Effect.provide(mockStack([], fresh)))

  // 1,000 concurrent callers on an expired token: one refresh, everyone waits for it
  for (const concurrent of [1_000, 10_000]) {
    yield* Effect.gen(function* () {
      const manager = yield* TokenManager.TokenManager
      const { millis } = yield* timed(
        Effect.all(
          Array.from({ length: concurrent }, () => manager.accessToken),
          { concurrency: "unbounded" }
        )
      )
      const requests = yield* Effect.flatMap(MockTokenEndpoint.MockTokenEndpoint, (mock) => mock.count)
      yield* row(
        `${concurrent} concurrent accessToken, expired token (mock HTTP)`,
        concurrent,
        millis,
        `${requests} refresh request`
      )
    }).pipe(Effect.provide(mockStack([MockTokenEndpoint.ok()], TokenSet.fromRefreshToken("r"))))
  }

  // the whole refresh pipeline (request building, decoding, TokenSet) over the mock client
  yield* Effect.gen(function* () {
    const n = 5_000
    const { millis } = yield* timed(Effect.repeatN(TokenRefresher.refresh(Redacted.make("r")), n - 1))
    yield* row("TokenRefresher.refresh over MockTokenEndpoint", n, millis)
  }).pipe(Effect.provide(mockStack(() => MockTokenEndpoint.ok({ rotate: true }), fresh)))

  // real HTTP on loopback, through undici, against the fake server (no rotation, so one token serves every request)
  yield* Effect.scoped(
    Effect.gen(function* () {
      const server = yield* FakeAuthorizationServer.make({ rotate: false })
      const { refreshToken } = yield* server.issueTokens()
      const client = FakeAuthorizationServer.confidentialClient
      yield* Effect.gen(function* () {
        yield* Effect.repeatN(TokenRefresher.refresh(refreshToken), 50)
        const n = 1_000
        const { millis } = yield* timed(Effect.repeatN(TokenRefresher.refresh(refreshToken), n - 1))
        yield* row("TokenRefresher.refresh, real HTTP on 127.0.0.1 (undici)", n, millis)
        const { millis: parallel } = yield* timed(
          Effect.all(
            Array.from({ length: n }, () => TokenRefresher.refresh(refreshToken)),
            { concurrency: 16 }
          )
        )
        yield* row("TokenRefresher.refresh, real HTTP, 16 in parallel", n, parallel)
      }).pipe(
        Effect.provide(
          Spotify.layer({
            clientId: client.clientId,
            clientSecret: Redacted.make(client.clientSecret!),
            accountsUrl: server.url
          }).pipe(Layer.provide(NodeHttpClient.layerUndici))
        )
      )
    })
  )
  // many sessions: the first call of a session builds its manager; later calls reuse it
  const keys = Array.from({ length: 20_000 }, (_, i) => `user-${i}`)
  yield* Effect.gen(function* () {
    const sessions = yield* TokenSessions.TokenSessions
    const first = yield* timed(Effect.forEach(keys, (key) => sessions.accessToken(key), { discard: true }))
    yield* row("TokenSessions.accessToken, first call of a session", keys.length, first.millis)
    const again = yield* timed(Effect.forEach(keys, (key) => sessions.accessToken(key), { discard: true }))
    yield* row("TokenSessions.accessToken, live session, valid token", keys.length, again.millis)
  }).pipe(
    Effect.provide(
      TokenSessions.layer().pipe(
        Layer.provideMerge(TokenStore.layerMemory(keys.map((key) => [key, fresh] as const))),
        Layer.provide(TokenRefresher.layer({ tokenUrl: "https://accounts.example.com/token", clientId: "id" })),
        Layer.provide(MockTokenEndpoint.layer([]))
      )
    ),
    Effect.orDie
  )

  // the file store's lock: take and release it, no other process waiting
  yield* Effect.scoped(
    Effect.gen(function* () {
      const dir = yield* Effect.promise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), "token-refresher-bench-")))
      yield* Effect.addFinalizer(() => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true })))
      const store = yield* NodeTokenStore.makeFile(Path.join(dir, "t.json")).pipe(Effect.provide(NodeContext.layer))
      yield* store.set(TokenStore.defaultKey, fresh)
      const n = 200
      const { millis } = yield* timed(Effect.repeatN(store.withLock(TokenStore.defaultKey)(Effect.void), n - 1))
      yield* row("NodeTokenStore.layerFile withLock (take and release)", n, millis)
      const writes = yield* timed(Effect.repeatN(store.set(TokenStore.defaultKey, fresh), n - 1))
      yield* row("NodeTokenStore.layerFile set (lock, atomic write, fsync)", n, writes.millis)
    })
  ).pipe(Effect.orDie)

  yield* Console.log(`\nnode ${process.version}, ${process.platform}/${process.arch}`)
})

NodeRuntime.runMain(program)
