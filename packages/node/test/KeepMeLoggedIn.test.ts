import { FileSystem, HttpClient } from "@effect/platform"
import { NodeFileSystem, NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { BearerAuth, TokenManager, TokenStore } from "@token-refresher/core"
import { NodeTokenClient, NodeTokenStore } from "@token-refresher/node"
import { Spotify, SpotifyApi } from "@token-refresher/spotify"
import { Config, ConfigProvider, Effect, Layer } from "effect"
import { sendJson, testServer } from "./server.js"

/** A small rotating accounts server plus `/v1/me`, on 127.0.0.1. */
const spotifyLike = Effect.gen(function* () {
  const state = { generation: 0, refreshToken: "seed-refresh", accessToken: "none", refreshes: 0 }
  const server = yield* testServer((request, response) => {
    if (request.method === "POST" && request.url === "/api/token") {
      const form = new URLSearchParams(request.body)
      if (form.get("refresh_token") !== state.refreshToken) {
        return sendJson(response, 400, { error: "invalid_grant", error_description: "Invalid refresh token" })
      }
      state.generation++
      state.refreshes++
      state.accessToken = `access-${state.generation}`
      state.refreshToken = `refresh-${state.generation}`
      return sendJson(response, 200, {
        access_token: state.accessToken,
        token_type: "Bearer",
        expires_in: 3600,
        refresh_token: state.refreshToken,
        scope: "user-read-private"
      })
    }
    if (request.method === "GET" && request.url === "/v1/me") {
      return request.headers.authorization === `Bearer ${state.accessToken}`
        ? sendJson(response, 200, { id: "wizzler", display_name: "JM Wizzler", uri: "spotify:user:wizzler" })
        : sendJson(response, 401, { error: { status: 401, message: "The access token expired" } })
    }
    sendJson(response, 404, {})
  })
  return { server, state }
})

/** `XDG_CONFIG_HOME` set in the process's environment (where `NodeTokenStore.configFile` reads it) for the scope. */
const xdgConfigHome = (dir: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const before = process.env.XDG_CONFIG_HOME
      process.env.XDG_CONFIG_HOME = dir
      return before
    }),
    (before) =>
      Effect.sync(() => {
        if (before === undefined) delete process.env.XDG_CONFIG_HOME
        else process.env.XDG_CONFIG_HOME = before
      })
  )

describe("keep me logged in: Spotify + NodeTokenClient + NodeTokenStore + TokenManager + BearerAuth over real HTTP", () => {
  it.live("the README setup refreshes once, persists the rotation, and recovers from a revoked access token", () =>
    Effect.gen(function* () {
      const { server, state } = yield* spotifyLike
      const fs = yield* FileSystem.FileSystem
      const xdg = yield* fs.makeTempDirectoryScoped()
      const file = `${xdg}/token-refresher/spotify.json`
      yield* xdgConfigHome(xdg)
      assert.strictEqual(NodeTokenStore.configFile("spotify.json"), file)

      // exactly the README's setup
      const Authenticated = BearerAuth.layer.pipe(
        Layer.provideMerge(TokenManager.layer({ key: Spotify.sessionKey })),
        Layer.provide(Spotify.layerConfig().pipe(Layer.provide(NodeTokenClient.layer()))),
        Layer.provide(NodeTokenStore.layerFile(NodeTokenStore.configFile("spotify.json")).pipe(Spotify.seedFromEnv)),
        Layer.provide(NodeHttpClient.layerUndici)
      )
      const env = ConfigProvider.fromMap(
        new Map([
          ["SPOTIFY_CLIENT_ID", "id"],
          ["SPOTIFY_CLIENT_SECRET", "secret"],
          ["SPOTIFY_REFRESH_TOKEN", "seed-refresh"],
          ["SPOTIFY_ACCOUNTS_URL", server.url],
          ["XDG_CONFIG_HOME", xdg]
        ])
      )

      yield* Effect.gen(function* () {
        const responses = yield* Effect.all(
          Array.from({ length: 20 }, () => HttpClient.get(`${server.url}/v1/me`)),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(new Set(responses.map((r) => r.status)), new Set([200]))
        assert.strictEqual(state.refreshes, 1)
        assert.strictEqual(JSON.parse(yield* fs.readFileString(file)).spotify.tokens.refreshToken, "refresh-1")

        // the server forgets the access token: the next request gets a 401, refreshes once and succeeds
        state.accessToken = "revoked"
        const response = yield* HttpClient.get(`${server.url}/v1/me`)
        assert.strictEqual(response.status, 200)
        assert.strictEqual(state.refreshes, 2)
        assert.strictEqual(JSON.parse(yield* fs.readFileString(file)).spotify.tokens.refreshToken, "refresh-2")
      }).pipe(Effect.provide(Authenticated), Effect.provide(Layer.setConfigProvider(env)))

      // a restart reads the file: the rotated refresh token is used, the seed is ignored
      yield* Effect.gen(function* () {
        const user = yield* SpotifyApi.me
        assert.strictEqual(user.id, "wizzler")
        const manager = yield* TokenManager.TokenManager
        yield* manager.refreshNow
        assert.strictEqual(state.refreshes, 3)
        assert.strictEqual(JSON.parse(yield* fs.readFileString(file)).spotify.tokens.refreshToken, "refresh-3")
      }).pipe(
        Effect.provide(
          SpotifyApi.layer({ apiUrl: `${server.url}/v1` }).pipe(
            Layer.provideMerge(TokenManager.layer({ key: "spotify" })),
            Layer.provide(Spotify.layerConfig().pipe(Layer.provide(NodeTokenClient.layer()))),
            Layer.provide(
              NodeTokenStore.layerFile(file).pipe(
                TokenStore.seeded(Config.redacted("SPOTIFY_REFRESH_TOKEN"), { key: "spotify" })
              )
            ),
            Layer.provide(NodeHttpClient.layerUndici)
          )
        ),
        Effect.provide(Layer.setConfigProvider(env))
      )
    }).pipe(Effect.scoped, Effect.provide(NodeFileSystem.layer))
  )
})
