import { assert, describe, it } from "@effect/vitest"
import { Session, TokenManager, TokenStore } from "@token-refresher/core"
import { Spotify, SpotifyApi } from "@token-refresher/spotify"
import { MockTokenEndpoint } from "@token-refresher/testing"
import { Effect, Layer, Redacted } from "effect"

const me = {
  id: "wizzler",
  display_name: "JM Wizzler",
  email: "email@example.com",
  country: "SE",
  product: "premium",
  uri: "spotify:user:wizzler",
  followers: { total: 3829 }
}

const live = (api: (authorization: string | undefined) => MockTokenEndpoint.Reply) =>
  SpotifyApi.layer().pipe(
    Layer.provideMerge(TokenManager.layer()),
    Layer.provideMerge(TokenStore.layerMemory(Session.seeded("seed"))),
    Layer.provideMerge(Spotify.layer({ clientId: "id", clientSecret: Redacted.make("secret") })),
    Layer.provideMerge(
      MockTokenEndpoint.layer((request) =>
        request.url === Spotify.tokenUrl ? MockTokenEndpoint.ok() : api(request.headers.authorization)
      )
    ),
    Layer.orDie
  )

describe("SpotifyApi", () => {
  it.effect("works on an app token (Spotify.clientCredentials): one client-credentials grant, then the API call", () =>
    Effect.gen(function* () {
      const user = yield* SpotifyApi.me
      assert.strictEqual(user.id, "wizzler")
      const requests = yield* Effect.flatMap(MockTokenEndpoint.MockTokenEndpoint, (mock) => mock.requests)
      assert.deepStrictEqual(
        requests.map((r) => [r.method, r.url]),
        [
          ["POST", "https://accounts.spotify.com/api/token"],
          ["GET", "https://api.spotify.com/v1/me"]
        ]
      )
      assert.deepStrictEqual(requests[0]!.form, { grant_type: "client_credentials" })
      assert.strictEqual(requests[1]!.headers.authorization, "Bearer mock-access-token-1")
    }).pipe(
      Effect.provide(
        SpotifyApi.layer().pipe(
          Layer.provideMerge(
            Spotify.clientCredentials({ client: { clientId: "id", clientSecret: Redacted.make("s") } })
          ),
          Layer.provideMerge(
            MockTokenEndpoint.layer((request) =>
              request.url === Spotify.tokenUrl ? MockTokenEndpoint.ok() : MockTokenEndpoint.json(me)
            )
          ),
          Layer.orDie
        )
      )
    )
  )

  it.effect("GET /me refreshes the seeded token, sends it, and decodes the user", () =>
    Effect.gen(function* () {
      const user = yield* SpotifyApi.me
      assert.deepStrictEqual(
        { ...user },
        {
          id: "wizzler",
          displayName: "JM Wizzler",
          email: "email@example.com",
          country: "SE",
          product: "premium",
          uri: "spotify:user:wizzler"
        }
      )
      const requests = yield* Effect.flatMap(MockTokenEndpoint.MockTokenEndpoint, (mock) => mock.requests)
      assert.deepStrictEqual(
        requests.map((r) => [r.method, r.url, r.headers.authorization?.split(" ")[0]]),
        [
          ["POST", "https://accounts.spotify.com/api/token", "Basic"],
          ["GET", "https://api.spotify.com/v1/me", "Bearer"]
        ]
      )
      assert.deepStrictEqual(requests[0]!.form, { grant_type: "refresh_token", refresh_token: "seed" })
      assert.strictEqual(requests[1]!.headers.authorization, "Bearer mock-access-token-1")
      assert.strictEqual(requests[1]!.headers.accept, "application/json")
    }).pipe(Effect.provide(live(() => MockTokenEndpoint.json(me))))
  )

  it.effect("a Spotify error answer is SpotifyApiError with its message", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(SpotifyApi.me)
      const expected = new SpotifyApi.SpotifyApiError({
        reason: "Status",
        request: "GET /me",
        status: 403,
        detail: "Insufficient client scope"
      })
      assert.deepStrictEqual({ ...error, message: error.message }, { ...expected, message: expected.message })
      assert.strictEqual(error.message, "Spotify Web API GET /me failed (HTTP 403): Insufficient client scope")
    }).pipe(
      Effect.provide(
        live(() =>
          MockTokenEndpoint.json({ error: { status: 403, message: "Insufficient client scope" } }, { status: 403 })
        )
      )
    )
  )

  it.effect("a body of the wrong shape is SpotifyApiError Decode", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(SpotifyApi.me)
      assert.strictEqual(error._tag === "SpotifyApiError" && error.reason, "Decode")
    }).pipe(Effect.provide(live(() => MockTokenEndpoint.json({ name: "no id" }))))
  )
})
