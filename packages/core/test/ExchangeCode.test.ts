import { assert, describe, it } from "@effect/vitest"
import { Errors, Pkce, TokenRefresher, TokenSet } from "@token-refresher/core"
import { MockTokenEndpoint } from "@token-refresher/testing"
import { Effect, Option, Redacted, Schema } from "effect"
import { assertError, refresherWith, requests } from "./utils.js"

const exchange = (codeVerifier?: string) =>
  Effect.flatMap(TokenRefresher.TokenRefresher, (refresher) =>
    refresher.exchangeCode({
      code: Redacted.make("the-code"),
      redirectUri: "http://127.0.0.1:8888/callback",
      codeVerifier: codeVerifier === undefined ? undefined : Redacted.make(codeVerifier)
    })
  )

describe("TokenRefresher.exchangeCode", () => {
  it.effect("a confidential client sends the code grant with Basic authentication", () =>
    Effect.gen(function* () {
      const tokens = yield* exchange("verifier")
      assert.strictEqual(Redacted.value(Option.getOrThrow(tokens.refreshToken)), "mock-refresh-token-1")
      const [request] = yield* requests
      assert.strictEqual(request!.headers.authorization?.startsWith("Basic "), true)
      assert.deepStrictEqual(request!.form, {
        grant_type: "authorization_code",
        code: "the-code",
        redirect_uri: "http://127.0.0.1:8888/callback",
        code_verifier: "verifier"
      })
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.ok({ rotate: true })])))
  )

  it.effect("a public client sends client_id and the verifier", () =>
    Effect.gen(function* () {
      yield* exchange("verifier")
      const [request] = yield* requests
      assert.strictEqual(request!.headers.authorization, undefined)
      assert.strictEqual(request!.form.client_id, "client-id")
      assert.strictEqual(request!.form.code_verifier, "verifier")
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.ok({ rotate: true })], { clientSecret: undefined })))
  )

  it.effect("an answer without a refresh token gives tokens whose refreshToken is None", () =>
    Effect.gen(function* () {
      const tokens = yield* exchange()
      assert.deepStrictEqual(Redacted.value(tokens.accessToken), "mock-access-token-1")
      assert.isTrue(Option.isNone(tokens.refreshToken))
      // a login starts the authorisation: its time is kept through every refresh
      assert.deepStrictEqual(Option.getOrUndefined(tokens.authorizedAt), tokens.issuedAt!)
      assert.deepStrictEqual(Schema.encodeSync(TokenSet.TokenSet)(tokens).refreshToken, undefined)
      assert.isFalse("refreshToken" in Schema.encodeSync(TokenSet.TokenSet)(tokens))
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.ok({ rotate: false })])))
  )

  it.effect("a bad code is InvalidGrant", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(exchange())
      assertError(error, new Errors.InvalidGrant({ status: 400, description: "Invalid authorization code" }))
    }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.invalidGrant("Invalid authorization code")])))
  )
})

describe("Pkce", () => {
  it.effect("S256 matches RFC 7636 appendix B", () =>
    Effect.gen(function* () {
      assert.strictEqual(
        yield* Pkce.challengeOf("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
      )
    })
  )

  it.effect("make gives a 43-character verifier and its challenge, new each time", () =>
    Effect.gen(function* () {
      const a = yield* Pkce.make
      const b = yield* Pkce.make
      assert.match(Redacted.value(a.verifier), /^[A-Za-z0-9_-]{43}$/)
      assert.strictEqual(a.challenge, yield* Pkce.challengeOf(Redacted.value(a.verifier)))
      assert.notStrictEqual(Redacted.value(a.verifier), Redacted.value(b.verifier))
      assert.strictEqual(a.method, "S256")
    })
  )
})
