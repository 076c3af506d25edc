import { assert, describe, it } from "@effect/vitest"
import { Session, TokenRefresher, TokenSet, TokenStore } from "@token-refresher/core"
import { Spotify } from "@token-refresher/spotify"
import { MockTokenEndpoint } from "@token-refresher/testing"
import { ConfigProvider, DateTime, Effect, Layer, Option, Redacted, TestClock } from "effect"

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
      refreshTokenLifetime: { from: "authorization", length: { months: 6 } },
      // Spotify documents no idle timeout
      refreshTokenIdleTimeout: Option.none(),
      // nor a device flow
      deviceAuthorizationUrl: Option.none()
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

/** What a store holds, key by key, tokens read out so the comparison cannot pass on two opaque `Redacted`s. */
const contents = Effect.gen(function* () {
  const store = yield* TokenStore.TokenStore
  const entries: Array<readonly [string, string, string, string]> = []
  for (const key of yield* store.keys()) {
    const session = Option.getOrThrow(yield* store.get(key))
    const refresh = Option.match(Session.refreshToken(session), { onNone: () => "-", onSome: Redacted.value })
    const detail =
      session._tag === "Seeded"
        ? DateTime.formatIso(session.seededAt)
        : session._tag === "Active"
          ? Redacted.value(session.tokens.accessToken)
          : session.error._tag
    entries.push([key, session._tag, refresh, detail])
  }
  return entries
})

/** The memory store with `initial`, through `Spotify.seedFromEnv`, with `env` as the environment. */
const seededStore = (initial: TokenStore.Initial | undefined, env: Record<string, string>) =>
  contents.pipe(
    Effect.provide(TokenStore.layerMemory(initial).pipe(Spotify.seedFromEnv)),
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
  )

const tokens = (access: string, refresh: string) =>
  TokenSet.make({ accessToken: access, refreshToken: refresh, expiresAt: "2030-01-01T00:00:00Z" })

describe("Spotify: the CLI's session", () => {
  it("sessionKey is the key `token-refresher login` saves under", () => {
    assert.strictEqual(Spotify.sessionKey, "spotify")
  })

  it.effect("seedFromEnv: an empty store is seeded from SPOTIFY_REFRESH_TOKEN under sessionKey", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(Date.parse("2026-03-04T05:06:07Z"))
      assert.deepStrictEqual(yield* seededStore(undefined, { SPOTIFY_REFRESH_TOKEN: "seed-refresh" }), [
        ["spotify", "Seeded", "seed-refresh", "2026-03-04T05:06:07.000Z"]
      ])
    })
  )

  it.effect("seedFromEnv: without SPOTIFY_REFRESH_TOKEN, or with an empty one, the store stays empty", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* seededStore(undefined, {}), [])
      assert.deepStrictEqual(yield* seededStore(undefined, { SPOTIFY_REFRESH_TOKEN: "" }), [])
    })
  )

  it.effect("seedFromEnv: a saved session is kept, the variable ignored", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(
        yield* seededStore([["spotify", tokens("saved-access", "saved-refresh")]], {
          SPOTIFY_REFRESH_TOKEN: "seed-refresh"
        }),
        [["spotify", "Active", "saved-refresh", "saved-access"]]
      )
    })
  )

  it.effect("seedFromEnv: a 0.2 session under `default` moves to sessionKey, and is not replaced by the seed", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(
        yield* seededStore(tokens("old-access", "old-refresh"), { SPOTIFY_REFRESH_TOKEN: "seed-refresh" }),
        [["spotify", "Active", "old-refresh", "old-access"]]
      )
      // both keys filled: nothing moves
      assert.deepStrictEqual(
        yield* seededStore(
          [
            [TokenStore.defaultKey, tokens("old-access", "old-refresh")],
            ["spotify", tokens("new-access", "new-refresh")]
          ],
          {}
        ),
        [
          ["default", "Active", "old-refresh", "old-access"],
          ["spotify", "Active", "new-refresh", "new-access"]
        ]
      )
    })
  )

  it.effect("seedFromEnv: the store's own failure comes through", () =>
    Effect.gen(function* () {
      const failure = new TokenStore.TokenStoreError({ reason: "Read", location: "test", detail: "unreachable" })
      const error = yield* Layer.build(Layer.effect(TokenStore.TokenStore, failure).pipe(Spotify.seedFromEnv)).pipe(
        Effect.scoped,
        Effect.flip
      )
      assert.strictEqual(error, failure)
    })
  )
})
