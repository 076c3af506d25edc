import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Errors, Provider, TokenRefresher } from "@token-refresher/core"
import { FakeAuthorizationServer } from "@token-refresher/testing/node"
import { Effect, Layer, Option, Redacted } from "effect"

const client = { clientId: "app-id", clientSecret: "app-secret" }

const discover = (issuer: string) =>
  Provider.discover(issuer, { name: "fake" }).pipe(Effect.provide(NodeHttpClient.layerUndici))

const assertDiscoveryError = (error: Errors.DiscoveryError, expected: Errors.DiscoveryError) =>
  assert.deepStrictEqual({ ...error, message: error.message }, { ...expected, message: expected.message })

describe("Provider.discover (real HTTP against the fake server)", () => {
  it.live("OpenID Connect discovery: the endpoints and the first auth method we implement", () =>
    Effect.gen(function* () {
      const server = yield* FakeAuthorizationServer.make({ clients: [client] })
      const provider = yield* discover(server.issuer)
      assert.deepStrictEqual(provider, {
        name: "fake",
        tokenUrl: `${server.url}/api/token`,
        authorizeUrl: `${server.url}/authorize`,
        revocationUrl: `${server.url}/revoke`,
        // the document lists private_key_jwt first, which this library does not implement
        authMethod: "client_secret_basic",
        deviceAuthorizationUrl: Option.some(`${server.url}/device/code`),
        issuer: server.issuer,
        authMethodsSupported: ["private_key_jwt", "client_secret_basic", "client_secret_post"],
        rotatesRefreshTokens: false,
        refreshTokenIdleTimeout: Option.none()
      })
      const [request] = yield* server.requests
      assert.strictEqual(request!.path, "/.well-known/openid-configuration")

      // the discovered provider works end to end: a login's refresh, then its revocation
      const issued = yield* server.issueTokens({ clientId: client.clientId })
      yield* Effect.gen(function* () {
        const tokens = yield* TokenRefresher.refresh(issued.refreshToken)
        yield* TokenRefresher.revoke(Option.getOrThrow(tokens.refreshToken), { hint: "refresh_token" })
        const error = yield* Effect.flip(TokenRefresher.refresh(Option.getOrThrow(tokens.refreshToken)))
        assert.deepStrictEqual(
          { ...error, message: error.message },
          {
            ...new Errors.InvalidGrant({ status: 400, description: "Refresh token revoked" }),
            message: new Errors.InvalidGrant({ status: 400, description: "Refresh token revoked" }).message
          }
        )
      }).pipe(
        Effect.provide(
          TokenRefresher.layer({
            provider,
            clientId: client.clientId,
            clientSecret: Redacted.make(client.clientSecret)
          }).pipe(Layer.orDie)
        ),
        Effect.provide(NodeHttpClient.layerUndici)
      )
      const revocation = (yield* server.requests).find((r) => r.path === "/revoke")
      assert.deepStrictEqual(
        { status: revocation!.status, clientAuth: revocation!.clientAuth },
        { status: 200, clientAuth: "basic" }
      )
      assert.strictEqual((yield* server.stats).tokensRevoked, 1)
    }).pipe(Effect.scoped)
  )

  it.live("falls back to RFC 8414's /.well-known/oauth-authorization-server", () =>
    Effect.gen(function* () {
      const server = yield* FakeAuthorizationServer.make({ clients: [client], discovery: "oauth" })
      const provider = yield* discover(server.issuer)
      assert.strictEqual(provider.tokenUrl, `${server.url}/api/token`)
      assert.deepStrictEqual(
        (yield* server.requests).map((request) => [request.path, request.status]),
        [
          ["/.well-known/openid-configuration", 404],
          ["/.well-known/oauth-authorization-server", 200]
        ]
      )
    }).pipe(Effect.scoped)
  )

  it.live("a document that names another issuer is refused (RFC 8414 §3.3)", () =>
    Effect.gen(function* () {
      const server = yield* FakeAuthorizationServer.make({ clients: [client] })
      yield* server.setDiscoveryDocument({ issuer: "https://evil.example", token_endpoint: `${server.url}/api/token` })
      const error = yield* Effect.flip(discover(server.issuer))
      assertDiscoveryError(
        error,
        new Errors.DiscoveryError({
          issuer: server.issuer,
          reason: "IssuerMismatch",
          detail: 'the document names the issuer "https://evil.example"'
        })
      )
    }).pipe(Effect.scoped)
  )

  it.live("http off loopback is refused before anything is sent, for the issuer and for every endpoint", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(discover("http://auth.example.com"))
      assertDiscoveryError(
        error,
        new Errors.DiscoveryError({
          issuer: "http://auth.example.com",
          reason: "Insecure",
          detail: "the issuer must use https, got http://auth.example.com"
        })
      )
      const server = yield* FakeAuthorizationServer.make({ clients: [client] })
      yield* server.setDiscoveryDocument({ issuer: server.issuer, token_endpoint: "http://tokens.example.com/token" })
      const endpoint = yield* Effect.flip(discover(server.issuer))
      assert.deepStrictEqual([endpoint.reason, endpoint.detail], ["Insecure", "token_endpoint must use https"])
    }).pipe(Effect.scoped)
  )

  it.live("a document without a token endpoint is MissingEndpoint; one that is not JSON is NotJson", () =>
    Effect.gen(function* () {
      const server = yield* FakeAuthorizationServer.make({ clients: [client] })
      yield* server.setDiscoveryDocument({ issuer: server.issuer, authorization_endpoint: `${server.url}/authorize` })
      const missing = yield* Effect.flip(discover(server.issuer))
      assertDiscoveryError(
        missing,
        new Errors.DiscoveryError({
          issuer: server.issuer,
          reason: "MissingEndpoint",
          detail: "the document has no token_endpoint"
        })
      )
      yield* server.setDiscoveryDocument(["not", "an", "object"])
      const bad = yield* Effect.flip(discover(server.issuer))
      assert.deepStrictEqual(
        [bad.reason, bad.detail],
        ["NotJson", "the document is not an object with a string issuer"]
      )
    }).pipe(Effect.scoped)
  )

  it.live("no document at either address is Status", () =>
    Effect.gen(function* () {
      const server = yield* FakeAuthorizationServer.make({ clients: [client], discovery: "none" })
      const error = yield* Effect.flip(discover(server.issuer))
      assertDiscoveryError(
        error,
        new Errors.DiscoveryError({
          issuer: server.issuer,
          reason: "Status",
          detail: `${server.url}/.well-known/oauth-authorization-server answered HTTP 404`
        })
      )
    }).pipe(Effect.scoped)
  )

  it.live("Auth0's invalid_grant with HTTP 403 is InvalidGrant", () =>
    Effect.gen(function* () {
      const server = yield* FakeAuthorizationServer.make({ clients: [client], profile: "auth0" })
      const provider = yield* discover(server.issuer)
      const error = yield* Effect.flip(
        TokenRefresher.refresh(Redacted.make("unknown")).pipe(
          Effect.provide(
            TokenRefresher.layer({
              provider,
              clientId: client.clientId,
              clientSecret: Redacted.make(client.clientSecret)
            })
          ),
          Effect.provide(NodeHttpClient.layerUndici)
        )
      )
      assert.deepStrictEqual(
        { tag: error._tag, status: (error as Errors.InvalidGrant).status },
        { tag: "InvalidGrant", status: 403 }
      )
    }).pipe(Effect.scoped)
  )

  it.live("client credentials over real HTTP: an app token, no refresh token; a public client is refused", () =>
    Effect.gen(function* () {
      const server = yield* FakeAuthorizationServer.make()
      const tokens = yield* TokenRefresher.clientCredentials({ scope: ["catalog"] }).pipe(
        Effect.provide(
          TokenRefresher.layer({
            tokenUrl: server.tokenUrl,
            clientId: FakeAuthorizationServer.confidentialClient.clientId,
            clientSecret: Redacted.make(FakeAuthorizationServer.confidentialClient.clientSecret!)
          })
        ),
        Effect.provide(NodeHttpClient.layerUndici)
      )
      assert.match(Redacted.value(tokens.accessToken), /^fake-access-/)
      assert.isTrue(Option.isNone(tokens.refreshToken))
      assert.deepStrictEqual(tokens.scope, ["catalog"])
      const refused = yield* Effect.flip(
        TokenRefresher.clientCredentials().pipe(
          Effect.provide(
            TokenRefresher.layer({
              tokenUrl: server.tokenUrl,
              clientId: FakeAuthorizationServer.publicClient.clientId
            })
          ),
          Effect.provide(NodeHttpClient.layerUndici)
        )
      )
      assert.deepStrictEqual(
        { tag: refused._tag, error: (refused as Errors.OAuthError).error },
        { tag: "OAuthError", error: "unauthorized_client" }
      )
      assert.strictEqual((yield* server.stats).clientCredentialsIssued, 1)
    }).pipe(Effect.scoped)
  )

  it("authorizationUrl builds a login URL with PKCE and state from any provider", () => {
    const url = Provider.authorizationUrl(
      Provider.make({
        name: "x",
        tokenUrl: "https://id.example/token",
        authorizeUrl: "https://id.example/authorize?p=1"
      }),
      {
        clientId: "id",
        redirectUri: "http://127.0.0.1:8888/callback",
        state: "st",
        scope: ["a", "b"],
        codeChallenge: "ch",
        params: { access_type: "offline" }
      }
    )
    assert.strictEqual(
      Option.getOrUndefined(url),
      "https://id.example/authorize?p=1&client_id=id&response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%3A8888%2Fcallback&state=st&scope=a+b&code_challenge_method=S256&code_challenge=ch&access_type=offline"
    )
    assert.isTrue(
      Option.isNone(
        Provider.authorizationUrl(Provider.make({ name: "x", tokenUrl: "https://x/t" }), {
          clientId: "id",
          redirectUri: "http://127.0.0.1/cb",
          state: "s"
        })
      )
    )
  })
})
