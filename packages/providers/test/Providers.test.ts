import type { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Errors, TokenRefresher } from "@token-refresher/core"
import {
  Discord,
  Dropbox,
  GitHub,
  Google,
  Microsoft,
  Providers,
  Salesforce,
  Slack,
  Strava,
  Twitch
} from "@token-refresher/providers"
import { FakeAuthorizationServer } from "@token-refresher/testing/node"
import { Config, ConfigProvider, Context, Duration, Effect, Layer, Option, Redacted } from "effect"

const client = { clientId: "app-id", clientSecret: "app-secret" }

interface Case {
  readonly name: string
  readonly profile: FakeAuthorizationServer.Profile
  readonly layer: (options: {
    readonly clientId: string
    readonly clientSecret: Redacted.Redacted<string>
    readonly tokenUrl: string
    readonly revocationUrl?: string
  }) => Layer.Layer<TokenRefresher.TokenRefresher, unknown, never>
  /** How the preset authenticates, as the server saw it. */
  readonly auth: "basic" | "post"
  readonly rotates: boolean
  /** The old refresh token still works after a rotation (Microsoft). */
  readonly keepsOld?: boolean
  /** The status and description of `InvalidGrant` once normalized. */
  readonly invalidGrant: { readonly status: number; readonly description: string }
  readonly revokes: boolean
  /** The access token's lifetime the client computes, in seconds (the server's is 3600). */
  readonly lifetime: number
  /** `expiresAt` is the server's absolute `expires_at` (whole seconds). */
  readonly absoluteExpiry?: boolean
  readonly refreshTokenExpiresIn?: number
  /** The status of `InvalidClient` once normalized (default 400, RFC 6749's). */
  readonly invalidClientStatus?: number
}

const http = <A, E>(layer: Layer.Layer<A, E, HttpClient.HttpClient>) =>
  layer.pipe(Layer.provide(NodeHttpClient.layerUndici))

const standard = { status: 400, description: "Invalid refresh token" }

const cases: ReadonlyArray<Case> = [
  {
    name: "Google",
    profile: "google",
    layer: (o) => http(Google.layer(o)),
    auth: "post",
    rotates: false,
    invalidGrant: standard,
    revokes: true,
    lifetime: 3600
  },
  {
    name: "Microsoft",
    profile: "microsoft",
    layer: (o) => http(Microsoft.layer({ ...o, tenant: "contoso.onmicrosoft.com" })),
    auth: "post",
    rotates: true,
    keepsOld: true,
    invalidGrant: standard,
    revokes: false,
    lifetime: 3600,
    // the preset's documented policy: 90 days from issue
    refreshTokenExpiresIn: 90 * 86_400
  },
  {
    name: "GitHub",
    invalidClientStatus: 401,
    profile: "github",
    layer: (o) => http(GitHub.layer(o)),
    auth: "post",
    rotates: true,
    // GitHub's 200 {"error":"bad_refresh_token"} becomes a 400 invalid_grant
    invalidGrant: { status: 400, description: "Invalid refresh token" },
    revokes: false,
    lifetime: 3600,
    refreshTokenExpiresIn: 15_897_600
  },
  {
    name: "Discord",
    profile: "discord",
    layer: (o) => http(Discord.layer(o)),
    auth: "basic",
    rotates: true,
    invalidGrant: standard,
    revokes: true,
    lifetime: 3600
  },
  {
    name: "Twitch",
    invalidClientStatus: 401,
    profile: "twitch",
    layer: (o) => http(Twitch.layer(o)),
    auth: "post",
    rotates: true,
    invalidGrant: standard,
    revokes: true,
    lifetime: 3600
  },
  {
    name: "Slack",
    invalidClientStatus: 401,
    profile: "slack",
    layer: (o) => http(Slack.layer(o)),
    auth: "post",
    rotates: true,
    // {"ok":false,"error":"invalid_refresh_token"} with 200
    invalidGrant: { status: 400, description: "Slack: invalid_refresh_token" },
    revokes: false,
    lifetime: 3600
  },
  {
    name: "Strava",
    invalidClientStatus: 401,
    profile: "strava",
    layer: (o) => http(Strava.layer(o)),
    auth: "post",
    rotates: true,
    invalidGrant: { status: 400, description: "RefreshToken refresh_token invalid" },
    revokes: false,
    lifetime: 3600,
    absoluteExpiry: true
  },
  {
    name: "Dropbox",
    profile: "dropbox",
    layer: (o) => http(Dropbox.layer(o)),
    auth: "basic",
    rotates: false,
    invalidGrant: standard,
    revokes: false,
    lifetime: 3600
  },
  {
    name: "Salesforce",
    profile: "salesforce",
    layer: (o) => http(Salesforce.layer({ ...o, instanceUrl: "https://example.my.salesforce.com" })),
    auth: "post",
    rotates: false,
    invalidGrant: standard,
    revokes: true,
    // no expires_in: the preset's 2-hour default
    lifetime: 7200
  }
]

describe("provider presets against the fake server's profile of each provider (real HTTP)", () => {
  for (const c of cases) {
    it.live(
      `${c.name}: success, rotation, invalid_grant in its own form, expiry${c.revokes ? ", revocation" : ""}`,
      () =>
        Effect.gen(function* () {
          const server = yield* FakeAuthorizationServer.make({ profile: c.profile, clients: [client] })
          // built in the test's scope: the HTTP client lives until the test ends
          const refresher = yield* Layer.build(
            c.layer({
              clientId: client.clientId,
              clientSecret: Redacted.make(client.clientSecret),
              tokenUrl: server.tokenUrl,
              // the override only where the provider has an endpoint to override
              ...(c.revokes ? { revocationUrl: server.revocationUrl } : {})
            })
          ).pipe(Effect.map(Context.get(TokenRefresher.TokenRefresher)), Effect.orDie)
          const issued = yield* server.issueTokens({ clientId: client.clientId })
          const before = Date.now()
          const tokens = yield* refresher.refresh(issued.refreshToken)
          const after = Date.now()

          // success, in RFC 6749 terms whatever the provider's shape
          assert.match(Redacted.value(tokens.accessToken), /^fake-access-[\w-]{32}$/)
          assert.strictEqual(tokens.tokenType.toLowerCase(), "bearer")
          assert.deepStrictEqual(tokens.scope, ["user-read-private", "user-read-email"])
          const [request] = yield* server.requests
          assert.strictEqual(request!.clientAuth, c.auth)
          assert.strictEqual(request!.status, 200)

          // rotation, or none
          const kept = Option.getOrUndefined(Option.map(tokens.refreshToken, Redacted.value))
          if (c.rotates) assert.notStrictEqual(kept, Redacted.value(issued.refreshToken))
          else assert.strictEqual(kept, Redacted.value(issued.refreshToken))
          assert.strictEqual(refresher.provider.rotatesRefreshTokens, c.rotates)

          // expiry
          const expiresAt = tokens.expiresAt.epochMillis
          if (c.absoluteExpiry === true) {
            assert.strictEqual(expiresAt % 1000, 0)
            assert.isAtLeast(expiresAt, Math.floor(before / 1000) * 1000 + c.lifetime * 1000)
            assert.isAtMost(expiresAt, after + c.lifetime * 1000)
          } else {
            assert.strictEqual(expiresAt - tokens.issuedAt!.epochMillis, c.lifetime * 1000)
          }
          assert.strictEqual(
            Option.getOrUndefined(Option.map(tokens.refreshTokenExpiresAt, (end) => end.epochMillis)),
            c.refreshTokenExpiresIn === undefined
              ? undefined
              : tokens.issuedAt!.epochMillis + c.refreshTokenExpiresIn * 1000
          )

          // the old refresh token after a rotation
          if (c.rotates) {
            const again = yield* Effect.either(refresher.refresh(issued.refreshToken))
            assert.strictEqual(again._tag, c.keepsOld === true ? "Right" : "Left")
          }

          // invalid_grant, in the provider's own form, is InvalidGrant
          const refused = yield* Effect.flip(refresher.refresh(Redacted.make("not-a-token")))
          assert.deepStrictEqual(
            { tag: refused._tag, status: (refused as Errors.InvalidGrant).status },
            { tag: "InvalidGrant", status: c.invalidGrant.status }
          )
          assert.strictEqual((refused as Errors.InvalidGrant).description, c.invalidGrant.description)

          // a wrong client secret, in the provider's own form, is InvalidClient
          const wrongClient = yield* Layer.build(
            c.layer({
              clientId: client.clientId,
              clientSecret: Redacted.make("wrong-secret"),
              tokenUrl: server.tokenUrl
            })
          ).pipe(Effect.map(Context.get(TokenRefresher.TokenRefresher)), Effect.orDie)
          const rejected = yield* Effect.flip(wrongClient.refresh(issued.refreshToken))
          assert.deepStrictEqual(
            { tag: rejected._tag, status: (rejected as Errors.InvalidClient).status },
            { tag: "InvalidClient", status: c.invalidClientStatus ?? 400 }
          )
          assert.notInclude(rejected.message, "wrong-secret")

          // revocation: the revoked refresh token is then refused
          const current = Option.getOrThrow(tokens.refreshToken)
          if (c.revokes) {
            yield* refresher.revoke(current, { hint: "refresh_token" })
            const revoked = yield* Effect.flip(refresher.refresh(current))
            assert.deepStrictEqual(
              { tag: revoked._tag, status: (revoked as Errors.InvalidGrant).status },
              { tag: "InvalidGrant", status: 400 }
            )
            assert.strictEqual((yield* server.stats).tokensRevoked, 1)
          } else {
            const unsupported = yield* Effect.flip(refresher.revoke(current))
            assert.deepStrictEqual(
              { tag: unsupported._tag, provider: (unsupported as Errors.RevocationUnsupported).provider },
              { tag: "RevocationUnsupported", provider: c.profile }
            )
          }
        }).pipe(Effect.scoped)
    )
  }

  it.live("Twitch: a wrong secret ({status:403,message}) is InvalidClient", () =>
    Effect.gen(function* () {
      const server = yield* FakeAuthorizationServer.make({ profile: "twitch", clients: [client] })
      const error = yield* Effect.flip(
        TokenRefresher.refresh(Redacted.make("r")).pipe(
          Effect.provide(
            http(
              Twitch.layer({
                clientId: client.clientId,
                clientSecret: Redacted.make("wrong"),
                tokenUrl: server.tokenUrl
              })
            )
          )
        )
      )
      assert.deepStrictEqual(
        { tag: error._tag, status: (error as Errors.InvalidClient).status, message: error.message },
        {
          tag: "InvalidClient",
          status: 401,
          message:
            "The token endpoint rejected the client credentials (invalid_client, HTTP 401: invalid client secret): check the client id, the client secret and the authentication method."
        }
      )
    }).pipe(Effect.scoped)
  )

  it.live("GitHub: a bad verification code (200 with an error) is InvalidGrant", () =>
    Effect.gen(function* () {
      const server = yield* FakeAuthorizationServer.make({ profile: "github", clients: [client] })
      const error = yield* Effect.flip(
        Effect.flatMap(TokenRefresher.TokenRefresher, (refresher) =>
          refresher.exchangeCode({ code: Redacted.make("bogus"), redirectUri: "http://127.0.0.1:1/callback" })
        ).pipe(
          Effect.provide(
            http(
              GitHub.layer({
                clientId: client.clientId,
                clientSecret: Redacted.make(client.clientSecret),
                tokenUrl: server.tokenUrl
              })
            )
          )
        )
      )
      const expected = new Errors.InvalidGrant({ status: 400, description: "Invalid authorization code" })
      assert.deepStrictEqual({ ...error, message: error.message }, { ...expected, message: expected.message })
    }).pipe(Effect.scoped)
  )

  it.live("layerConfig reads <PROVIDER>_CLIENT_ID and <PROVIDER>_CLIENT_SECRET, and takes Config.Wrap options", () =>
    Effect.gen(function* () {
      const server = yield* FakeAuthorizationServer.make({ profile: "microsoft", clients: [client] })
      const env = ConfigProvider.fromMap(
        new Map([
          ["MICROSOFT_CLIENT_ID", client.clientId],
          ["MICROSOFT_CLIENT_SECRET", client.clientSecret],
          ["MICROSOFT_TENANT", "organizations"]
        ])
      )
      const provider = yield* Effect.map(TokenRefresher.TokenRefresher, (r) => r.provider).pipe(
        Effect.provide(http(Microsoft.layerConfig()).pipe(Layer.provide(Layer.setConfigProvider(env))))
      )
      assert.strictEqual(provider.tokenUrl, "https://login.microsoftonline.com/organizations/oauth2/v2.0/token")

      const issued = yield* server.issueTokens({ clientId: client.clientId })
      const tokens = yield* TokenRefresher.refresh(issued.refreshToken).pipe(
        Effect.provide(
          http(
            Microsoft.layerConfig({
              clientId: Config.string("MICROSOFT_CLIENT_ID"),
              clientSecret: Config.redacted("MICROSOFT_CLIENT_SECRET"),
              tokenUrl: Config.succeed(server.tokenUrl)
            })
          ).pipe(Layer.provide(Layer.setConfigProvider(env)))
        )
      )
      assert.match(Redacted.value(tokens.accessToken), /^fake-access-[\w-]{32}$/)
      assert.strictEqual((yield* server.requests)[0]!.clientAuth, "post")
    }).pipe(Effect.scoped)
  )

  it("refreshTokenIdleTimeout: set only where the provider documents one (Google, Microsoft)", () => {
    assert.deepStrictEqual(
      Providers.all.map((provider) => [
        provider.name,
        Option.getOrNull(Option.map(provider.refreshTokenIdleTimeout, Duration.toHours))
      ]),
      [
        ["discord", null],
        ["dropbox", null],
        ["github", null],
        ["google", 180 * 24],
        ["microsoft", 90 * 24],
        ["salesforce", null],
        ["slack", null],
        ["strava", null],
        ["twitch", null]
      ]
    )
  })

  it("Providers.byName finds each preset by its name", () => {
    assert.deepStrictEqual(
      Providers.all.map((provider) => provider.name),
      ["discord", "dropbox", "github", "google", "microsoft", "salesforce", "slack", "strava", "twitch"]
    )
    assert.strictEqual(Providers.byName("GitHub")?.tokenUrl, "https://github.com/login/oauth/access_token")
    assert.isUndefined(Providers.byName("nope"))
  })
})
