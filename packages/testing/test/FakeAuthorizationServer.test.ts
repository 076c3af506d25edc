import { assert, describe, it } from "@effect/vitest"
import { FakeAuthorizationServer } from "@token-refresher/testing/node"
import { Chunk, Effect, Fiber, Option, Redacted, TestClock } from "effect"
import * as Crypto from "node:crypto"

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`
const confidential = basic("fake-client-id", "fake-client-secret")

const post = (url: string, form: Record<string, string>, authorization?: string) =>
  Effect.promise(async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        ...(authorization === undefined ? {} : { authorization })
      },
      body: new URLSearchParams(form).toString()
    })
    const text = await response.text()
    let body: any
    try {
      body = JSON.parse(text)
    } catch {
      body = text
    }
    return { status: response.status, headers: response.headers, body }
  })

const refresh = (server: FakeAuthorizationServer.Service, refreshToken: string, authorization = confidential) =>
  post(server.tokenUrl, { grant_type: "refresh_token", refresh_token: refreshToken }, authorization)

const withServer = <A, E>(
  f: (server: FakeAuthorizationServer.Service) => Effect.Effect<A, E>,
  options?: FakeAuthorizationServer.Options
) => Effect.scoped(Effect.flatMap(FakeAuthorizationServer.make(options), f))

describe("FakeAuthorizationServer", () => {
  it.live("cors: a preflight of an allowed origin gets 204, answers carry its origin, other origins get nothing", () =>
    withServer(
      (server) =>
        Effect.gen(function* () {
          const preflight = (origin: string) =>
            Effect.promise(() =>
              fetch(`${server.url}/v1/me`, {
                method: "OPTIONS",
                headers: {
                  origin,
                  "access-control-request-method": "GET",
                  "access-control-request-headers": "authorization"
                }
              })
            )
          const allowed = yield* preflight("http://127.0.0.1:4000")
          assert.deepStrictEqual(
            [
              allowed.status,
              allowed.headers.get("access-control-allow-origin"),
              allowed.headers.get("access-control-allow-methods"),
              allowed.headers.get("access-control-allow-headers")
            ],
            [204, "http://127.0.0.1:4000", "GET, POST", "authorization"]
          )
          const other = yield* preflight("http://evil.example")
          assert.deepStrictEqual([other.status, other.headers.get("access-control-allow-origin")], [404, null])

          const issued = yield* server.issueTokens({ clientId: "fake-public-client-id" })
          const answer = yield* Effect.promise(() =>
            fetch(server.tokenUrl, {
              method: "POST",
              headers: { origin: "http://127.0.0.1:4000", "content-type": "application/x-www-form-urlencoded" },
              body: new URLSearchParams({
                grant_type: "refresh_token",
                refresh_token: Redacted.value(issued.refreshToken),
                client_id: "fake-public-client-id"
              }).toString()
            })
          )
          assert.deepStrictEqual(
            [answer.status, answer.headers.get("access-control-allow-origin"), answer.headers.get("vary")],
            [200, "http://127.0.0.1:4000", "Origin"]
          )
          // the allowed preflight is not a request; the other origin's, unanswered, is
          assert.strictEqual((yield* server.stats).requests, 2)
        }),
      { cors: "http://127.0.0.1:4000" }
    )
  )

  it.live("listens on 127.0.0.1 and refreshes with Basic authentication, rotating the refresh token", () =>
    withServer((server) =>
      Effect.gen(function* () {
        assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/)
        const issued = yield* server.issueTokens()
        const first = yield* refresh(server, Redacted.value(issued.refreshToken))
        assert.strictEqual(first.status, 200)
        assert.strictEqual(first.body.token_type, "Bearer")
        assert.strictEqual(first.body.expires_in, 3600)
        assert.strictEqual(first.body.scope, "user-read-private user-read-email")
        assert.match(first.body.refresh_token, /^fake-refresh-/)
        assert.notStrictEqual(first.body.refresh_token, Redacted.value(issued.refreshToken))

        const reused = yield* refresh(server, Redacted.value(issued.refreshToken))
        assert.deepStrictEqual(
          [reused.status, reused.body],
          [400, { error: "invalid_grant", error_description: "Invalid refresh token" }]
        )
        const second = yield* refresh(server, first.body.refresh_token)
        assert.strictEqual(second.status, 200)
        assert.deepStrictEqual(yield* server.stats, {
          requests: 3,
          refreshesServed: 2,
          refreshesRejected: 1,
          codesIssued: 0,
          codesExchanged: 0,
          apiCalls: 0,
          apiRejected: 0,
          faultsInjected: 0,
          familiesRevoked: 0,
          clientCredentialsIssued: 0,
          tokensRevoked: 0
        })
        const recorded = yield* server.requests
        assert.isAtMost(Math.abs(recorded[1]!.at - Date.now()), 5_000)
        assert.deepStrictEqual(
          { ...recorded[1], at: 0 },
          {
            method: "POST",
            path: "/api/token",
            grantType: "refresh_token",
            clientId: "fake-client-id",
            clientAuth: "basic",
            status: 400,
            error: "invalid_grant",
            fault: undefined,
            at: 0
          }
        )
        assert.isFalse(JSON.stringify(recorded).includes("fake-refresh-"))
      })
    )
  )

  it.live("without rotation no refresh token is returned and the old one keeps working", () =>
    withServer(
      (server) =>
        Effect.gen(function* () {
          const issued = Redacted.value((yield* server.issueTokens()).refreshToken)
          const first = yield* refresh(server, issued)
          assert.strictEqual(first.body.refresh_token, undefined)
          assert.strictEqual((yield* refresh(server, issued)).status, 200)
        }),
      { rotate: false, accessTokenLifetime: "5 seconds" }
    )
  )

  it.live("client authentication errors, as Spotify sends them", () =>
    withServer((server) =>
      Effect.gen(function* () {
        const token = Redacted.value((yield* server.issueTokens()).refreshToken)
        const wrongSecret = yield* refresh(server, token, basic("fake-client-id", "nope"))
        assert.deepStrictEqual(
          [wrongSecret.status, wrongSecret.body],
          [400, { error: "invalid_client", error_description: "Invalid client secret" }]
        )
        const noHeader = yield* post(server.tokenUrl, { grant_type: "refresh_token", refresh_token: token })
        assert.deepStrictEqual(
          [noHeader.status, noHeader.body],
          [400, { error: "invalid_client", error_description: "Invalid client" }]
        )
        const secretMissing = yield* post(server.tokenUrl, {
          grant_type: "refresh_token",
          refresh_token: token,
          client_id: "fake-client-id"
        })
        assert.deepStrictEqual(secretMissing.body, {
          error: "invalid_client",
          error_description: "Invalid client secret"
        })
        const unknown = yield* refresh(server, "never-issued")
        assert.deepStrictEqual(unknown.body, { error: "invalid_grant", error_description: "Invalid refresh token" })
        yield* server.revokeRefreshTokens
        const revoked = yield* refresh(server, token)
        assert.deepStrictEqual(revoked.body, { error: "invalid_grant", error_description: "Refresh token revoked" })
        const foreign = Redacted.value((yield* server.issueTokens({ clientId: "fake-public-client-id" })).refreshToken)
        assert.strictEqual((yield* refresh(server, foreign)).body.error, "invalid_grant")
        const noGrant = yield* post(server.tokenUrl, {}, confidential)
        assert.deepStrictEqual(noGrant.body, {
          error: "unsupported_grant_type",
          error_description: "grant_type parameter is missing"
        })
      })
    )
  )

  it.live("a public client refreshes with client_id in the body", () =>
    withServer((server) =>
      Effect.gen(function* () {
        const token = Redacted.value((yield* server.issueTokens({ clientId: "fake-public-client-id" })).refreshToken)
        const answer = yield* post(server.tokenUrl, {
          grant_type: "refresh_token",
          refresh_token: token,
          client_id: "fake-public-client-id"
        })
        assert.strictEqual(answer.status, 200)
        assert.strictEqual((yield* server.requests)[0]!.clientAuth, "none")
      })
    )
  )

  it.live("authorization code with PKCE: /authorize redirects with code and state; the verifier is checked", () =>
    withServer((server) =>
      Effect.gen(function* () {
        const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        const challenge = Crypto.createHash("sha256").update(verifier).digest("base64url")
        const redirectUri = "http://127.0.0.1:43123/callback"
        const authorize = (state: string) =>
          Effect.promise(() =>
            fetch(
              `${server.authorizeUrl}?${new URLSearchParams({
                client_id: "fake-public-client-id",
                response_type: "code",
                redirect_uri: redirectUri,
                state,
                scope: "user-read-private",
                code_challenge_method: "S256",
                code_challenge: challenge
              })}`,
              { redirect: "manual" }
            )
          )
        const redirect = yield* authorize("xyz")
        assert.strictEqual(redirect.status, 302)
        const location = new URL(redirect.headers.get("location")!)
        assert.strictEqual(`${location.origin}${location.pathname}`, redirectUri)
        assert.strictEqual(location.searchParams.get("state"), "xyz")
        const code = location.searchParams.get("code")!

        const exchange = (code: string, codeVerifier: string) =>
          post(server.tokenUrl, {
            grant_type: "authorization_code",
            code,
            redirect_uri: redirectUri,
            client_id: "fake-public-client-id",
            code_verifier: codeVerifier
          })
        const wrong = yield* exchange(code, "not-the-verifier")
        assert.deepStrictEqual(wrong.body, { error: "invalid_grant", error_description: "code_verifier was incorrect" })
        const ok = yield* exchange(code, verifier)
        assert.strictEqual(ok.status, 200)
        assert.strictEqual(ok.body.scope, "user-read-private")
        assert.match(ok.body.refresh_token, /^fake-refresh-/)
        const again = yield* exchange(code, verifier)
        assert.deepStrictEqual(again.body, { error: "invalid_grant", error_description: "Invalid authorization code" })

        const notLoopback = yield* Effect.promise(() =>
          fetch(
            `${server.authorizeUrl}?${new URLSearchParams({
              client_id: "fake-public-client-id",
              response_type: "code",
              redirect_uri: "https://evil.example.com/callback"
            })}`,
            { redirect: "manual" }
          ).then(async (r) => [r.status, await r.text()] as const)
        )
        assert.deepStrictEqual(notLoopback, [400, "INVALID_CLIENT: Invalid redirect URI"])
        const stats = yield* server.stats
        assert.strictEqual(stats.codesIssued, 1)
        assert.strictEqual(stats.codesExchanged, 1)
      })
    )
  )

  it.live("GET /v1/me answers for a valid access token and 401 for an expired or unknown one", () =>
    withServer((server) =>
      Effect.gen(function* () {
        const { accessToken } = yield* server.issueTokens()
        const me = (token: string) =>
          Effect.promise(() =>
            fetch(`${server.apiUrl}/me`, { headers: { authorization: `Bearer ${token}` } }).then(
              async (r) => [r.status, await r.json()] as const
            )
          )
        const [status, body] = yield* me(Redacted.value(accessToken))
        assert.strictEqual(status, 200)
        assert.strictEqual(body.id, "fake-user")
        assert.deepStrictEqual(yield* me("unknown"), [401, { error: { status: 401, message: "Invalid access token" } }])
        yield* server.expireAccessTokens
        assert.deepStrictEqual(yield* me(Redacted.value(accessToken)), [
          401,
          { error: { status: 401, message: "The access token expired" } }
        ])
      })
    )
  )

  it.live("faults: a status sequence, 429 with Retry-After, HTML, malformed JSON, a delay, a dropped connection", () =>
    withServer((server) =>
      Effect.gen(function* () {
        const token = Redacted.value((yield* server.issueTokens()).refreshToken)
        yield* server.inject(
          FakeAuthorizationServer.status(503),
          FakeAuthorizationServer.rateLimited(7),
          FakeAuthorizationServer.html(502),
          FakeAuthorizationServer.malformedJson,
          FakeAuthorizationServer.delay("150 millis"),
          FakeAuthorizationServer.drop
        )
        assert.strictEqual((yield* refresh(server, token)).status, 503)
        const limited = yield* refresh(server, token)
        assert.deepStrictEqual([limited.status, limited.headers.get("retry-after")], [429, "7"])
        const page = yield* refresh(server, token)
        assert.strictEqual(page.status, 502)
        assert.match(page.body, /<html>/)
        const malformed = yield* refresh(server, token)
        assert.deepStrictEqual([malformed.status, malformed.body], [200, '{"access_token": "trunc'])
        const started = Date.now()
        const delayed = yield* refresh(server, token)
        assert.strictEqual(delayed.status, 200)
        assert.isAtLeast(Date.now() - started, 140)
        const dropped = yield* Effect.either(
          Effect.tryPromise(() => fetch(server.tokenUrl, { method: "POST", body: "" }))
        )
        assert.strictEqual(dropped._tag, "Left")
        assert.strictEqual(yield* refresh(server, delayed.body.refresh_token).pipe(Effect.map((r) => r.status)), 200)
        const stats = yield* server.stats
        assert.strictEqual(stats.faultsInjected, 6)
        assert.deepStrictEqual(
          (yield* server.requests).map((r) => r.fault ?? null),
          ["Status", "Status", "Html", "MalformedJson", "Delay", "Drop", null]
        )
      })
    )
  )

  it.effect(
    "under TestClock a delay fault answers when the test moves the clock (the server's clock is the test's)",
    () =>
      withServer((server) =>
        Effect.gen(function* () {
          const token = Redacted.value((yield* server.issueTokens()).refreshToken)
          yield* server.inject(FakeAuthorizationServer.delay("1 minute"))
          const answer = yield* Effect.fork(refresh(server, token))
          // real time passes until the server sleeps on the TestClock
          const realPause = Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
          while (Chunk.isEmpty(yield* TestClock.sleeps())) yield* realPause
          yield* TestClock.adjust("59 seconds")
          yield* realPause
          assert.isTrue(Option.isNone(yield* Fiber.poll(answer)))
          yield* TestClock.adjust("1 second")
          const delayed = yield* Fiber.join(answer)
          assert.strictEqual(delayed.status, 200)
          assert.deepStrictEqual(
            (yield* server.requests).map((r) => [r.fault, r.at]),
            [["Delay", 0]]
          )
        })
      )
  )

  it.live("a fault rate of 1 injects every time, 0 turns it off", () =>
    withServer((server) =>
      Effect.gen(function* () {
        const token = Redacted.value((yield* server.issueTokens()).refreshToken)
        yield* server.setFaultRate(1, FakeAuthorizationServer.status(500))
        assert.strictEqual((yield* refresh(server, token)).status, 500)
        yield* server.setFaultRate(0, FakeAuthorizationServer.status(500))
        assert.strictEqual((yield* refresh(server, token)).status, 200)
      })
    )
  )

  it.live("a taken port is a ListenError", () =>
    withServer((server) =>
      Effect.gen(function* () {
        const port = Number(new URL(server.url).port)
        const error = yield* Effect.flip(Effect.scoped(FakeAuthorizationServer.make({ port })))
        const expected = new FakeAuthorizationServer.ListenError({
          address: `127.0.0.1:${port}`,
          detail: `listen EADDRINUSE: address already in use 127.0.0.1:${port}`
        })
        assert.deepStrictEqual({ ...error, message: error.message }, { ...expected, message: expected.message })
      })
    )
  )
})
