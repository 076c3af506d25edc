import { assert, describe, it } from "@effect/vitest"
import { Provider, TokenRefresher } from "@token-refresher/core"
import { MockTokenEndpoint, TestStack } from "@token-refresher/testing"
import { Effect, Layer, Redacted } from "effect"
import * as Jose from "jose"
import { requests, savedRefreshToken, tokenUrl } from "./utils.js"

const ecKey = Effect.promise(async () => {
  const { privateKey, publicKey } = await Jose.generateKeyPair("ES256", { extractable: true })
  return { pem: await Jose.exportPKCS8(privateKey), publicKey }
})

/** The client assertion of a request, verified with `key` at the test clock's time (0: the epoch). */
const assertionOf = (form: Readonly<Record<string, string>>, key: CryptoKey | Uint8Array) =>
  Effect.promise(() => Jose.jwtVerify(form.client_assertion!, key, { currentDate: new Date(0) }))

const refresh = (options: Partial<TokenRefresher.Options>, ...replies: ReadonlyArray<MockTokenEndpoint.Reply>) =>
  Effect.flatMap(Effect.exit(TokenRefresher.refresh(savedRefreshToken)), (exit) =>
    Effect.map(requests, (sent) => ({ exit, sent }))
  ).pipe(
    Effect.provide(
      TokenRefresher.layer({ ...TestStack.refresherOptions, clientSecret: undefined, ...options }).pipe(
        Layer.provideMerge(MockTokenEndpoint.layer(replies))
      )
    )
  )

describe("JWT client authentication (RFC 7523 §2.2), on the mock endpoint", () => {
  it.effect(
    "private_key_jwt: a new assertion per attempt; aud the token endpoint without an issuer; exp 60 s after iat",
    () =>
      Effect.gen(function* () {
        const { pem, publicKey } = yield* ecKey
        const { sent } = yield* refresh(
          { clientAssertionKey: Redacted.make(pem), clientAssertionKid: "key-1", retry: { baseDelay: "0 millis" } },
          MockTokenEndpoint.serverError(503),
          MockTokenEndpoint.ok()
        )
        assert.strictEqual(sent.length, 2)
        const claims = []
        for (const request of sent) {
          assert.strictEqual(request.headers.authorization, undefined)
          assert.deepStrictEqual(Object.keys(request.form).sort(), [
            "client_assertion",
            "client_assertion_type",
            "client_id",
            "grant_type",
            "refresh_token"
          ])
          assert.strictEqual(
            request.form.client_assertion_type,
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
          )
          const { payload, protectedHeader } = yield* assertionOf(request.form, publicKey)
          assert.deepStrictEqual(protectedHeader, { alg: "ES256", typ: "JWT", kid: "key-1" })
          assert.deepStrictEqual(
            [payload.iss, payload.sub, payload.aud],
            ["client-id", "client-id", "https://accounts.example.com/token"]
          )
          assert.strictEqual(payload.exp! - payload.iat!, 60)
          claims.push(payload)
        }
        assert.notStrictEqual(claims[0]!.jti, claims[1]!.jti)
      })
  )

  it.effect("revocation and device authorization carry an assertion too", () =>
    Effect.gen(function* () {
      const { pem, publicKey } = yield* ecKey
      const stack = TokenRefresher.layer({
        ...TestStack.refresherOptions,
        clientSecret: undefined,
        provider: Provider.make({
          name: "example",
          tokenUrl,
          revocationUrl: "https://accounts.example.com/revoke",
          deviceAuthorizationUrl: "https://accounts.example.com/device"
        }),
        tokenUrl: undefined,
        clientAssertionKey: Redacted.make(pem)
      }).pipe(
        Layer.provideMerge(
          MockTokenEndpoint.layer([
            MockTokenEndpoint.json({}),
            MockTokenEndpoint.json({
              device_code: "d",
              user_code: "U",
              verification_uri: "https://accounts.example.com/verify",
              expires_in: 60
            })
          ])
        )
      )
      const sent = yield* Effect.gen(function* () {
        yield* TokenRefresher.revoke(savedRefreshToken, { hint: "refresh_token" })
        yield* TokenRefresher.deviceAuthorization()
        return yield* requests
      }).pipe(Effect.provide(stack))
      assert.deepStrictEqual(
        sent.map((request) => request.url),
        ["https://accounts.example.com/revoke", "https://accounts.example.com/device"]
      )
      for (const request of sent) {
        assert.strictEqual(request.form.client_assertion_type, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        const { payload } = yield* assertionOf(request.form, publicKey)
        assert.strictEqual(payload.iss, "client-id")
      }
    })
  )

  it.effect("the audience is the issuer when the provider has one (discovery)", () =>
    Effect.gen(function* () {
      const { pem, publicKey } = yield* ecKey
      const { sent } = yield* refresh(
        {
          provider: Provider.make({ name: "example", tokenUrl, issuer: "https://issuer.example.com" }),
          clientAssertionKey: Redacted.make(pem)
        },
        MockTokenEndpoint.ok()
      )
      const { payload } = yield* assertionOf(sent[0]!.form, publicKey)
      assert.strictEqual(payload.aud, "https://issuer.example.com")
    })
  )

  it.effect("client_secret_jwt signs with the client secret (HS256); the secret is not sent", () =>
    Effect.gen(function* () {
      const { sent } = yield* refresh(
        { clientSecret: Redacted.make("a-long-enough-client-secret-0123456789"), authMethod: "client_secret_jwt" },
        MockTokenEndpoint.ok()
      )
      const { protectedHeader } = yield* assertionOf(
        sent[0]!.form,
        new TextEncoder().encode("a-long-enough-client-secret-0123456789")
      )
      assert.strictEqual(protectedHeader.alg, "HS256")
      assert.notInclude(sent[0]!.body, "a-long-enough-client-secret")
      assert.strictEqual(sent[0]!.headers.authorization, undefined)
    })
  )

  it.effect(
    "a bad key, a missing key, or a method the server does not list: a ConfigError that never quotes the key",
    () =>
      Effect.gen(function* () {
        const build = (options: Partial<TokenRefresher.Options>) =>
          Effect.flip(
            Layer.build(
              TokenRefresher.layer({ ...TestStack.refresherOptions, clientSecret: undefined, ...options }).pipe(
                Layer.provide(MockTokenEndpoint.layer([]))
              )
            ).pipe(Effect.scoped)
          )
        const garbage = yield* build({ clientAssertionKey: Redacted.make("SENTINEL-not-a-key") })
        assert.include(String(garbage), "clientAssertionKey is neither a PKCS#8 PEM")
        assert.notInclude(String(garbage), "SENTINEL")
        const pemOfNothing = yield* build({
          clientAssertionKey: Redacted.make("-----BEGIN PRIVATE KEY-----\nSENTINEL\n-----END PRIVATE KEY-----")
        })
        assert.include(String(pemOfNothing), "not an EC P-256, RSA or Ed25519 private key")
        assert.notInclude(String(pemOfNothing), "SENTINEL")
        const missing = yield* build({ authMethod: "private_key_jwt" })
        assert.include(String(missing), "authMethod private_key_jwt needs a clientAssertionKey")
        const unlisted = yield* build({
          provider: Provider.make({ name: "example", tokenUrl, authMethodsSupported: ["client_secret_basic"] }),
          clientSecret: Redacted.make("SENTINEL-secret"),
          authMethod: "client_secret_post"
        })
        assert.include(
          String(unlisted),
          "authMethod client_secret_post is not one the server supports (its token_endpoint_auth_methods_supported: client_secret_basic)"
        )
        assert.notInclude(String(unlisted), "SENTINEL")
      })
  )
})
