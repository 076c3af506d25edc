import { assert, describe, it } from "@effect/vitest"
import { Errors, TokenRefresher } from "@token-refresher/core"
import { MockTokenEndpoint } from "@token-refresher/testing"
import { DateTime, Duration, Effect, Redacted, Option } from "effect"
import {
  assertError,
  clientId,
  clientSecret,
  refresherWith,
  refreshFailure,
  requestCount,
  requests,
  savedRefreshToken,
  tokenUrl
} from "./utils.js"

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`

describe("TokenRefresher: the request", () => {
  it.effect("client_secret_basic sends the Basic header and the refresh grant", () =>
    Effect.gen(function* () {
      yield* TokenRefresher.refresh(savedRefreshToken)
      const [request] = yield* requests
      assert.strictEqual(request.method, "POST")
      assert.strictEqual(request.url, tokenUrl)
      assert.strictEqual(request.headers.authorization, basic("client-id", "client-secret"))
      assert.strictEqual(request.headers.accept, "application/json")
      assert.strictEqual(request.contentType, "application/x-www-form-urlencoded")
      assert.deepStrictEqual(request.form, { grant_type: "refresh_token", refresh_token: "saved-refresh-token" })
      // no trace context goes to the third-party authorization server
      assert.strictEqual(request.headers.traceparent, undefined)
      assert.strictEqual(request.headers.b3, undefined)
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.ok()])))
  )

  it.effect("client_secret_basic form-url-encodes the id and the secret before base64 (RFC 6749 §2.3.1)", () =>
    Effect.gen(function* () {
      yield* TokenRefresher.refresh(savedRefreshToken)
      const [request] = yield* requests
      assert.strictEqual(request.headers.authorization, basic("my+client%3Aid", "s%C3%A9cr%26t%2B%2F%3D%25"))
    }).pipe(
      Effect.provide(
        refresherWith([MockTokenEndpoint.ok()], { clientId: "my client:id", clientSecret: Redacted.make("sécr&t+/=%") })
      )
    )
  )

  it.effect("client_secret_post puts the client credentials in the body, with no Authorization header", () =>
    Effect.gen(function* () {
      yield* TokenRefresher.refresh(savedRefreshToken)
      const [request] = yield* requests
      assert.strictEqual(request.headers.authorization, undefined)
      assert.strictEqual(request.contentType, "application/x-www-form-urlencoded")
      assert.deepStrictEqual(request.form, {
        grant_type: "refresh_token",
        refresh_token: "saved-refresh-token",
        client_id: "client-id",
        client_secret: "client-secret"
      })
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.ok()], { authMethod: "client_secret_post" })))
  )

  it.effect("a public client (no secret) sends client_id in the body and no secret anywhere", () =>
    Effect.gen(function* () {
      yield* TokenRefresher.refresh(savedRefreshToken)
      const [request] = yield* requests
      assert.strictEqual(request.headers.authorization, undefined)
      assert.deepStrictEqual(request.form, {
        grant_type: "refresh_token",
        refresh_token: "saved-refresh-token",
        client_id: "client-id"
      })
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.ok()], { clientSecret: undefined })))
  )

  it.effect("authMethod none ignores a configured secret", () =>
    Effect.gen(function* () {
      yield* TokenRefresher.refresh(savedRefreshToken)
      const [request] = yield* requests
      assert.strictEqual(request.headers.authorization, undefined)
      assert.strictEqual(request.form.client_secret, undefined)
      assert.strictEqual(request.form.client_id, "client-id")
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.ok()], { authMethod: "none" })))
  )

  it.effect("forwards a requested scope, space-separated", () =>
    Effect.gen(function* () {
      const tokens = yield* TokenRefresher.refresh(savedRefreshToken, { scope: ["user-read-private", "streaming"] })
      const [request] = yield* requests
      assert.strictEqual(request.form.scope, "user-read-private streaming")
      assert.deepStrictEqual(tokens.scope, ["user-read-private", "streaming"])
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.ok()])))
  )
})

describe("TokenRefresher: the response", () => {
  it.effect("decodes a TokenSet with expiry from the Effect Clock", () =>
    Effect.gen(function* () {
      const tokens = yield* TokenRefresher.refresh(savedRefreshToken)
      assert.strictEqual(Redacted.value(tokens.accessToken), "mock-access-token-1")
      assert.strictEqual(tokens.tokenType, "Bearer")
      assert.strictEqual(DateTime.formatIso(tokens.expiresAt), "1970-01-01T01:00:00.000Z")
      assert.deepStrictEqual(tokens.scope, ["user-read-private", "user-read-email"])
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.ok()])))
  )

  it.effect("keeps the refresh token that was sent when the server returns none", () =>
    Effect.gen(function* () {
      const tokens = yield* TokenRefresher.refresh(savedRefreshToken)
      assert.strictEqual(Redacted.value(Option.getOrThrow(tokens.refreshToken)), "saved-refresh-token")
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.ok({ rotate: false })])))
  )

  it.effect("takes the rotated refresh token when the server returns one", () =>
    Effect.gen(function* () {
      const tokens = yield* TokenRefresher.refresh(savedRefreshToken)
      assert.strictEqual(Redacted.value(Option.getOrThrow(tokens.refreshToken)), "mock-refresh-token-1")
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.ok({ rotate: true })])))
  )

  it.effect("accepts a lower-case token_type, keeps it as sent, and an absent scope is empty", () =>
    Effect.gen(function* () {
      const tokens = yield* TokenRefresher.refresh(savedRefreshToken)
      assert.strictEqual(tokens.tokenType, "bearer")
      assert.deepStrictEqual(tokens.scope, [])
    }).pipe(
      Effect.provide(
        refresherWith([MockTokenEndpoint.json({ access_token: "a", token_type: "bearer", expires_in: 60 })])
      )
    )
  )
})

describe("TokenRefresher: OAuth errors are typed and never retried", () => {
  it.effect("invalid_grant is InvalidGrant, tried once", () =>
    Effect.gen(function* () {
      const error = yield* refreshFailure()
      assertError(error, new Errors.InvalidGrant({ status: 400, description: "Refresh token revoked" }))
      assert.strictEqual(error.message.includes("Refresh token revoked"), true)
      assert.strictEqual(yield* requestCount, 1)
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.invalidGrant("Refresh token revoked")])))
  )

  it.effect("invalid_client is InvalidClient, tried once", () =>
    Effect.gen(function* () {
      const error = yield* refreshFailure()
      assertError(error, new Errors.InvalidClient({ status: 400, description: "Invalid client secret" }))
      assert.strictEqual(yield* requestCount, 1)
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.invalidClient()])))
  )

  it.effect("a bare 401 is InvalidClient", () =>
    Effect.gen(function* () {
      const error = yield* refreshFailure()
      assertError(error, new Errors.InvalidClient({ status: 401 }))
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.text("Unauthorized", { status: 401 })])))
  )

  it.effect("any other §5.2 error is OAuthError with code, description and uri", () =>
    Effect.gen(function* () {
      const error = yield* refreshFailure()
      assertError(
        error,
        new Errors.OAuthError({
          status: 400,
          error: "invalid_scope",
          description: "scope not granted",
          errorUri: "https://example.com/errors/scope"
        })
      )
      assert.strictEqual(yield* requestCount, 1)
    }).pipe(
      Effect.provide(
        refresherWith([
          MockTokenEndpoint.json(
            {
              error: "invalid_scope",
              error_description: "scope not granted",
              error_uri: "https://example.com/errors/scope"
            },
            { status: 400 }
          )
        ])
      )
    )
  )

  it.effect("an unknown error code is OAuthError too", () =>
    Effect.gen(function* () {
      const error = yield* refreshFailure()
      assertError(error, new Errors.OAuthError({ status: 403, error: "access_denied_by_policy" }))
    }).pipe(
      Effect.provide(refresherWith([MockTokenEndpoint.json({ error: "access_denied_by_policy" }, { status: 403 })]))
    )
  )
})

describe("TokenRefresher: unusable answers are DecodeError", () => {
  const decodeFailure = (reply: MockTokenEndpoint.Reply) =>
    refreshFailure().pipe(Effect.provide(refresherWith([reply])))

  it.effect("an HTML page on a non-retryable status", () =>
    Effect.gen(function* () {
      const error = yield* decodeFailure(MockTokenEndpoint.html(403))
      assertError(
        error,
        new Errors.DecodeError({
          status: 403,
          reason: "NotOAuthError",
          detail: "expected an OAuth error object, got 75 characters of text/html"
        })
      )
    })
  )

  it.effect("a 200 that is not JSON", () =>
    Effect.gen(function* () {
      const error = yield* decodeFailure(MockTokenEndpoint.html(200))
      assertError(
        error,
        new Errors.DecodeError({
          status: 200,
          reason: "NotJson",
          detail: "expected a JSON token response, got 75 characters of text/html"
        })
      )
    })
  )

  it.effect("a 200 with an empty body", () =>
    Effect.gen(function* () {
      const error = yield* decodeFailure(MockTokenEndpoint.text(""))
      assertError(
        error,
        new Errors.DecodeError({
          status: 200,
          reason: "NotJson",
          detail: "expected a JSON token response, got an empty body"
        })
      )
    })
  )

  it.effect("a missing access_token", () =>
    Effect.gen(function* () {
      const error = yield* decodeFailure(MockTokenEndpoint.json({ token_type: "Bearer", expires_in: 3600 }))
      assertError(error, new Errors.DecodeError({ status: 200, reason: "Schema", detail: "access_token is missing" }))
    })
  )

  it.effect("a non-numeric expires_in, an empty token and an unknown token_type, all named", () =>
    Effect.gen(function* () {
      const error = yield* decodeFailure(
        MockTokenEndpoint.json({ access_token: "", token_type: "mac", expires_in: "soon" })
      )
      assertError(
        error,
        new Errors.DecodeError({
          status: 200,
          reason: "Schema",
          detail:
            'access_token: expected 1 to 65536 visible ASCII characters; token_type: expected "Bearer" or "DPoP" (case-insensitive); ' +
            "expires_in: expected a number of seconds from 0 to 315360000 (ten years)"
        })
      )
    })
  )

  it.effect("a JSON body that is not an object", () =>
    Effect.gen(function* () {
      const error = yield* decodeFailure(MockTokenEndpoint.json(["not", "an", "object"]))
      assertError(
        error,
        new Errors.DecodeError({ status: 200, reason: "Schema", detail: "body: expected a JSON object" })
      )
    })
  )

  it.effect("expires_in as a numeric string is accepted", () =>
    Effect.gen(function* () {
      const tokens = yield* TokenRefresher.refresh(savedRefreshToken).pipe(
        Effect.provide(
          refresherWith([MockTokenEndpoint.json({ access_token: "a", token_type: "Bearer", expires_in: "60" })])
        )
      )
      assert.strictEqual(DateTime.formatIso(tokens.expiresAt), "1970-01-01T00:01:00.000Z")
    })
  )
})

describe("TokenRefresher: options are checked at construction", () => {
  const construct = (options: Partial<TokenRefresher.Options>) =>
    TokenRefresher.make({ tokenUrl, clientId, clientSecret, ...options }).pipe(
      Effect.provide(MockTokenEndpoint.layer([])),
      Effect.flip,
      Effect.map((error) => String(error))
    )

  it.effect("http is refused except for loopback hosts", () =>
    Effect.gen(function* () {
      assert.strictEqual(
        yield* construct({ tokenUrl: "http://accounts.example.com/api/token" }),
        '(Invalid data at tokenUrl: "tokenUrl must use https (http is allowed only for loopback hosts), got http://accounts.example.com")'
      )
      for (const url of ["http://127.0.0.1:8080/token", "http://localhost/token", "http://[::1]:9/token"]) {
        const service = yield* TokenRefresher.make({ tokenUrl: url, clientId }).pipe(
          Effect.provide(MockTokenEndpoint.layer([]))
        )
        assert.strictEqual(typeof service.refresh, "function")
      }
    })
  )

  it.effect("a URL that does not parse, or holds credentials, is refused", () =>
    Effect.gen(function* () {
      assert.strictEqual(
        yield* construct({ tokenUrl: "accounts.spotify.com/api/token" }),
        '(Invalid data at tokenUrl: "tokenUrl is not a valid URL: "accounts.spotify.com/api/token"")'
      )
      assert.strictEqual(
        yield* construct({ tokenUrl: "https://id:secret@accounts.spotify.com/api/token" }),
        '(Invalid data at tokenUrl: "tokenUrl must not contain credentials: pass clientId and clientSecret instead")'
      )
    })
  )

  it.effect("a secret-based auth method without a secret, an empty client id, a bad retry bound", () =>
    Effect.gen(function* () {
      assert.strictEqual(
        yield* construct({ clientSecret: undefined, authMethod: "client_secret_post" }),
        '(Invalid data at clientSecret: "authMethod client_secret_post needs a clientSecret")'
      )
      assert.strictEqual(yield* construct({ clientId: "" }), '(Invalid data at clientId: "clientId must not be empty")')
      assert.strictEqual(
        yield* construct({ retry: { maxRetries: Infinity } }),
        '(Invalid data at retry.maxRetries: "retry.maxRetries must be a whole number of at least 0")'
      )
      assert.strictEqual(
        yield* construct({ timeout: Duration.infinity }),
        '(Invalid data at timeout: "timeout must be a finite duration")'
      )
    })
  )
})

describe("types", () => {
  it.effect("the access token of a grant is a Redacted, not an Option", () =>
    Effect.gen(function* () {
      const token = Redacted.make("saved-refresh-token")
      const t: Redacted.Redacted<string> = (yield* TokenRefresher.refresh(token)).accessToken
      assert.strictEqual(Redacted.value(t), "mock-access-token-1")
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.ok()])))
  )
})
