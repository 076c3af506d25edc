/**
 * `pnpm demo`: the whole SDK against a fake Spotify on 127.0.0.1. No credentials, no network, a few seconds.
 */
import { FileSystem } from "@effect/platform"
import { NodeContext, NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { Pkce, Session, TokenManager, TokenRefresher, TokenStore } from "@token-refresher/core"
import { NodeTokenStore } from "@token-refresher/node"
import { Spotify, SpotifyApi } from "@token-refresher/spotify"
import { FakeAuthorizationServer } from "@token-refresher/testing/node"
import { Console, DateTime, Effect, Layer, Redacted, Option } from "effect"

const heading = (n: number, title: string) =>
  Console.log(`\n── ${n}. ${title} ${"─".repeat(Math.max(0, 66 - title.length))}`)
const line = (text: string) => Console.log(`   ${text}`)

const program = Effect.gen(function* () {
  const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
  const fs = yield* FileSystem.FileSystem
  const storePath = `${yield* fs.makeTempDirectoryScoped({ prefix: "token-refresher-demo-" })}/spotify.json`
  yield* Console.log(`token-refresher demo: a fake Spotify accounts server is listening on ${server.url}`)
  yield* Console.log(`tokens are kept in ${storePath}`)

  const client = FakeAuthorizationServer.confidentialClient
  const spotify: Spotify.Options = {
    clientId: client.clientId,
    clientSecret: Redacted.make(client.clientSecret!),
    accountsUrl: server.url,
    retry: { baseDelay: "200 millis" }
  }
  const Refresher = Spotify.layer(spotify).pipe(Layer.provide(NodeHttpClient.layerUndici))
  const Store = NodeTokenStore.layerFile(storePath)
  const App = SpotifyApi.layer({ apiUrl: server.apiUrl }).pipe(
    Layer.provideMerge(TokenManager.layer({ leeway: "1 second" })),
    Layer.provideMerge(Store),
    Layer.provideMerge(Refresher),
    Layer.provide(NodeHttpClient.layerUndici)
  )
  let retries = 0
  const tokenRequests = Effect.map(server.requests, (all) => all.filter((r) => r.path === "/api/token"))

  yield* Effect.gen(function* () {
    const manager = yield* TokenManager.TokenManager
    const refresher = yield* TokenRefresher.TokenRefresher
    const store = yield* TokenStore.TokenStore

    yield* heading(1, "Log in (authorization code with PKCE, approved at once)")
    yield* server.setAccessTokenLifetime("2 seconds")
    const pkce = yield* Pkce.make
    const state = yield* Pkce.randomString(16)
    const redirectUri = "http://127.0.0.1:8888/callback"
    const authorize = Spotify.authorizeUrl({
      accountsUrl: server.url,
      clientId: client.clientId,
      redirectUri,
      state,
      scope: ["user-read-private", "user-read-email"],
      codeChallenge: pkce.challenge
    })
    // the "browser": follow the authorization to the redirect and read the code from it
    const location = new URL(
      (yield* Effect.promise(() => fetch(authorize, { redirect: "manual" }))).headers.get("location")!
    )
    yield* line(
      `redirected to ${location.origin}${location.pathname} with a code (read here instead of by a browser); ` +
        `state matches: ${location.searchParams.get("state") === state}`
    )
    const tokens = yield* refresher.exchangeCode({
      code: Redacted.make(location.searchParams.get("code")!),
      redirectUri,
      codeVerifier: pkce.verifier
    })
    yield* store.set(TokenStore.defaultKey, Session.active(tokens))
    yield* line(
      `logged in: access token ${String(tokens.accessToken)}, scopes ${tokens.scope.join(" ")}, saved to the store`
    )
    yield* server.setAccessTokenLifetime("3600 seconds")

    yield* heading(2, "An API call with the fresh token")
    const me = yield* SpotifyApi.me
    yield* line(`GET /v1/me → ${me.displayName} (${me.id}), ${me.product}`)

    yield* heading(3, "The token expires (2 s lifetime, 1 s leeway)")
    yield* Effect.sleep("1100 millis")
    const current = Option.flatMap(yield* manager.current, Session.tokens)
    yield* line(
      `stored token expires at ${current._tag === "Some" ? DateTime.formatIso(current.value.expiresAt) : "?"}: ` +
        "inside the 1 s leeway now, so the next use refreshes"
    )

    yield* heading(4, "100 concurrent API calls")
    const before = (yield* tokenRequests).length
    const refreshBefore = current._tag === "Some" ? Redacted.value(Option.getOrThrow(current.value.refreshToken)) : ""
    const users = yield* Effect.all(
      Array.from({ length: 100 }, () => SpotifyApi.me),
      { concurrency: "unbounded" }
    )
    const after = (yield* tokenRequests).length
    const rotated = Option.flatMap(yield* manager.current, Session.tokens)
    yield* line(
      `${users.length} calls answered for ${users[0]!.id}; token requests: ${after - before} (one refresh, the others waited for it)`
    )
    yield* line(
      `refresh token rotated: ${rotated._tag === "Some" && Redacted.value(Option.getOrThrow(rotated.value.refreshToken)) !== refreshBefore ? "yes, and the new one is saved" : "no"}`
    )
    const saved = JSON.parse(yield* fs.readFileString(storePath))
    yield* line(
      `the file holds the new refresh token: ${rotated._tag === "Some" && saved.default.tokens.refreshToken === Redacted.value(Option.getOrThrow(rotated.value.refreshToken))}; mode 0${((yield* fs.stat(storePath)).mode & 0o777).toString(8)}`
    )

    yield* heading(5, "The server answers 503, 503, then 200")
    yield* server.inject(FakeAuthorizationServer.status(503), FakeAuthorizationServer.status(503))
    const start5 = (yield* tokenRequests).length
    yield* manager.refreshNow
    const attempts5 = (yield* tokenRequests).slice(start5)
    retries += attempts5.length - 1
    for (const [i, request] of attempts5.entries()) {
      const wait = i === 0 ? "" : ` after waiting ${request.at - attempts5[i - 1]!.at} ms`
      yield* line(`attempt ${i + 1}: HTTP ${request.status}${wait}`)
    }

    yield* heading(6, "Rate limited: 429 with Retry-After: 1")
    yield* server.inject(FakeAuthorizationServer.rateLimited(1))
    const start6 = (yield* tokenRequests).length
    yield* manager.refreshNow
    const attempts6 = (yield* tokenRequests).slice(start6)
    retries += attempts6.length - 1
    yield* line(
      `attempt 1: HTTP ${attempts6[0]!.status}; attempt 2: HTTP ${attempts6[1]!.status} after waiting ${attempts6[1]!.at - attempts6[0]!.at} ms, as the server asked`
    )

    yield* heading(7, "The refresh token is revoked")
    yield* server.revokeRefreshTokens
    const revoked = yield* Effect.flip(manager.refreshNow)
    yield* line(`${revoked._tag}: ${revoked.message}`)
    yield* line("→ the user must log in again: `token-refresher login`")
    const count7 = (yield* tokenRequests).length
    const again = yield* Effect.flip(manager.accessToken)
    yield* line(
      `asked again: ${again._tag} at once, without a request (token requests still ${(yield* tokenRequests).length - count7 === 0 ? "unchanged" : "changed!"})`
    )

    yield* heading(8, "Rate limited for an hour: 429 with Retry-After: 3600")
    const relogin = yield* server.issueTokens()
    yield* server.inject(FakeAuthorizationServer.rateLimited(3600))
    const tooLong = yield* Effect.flip(refresher.refresh(relogin.refreshToken))
    yield* line(`not waited for: ${tooLong._tag}: ${tooLong.message}`)
    const count8 = (yield* tokenRequests).length
    const held = yield* Effect.flip(refresher.refresh(relogin.refreshToken))
    yield* line(`the next refresh, for any session: ${held._tag}: ${held.message}`)
    yield* line(
      `token requests sent meanwhile: ${(yield* tokenRequests).length - count8} (every session waits for the hour the server asked)`
    )
  }).pipe(Effect.provide(App))

  const stats = yield* server.stats
  yield* heading(9, "Summary")
  const rows: ReadonlyArray<readonly [string, number]> = [
    ["requests served", stats.requests],
    ["logins (codes exchanged)", stats.codesExchanged],
    ["refreshes served", stats.refreshesServed],
    ["refreshes rejected", stats.refreshesRejected],
    ["faults injected", stats.faultsInjected],
    ["retries", retries],
    ["API calls", stats.apiCalls],
    ["API calls rejected (401)", stats.apiRejected]
  ]
  for (const [name, value] of rows) yield* line(`${name.padEnd(28)}${String(value).padStart(6)}`)
  yield* Console.log("\nDone. Every step above ran the real Node layers over HTTP on 127.0.0.1.")
})

program.pipe(
  Effect.provide(FakeAuthorizationServer.layer({ rotate: true })),
  Effect.scoped,
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain
)
