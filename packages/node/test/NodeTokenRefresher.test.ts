import { assert, describe, it } from "@effect/vitest"
import { Errors, TokenRefresher } from "@token-refresher/core"
import { NodeTokenClient, NodeTokenRefresher } from "@token-refresher/node"
import { Spotify } from "@token-refresher/spotify"
import { FakeAuthorizationServer } from "@token-refresher/testing/node"
import { ConfigProvider, DateTime, Effect, Layer, Redacted, Option } from "effect"
import { sendJson, testServer } from "./server.js"

/** The whole error, message included (errors raised in a span are proxies: compare their fields). */
const assertFullError = <E extends { readonly _tag: string; readonly message: string }>(actual: unknown, expected: E) =>
  assert.deepStrictEqual(
    { ...(actual as E), message: (actual as E).message },
    { ...expected, message: expected.message }
  )

describe("NodeTokenRefresher against a real HTTP server on 127.0.0.1", () => {
  it.live("refreshes over real HTTP and sends exactly the RFC 6749 request", () =>
    Effect.gen(function* () {
      const server = yield* testServer((_, response) =>
        sendJson(response, 200, {
          access_token: "new-access",
          token_type: "Bearer",
          expires_in: 3600,
          refresh_token: "rotated-refresh",
          scope: "user-read-private"
        })
      )
      const before = yield* DateTime.now
      const tokens = yield* TokenRefresher.refresh(Redacted.make("saved-refresh")).pipe(
        Effect.provide(
          NodeTokenRefresher.layer({
            tokenUrl: `${server.url}/api/token`,
            clientId: "client-id",
            clientSecret: Redacted.make("client-secret")
          })
        )
      )
      assert.strictEqual(Redacted.value(tokens.accessToken), "new-access")
      assert.strictEqual(Redacted.value(Option.getOrThrow(tokens.refreshToken)), "rotated-refresh")
      assert.deepStrictEqual(tokens.scope, ["user-read-private"])
      const after = yield* DateTime.now
      // the request's time plus expires_in
      assert.isTrue(DateTime.distance(before, tokens.expiresAt) >= 3_600_000)
      assert.isTrue(DateTime.distance(after, tokens.expiresAt) <= 3_600_000)

      assert.strictEqual(server.received.length, 1)
      const [request] = server.received
      assert.strictEqual(request!.method, "POST")
      assert.strictEqual(request!.url, "/api/token")
      assert.strictEqual(
        request!.headers.authorization,
        `Basic ${Buffer.from("client-id:client-secret").toString("base64")}`
      )
      assert.strictEqual(request!.headers["content-type"], "application/x-www-form-urlencoded")
      assert.strictEqual(request!.headers.accept, "application/json")
      assert.strictEqual(request!.body, "grant_type=refresh_token&refresh_token=saved-refresh")
    }).pipe(Effect.scoped)
  )

  it.live("retries a real 503 and succeeds", () =>
    Effect.gen(function* () {
      let calls = 0
      const server = yield* testServer((_, response) => {
        calls++
        if (calls === 1) {
          response.writeHead(503, { "retry-after": "0" })
          response.end("busy")
        } else {
          sendJson(response, 200, { access_token: "a", token_type: "Bearer", expires_in: 60 })
        }
      })
      const tokens = yield* TokenRefresher.refresh(Redacted.make("saved-refresh")).pipe(
        Effect.provide(NodeTokenRefresher.layer({ tokenUrl: `${server.url}/token`, clientId: "public-client" }))
      )
      assert.strictEqual(Redacted.value(Option.getOrThrow(tokens.refreshToken)), "saved-refresh")
      assert.strictEqual(server.received.length, 2)
      assert.strictEqual(
        server.received[1]!.body,
        "grant_type=refresh_token&refresh_token=saved-refresh&client_id=public-client"
      )
      assert.strictEqual(server.received[1]!.headers.authorization, undefined)
    }).pipe(Effect.scoped)
  )

  it.live("a server that never answers ends in NetworkError Timeout", () =>
    Effect.gen(function* () {
      const server = yield* testServer(() => {})
      const error = yield* TokenRefresher.refresh(Redacted.make("saved-refresh")).pipe(
        Effect.provide(
          NodeTokenRefresher.layer({
            tokenUrl: `${server.url}/token`,
            clientId: "client-id",
            timeout: "200 millis",
            retry: { maxRetries: 1, baseDelay: "10 millis" }
          })
        ),
        Effect.flip
      )
      assertFullError(
        error,
        new Errors.NetworkError({ reason: "Timeout", attempts: 2, detail: "no answer within 200ms" })
      )
      assert.strictEqual(server.received.length, 2)
    }).pipe(Effect.scoped)
  )

  it.scopedLive(
    "a server that uses the refresh token, then drops the connection: the retry's InvalidGrant says possiblyConsumed",
    () =>
      Effect.gen(function* () {
        const server = yield* FakeAuthorizationServer.make({ rotate: true })
        const issued = yield* server.issueTokens()
        yield* server.inject(FakeAuthorizationServer.dropAfterUse)
        const error = yield* Effect.flip(
          TokenRefresher.refresh(issued.refreshToken).pipe(
            Effect.provide(
              NodeTokenRefresher.layer({
                tokenUrl: server.tokenUrl,
                clientId: "fake-client-id",
                clientSecret: Redacted.make("fake-client-secret"),
                retry: { baseDelay: "10 millis" }
              })
            )
          )
        )
        assertFullError(
          error,
          new Errors.InvalidGrant({ status: 400, description: "Invalid refresh token", possiblyConsumed: true })
        )
        assert.include(error.message, "the server may have used the token then")
        const stats = yield* server.stats
        assert.deepStrictEqual([stats.refreshesServed, stats.refreshesRejected], [1, 1])
      })
  )

  it.live("a closed port ends in NetworkError Transport naming the cause", () =>
    Effect.gen(function* () {
      const url = yield* testServer(() => {}).pipe(
        Effect.map((server) => server.url),
        Effect.scoped
      )
      const error = yield* TokenRefresher.refresh(Redacted.make("saved-refresh")).pipe(
        Effect.provide(NodeTokenRefresher.layer({ tokenUrl: `${url}/token`, clientId: "c", retry: { maxRetries: 0 } })),
        Effect.flip
      )
      assertFullError(
        error,
        new Errors.NetworkError({
          reason: "Transport",
          attempts: 1,
          detail: `connect ECONNREFUSED ${new URL(url).host}`
        })
      )
    })
  )

  it.live("Spotify.layerConfig over NodeTokenClient reads SPOTIFY_* and talks to SPOTIFY_ACCOUNTS_URL", () =>
    Effect.gen(function* () {
      const server = yield* testServer((_, response) =>
        sendJson(response, 400, { error: "invalid_grant", error_description: "Refresh token revoked" })
      )
      const error = yield* TokenRefresher.refresh(Redacted.make("revoked")).pipe(
        Effect.provide(
          Spotify.layerConfig().pipe(
            Layer.provide(NodeTokenClient.layer()),
            Layer.provide(
              Layer.setConfigProvider(
                ConfigProvider.fromMap(
                  new Map([
                    ["SPOTIFY_CLIENT_ID", "spotify-id"],
                    ["SPOTIFY_CLIENT_SECRET", "spotify-secret"],
                    ["SPOTIFY_ACCOUNTS_URL", server.url]
                  ])
                )
              )
            )
          )
        ),
        Effect.flip
      )
      assertFullError(error, new Errors.InvalidGrant({ status: 400, description: "Refresh token revoked" }))
      assert.strictEqual(server.received[0]!.url, "/api/token")
      assert.strictEqual(
        server.received[0]!.headers.authorization,
        `Basic ${Buffer.from("spotify-id:spotify-secret").toString("base64")}`
      )
    }).pipe(Effect.scoped)
  )
})
