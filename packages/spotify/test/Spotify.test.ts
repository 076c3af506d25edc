import { assert, describe, it } from "@effect/vitest"
import { TokenRefresher } from "@token-refresher/core"
import { Spotify } from "@token-refresher/spotify"
import { MockTokenEndpoint } from "@token-refresher/testing"
import { ConfigProvider, Effect, Layer, Redacted } from "effect"

const withEnv = (env: Record<string, string>) =>
  Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

const spotifyFromEnv = (env: Record<string, string>) =>
  Spotify.layerConfig().pipe(
    Layer.provideMerge(MockTokenEndpoint.layer([MockTokenEndpoint.ok()])),
    Layer.provide(withEnv(env))
  )

const lastRequest = Effect.flatMap(MockTokenEndpoint.MockTokenEndpoint, (mock) => mock.requests).pipe(
  Effect.map((all) => all[all.length - 1]!)
)

describe("Spotify", () => {
  it("the token endpoint", () => {
    assert.strictEqual(Spotify.tokenUrl, "https://accounts.spotify.com/api/token")
    assert.strictEqual(Spotify.options({ clientId: "x" }).provider?.tokenUrl, Spotify.tokenUrl)
    assert.strictEqual(
      Spotify.options({ clientId: "x", accountsUrl: "http://127.0.0.1:4000/" }).provider?.tokenUrl,
      "http://127.0.0.1:4000/api/token"
    )
  })

  it("the Provider: Basic auth, rotation, six months from authorisation, no revocation endpoint", () => {
    assert.deepStrictEqual(Spotify.provider, {
      name: "spotify",
      tokenUrl: "https://accounts.spotify.com/api/token",
      authorizeUrl: "https://accounts.spotify.com/authorize",
      authMethod: "client_secret_basic",
      rotatesRefreshTokens: true,
      refreshTokenLifetime: { from: "authorization", length: { months: 6 } }
    })
  })

  it("authorizeUrl builds the authorization-code request with PKCE", () => {
    const url = new URL(
      Spotify.authorizeUrl({
        clientId: "id",
        redirectUri: "http://127.0.0.1:8888/callback",
        state: "st",
        scope: ["user-read-private", "user-read-email"],
        codeChallenge: "challenge"
      })
    )
    assert.strictEqual(`${url.origin}${url.pathname}`, "https://accounts.spotify.com/authorize")
    assert.deepStrictEqual(Object.fromEntries(url.searchParams), {
      client_id: "id",
      response_type: "code",
      redirect_uri: "http://127.0.0.1:8888/callback",
      state: "st",
      scope: "user-read-private user-read-email",
      code_challenge_method: "S256",
      code_challenge: "challenge"
    })
  })

  it.effect("layer: a confidential client uses Basic authentication", () =>
    Effect.gen(function* () {
      yield* TokenRefresher.refresh(Redacted.make("r"))
      const request = yield* lastRequest
      assert.strictEqual(request.url, "https://accounts.spotify.com/api/token")
      assert.strictEqual(request.headers.authorization, `Basic ${Buffer.from("id:secret").toString("base64")}`)
      assert.deepStrictEqual(request.form, { grant_type: "refresh_token", refresh_token: "r" })
    }).pipe(
      Effect.provide(
        Spotify.layer({ clientId: "id", clientSecret: Redacted.make("secret") }).pipe(
          Layer.provideMerge(MockTokenEndpoint.layer([MockTokenEndpoint.ok()]))
        )
      )
    )
  )

  it.effect("layerConfig: SPOTIFY_CLIENT_ID alone gives the PKCE public-client form", () =>
    Effect.gen(function* () {
      yield* TokenRefresher.refresh(Redacted.make("r"))
      const request = yield* lastRequest
      assert.strictEqual(request.headers.authorization, undefined)
      assert.deepStrictEqual(request.form, { grant_type: "refresh_token", refresh_token: "r", client_id: "pkce-id" })
    }).pipe(Effect.provide(spotifyFromEnv({ SPOTIFY_CLIENT_ID: "pkce-id" })))
  )

  it.effect("layerConfig: an empty SPOTIFY_CLIENT_SECRET counts as absent", () =>
    Effect.gen(function* () {
      yield* TokenRefresher.refresh(Redacted.make("r"))
      const request = yield* lastRequest
      assert.strictEqual(request.headers.authorization, undefined)
    }).pipe(Effect.provide(spotifyFromEnv({ SPOTIFY_CLIENT_ID: "pkce-id", SPOTIFY_CLIENT_SECRET: "" })))
  )

  it.effect("layerConfig: SPOTIFY_ACCOUNTS_URL points at another server", () =>
    Effect.gen(function* () {
      yield* TokenRefresher.refresh(Redacted.make("r"))
      const request = yield* lastRequest
      assert.strictEqual(request.url, "http://127.0.0.1:8888/api/token")
      assert.strictEqual(request.headers.authorization, `Basic ${Buffer.from("id:s").toString("base64")}`)
    }).pipe(
      Effect.provide(
        spotifyFromEnv({
          SPOTIFY_CLIENT_ID: "id",
          SPOTIFY_CLIENT_SECRET: "s",
          SPOTIFY_ACCOUNTS_URL: "http://127.0.0.1:8888"
        })
      )
    )
  )

  it.effect("layerConfig: a missing SPOTIFY_CLIENT_ID names the variable", () =>
    Effect.gen(function* () {
      const error = yield* Layer.build(spotifyFromEnv({})).pipe(Effect.scoped, Effect.flip)
      assert.strictEqual(
        String(error),
        '(Missing data at SPOTIFY_CLIENT_ID: "Expected SPOTIFY_CLIENT_ID to exist in the provided map")'
      )
    })
  )

  it.effect("layerConfig: an http SPOTIFY_ACCOUNTS_URL off loopback is refused", () =>
    Effect.gen(function* () {
      const error = yield* Layer.build(
        spotifyFromEnv({ SPOTIFY_CLIENT_ID: "id", SPOTIFY_ACCOUNTS_URL: "http://accounts.example.com" })
      ).pipe(Effect.scoped, Effect.flip)
      assert.match(String(error), /tokenUrl must use https/)
    })
  )
})
