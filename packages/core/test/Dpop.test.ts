import { assert, describe, it } from "@effect/vitest"
import {
  BearerAuth,
  Provider,
  Session,
  TokenManager,
  TokenRefresher,
  TokenSessions,
  TokenSet,
  TokenStore
} from "@token-refresher/core"
import { MockTokenEndpoint, TestStack } from "@token-refresher/testing"
import { HttpClient } from "@effect/platform"
import { Effect, Encoding, Fiber, Layer, Logger, Option, Redacted, TestClock } from "effect"
import * as Crypto from "node:crypto"
import * as Jose from "jose"
import { requests, stringBackend } from "./utils.js"

/** A proof's header and claims, and whether it verifies with the key in its own header. */
const proofOf = async (proof: string | undefined) => {
  assert.isString(proof)
  const header = Jose.decodeProtectedHeader(proof!)
  const { payload } = await Jose.jwtVerify(proof!, await Jose.importJWK(header.jwk as Jose.JWK, header.alg!))
  return { header, payload }
}

const nonceAnswer = (nonce: string) =>
  MockTokenEndpoint.json(
    { error: "use_dpop_nonce", error_description: "nonce is required in the DPoP proof" },
    { status: 400, headers: { "dpop-nonce": nonce } }
  )

/** A stack with DPoP on, over a mock endpoint at its own origin (the nonces are remembered per origin). */
const dpopStack = (
  origin: string,
  replies: ReadonlyArray<MockTokenEndpoint.Reply>,
  initial: TokenStore.Initial = Session.seeded("seed-token", 0),
  manager?: TokenManager.Options
) =>
  TestStack.manager(replies, initial, {
    refresher: { tokenUrl: `${origin}/token`, clientSecret: undefined, dpop: true, retry: { maxRetries: 0 } },
    manager
  })

describe("DPoP (RFC 9449), on the mock endpoint", () => {
  it.effect(
    "a first grant makes the key; a nonce asked for is sent at once, not as a retry; the key goes into the session",
    () =>
      Effect.gen(function* () {
        const manager = yield* TokenManager.TokenManager
        const token = yield* manager.accessToken
        assert.strictEqual(Redacted.value(token), "mock-access-token-2")
        const [first, second] = yield* requests
        assert.deepStrictEqual(first!.form, {
          grant_type: "refresh_token",
          refresh_token: "seed-token",
          client_id: "client-id"
        })
        assert.deepStrictEqual(second!.form, first!.form)
        const one = yield* Effect.promise(() => proofOf(first!.headers.dpop))
        const two = yield* Effect.promise(() => proofOf(second!.headers.dpop))
        assert.deepStrictEqual([one.header.typ, one.header.alg], ["dpop+jwt", "ES256"])
        assert.deepStrictEqual(Object.keys(one.header.jwk!).sort(), ["alg", "crv", "kty", "x", "y"])
        assert.deepStrictEqual(two.header.jwk, one.header.jwk)
        assert.deepStrictEqual(
          [one.payload.htm, one.payload.htu, one.payload.nonce],
          ["POST", "https://dpop-1.example.com/token", undefined]
        )
        assert.strictEqual(two.payload.nonce, "nonce-1")
        assert.notStrictEqual(one.payload.jti, two.payload.jti)
        assert.strictEqual(one.payload.iat, 0)

        // the session keeps the key, and its next refresh uses it, with the nonce remembered for the origin
        const stored = Option.getOrThrow(Option.flatMap(yield* TokenStore.get(), Session.tokens))
        assert.strictEqual(stored.tokenType, "DPoP")
        const key = JSON.parse(Redacted.value(Option.getOrThrow(stored.dpopKey))) as Jose.JWK
        assert.deepStrictEqual([key.x, key.y, typeof key.d], [one.header.jwk!.x, one.header.jwk!.y, "string"])
        yield* manager.refreshNow
        const third = (yield* requests)[2]!
        const three = yield* Effect.promise(() => proofOf(third.headers.dpop))
        assert.deepStrictEqual(three.header.jwk, one.header.jwk)
        assert.strictEqual(three.payload.nonce, "nonce-1")
        assert.strictEqual(third.form.refresh_token, "mock-refresh-token-2")
      }).pipe(
        Effect.provide(
          dpopStack("https://dpop-1.example.com", [
            nonceAnswer("nonce-1"),
            MockTokenEndpoint.ok({ tokenType: "DPoP", rotate: true }),
            MockTokenEndpoint.ok({ tokenType: "DPoP", rotate: true })
          ])
        )
      )
  )

  it.effect("a seeded DPoP-bound token is refreshed with its own key", () =>
    Effect.gen(function* () {
      const { privateKey } = yield* Effect.promise(() => Jose.generateKeyPair("ES256", { extractable: true }))
      const jwk = yield* Effect.promise(() => Jose.exportJWK(privateKey))
      const manager = yield* TokenManager.TokenManager
      yield* TokenStore.set(
        TokenStore.defaultKey,
        Session.seeded("bound-token", { seededAt: 0, dpopKey: Redacted.make(JSON.stringify(jwk)) })
      )
      yield* manager.accessToken
      const [request] = yield* requests
      const proof = yield* Effect.promise(() => proofOf(request!.headers.dpop))
      assert.deepStrictEqual([proof.header.jwk!.x, proof.header.jwk!.y], [jwk.x, jwk.y])
    }).pipe(Effect.provide(dpopStack("https://dpop-2.example.com", [MockTokenEndpoint.ok({ tokenType: "DPoP" })], [])))
  )

  it.effect("a server that answers DPoP with a Bearer token: the token is used as Bearer, with one warning", () =>
    Effect.gen(function* () {
      const warnings: Array<unknown> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (logLevel._tag === "Warning") warnings.push(message)
      })
      yield* Effect.gen(function* () {
        const manager = yield* TokenManager.TokenManager
        yield* manager.refreshNow
        yield* manager.refreshNow
      }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      assert.deepStrictEqual(warnings, [
        ["the token endpoint answered a DPoP request with a Bearer token: it is used as Bearer"]
      ])
      const stored = Option.getOrThrow(Option.flatMap(yield* TokenStore.get(), Session.tokens))
      assert.strictEqual(stored.tokenType, "Bearer")
    }).pipe(
      Effect.provide(
        dpopStack("https://dpop-3.example.com", [
          MockTokenEndpoint.ok({ rotate: true }),
          MockTokenEndpoint.ok({ rotate: true })
        ])
      )
    )
  )

  it.effect(
    "BearerAuth sends Authorization: DPoP and a proof with ath, htm and htu; a 401 asking for a nonce is sent again at once",
    () =>
      Effect.gen(function* () {
        const client = yield* BearerAuth.make(yield* HttpClient.HttpClient)
        const response = yield* client.get("https://api.dpop-4.example.com/v1/me?fields=name#top")
        assert.strictEqual(response.status, 200)
        const all = yield* requests
        assert.strictEqual(all.length, 3, "one token request, two API requests")
        const [, first, second] = all
        const token = "mock-access-token-1"
        for (const request of [first!, second!]) assert.strictEqual(request.headers.authorization, `DPoP ${token}`)
        const one = yield* Effect.promise(() => proofOf(first!.headers.dpop))
        const two = yield* Effect.promise(() => proofOf(second!.headers.dpop))
        const ath = Encoding.encodeBase64Url(Crypto.createHash("sha256").update(token).digest())
        assert.deepStrictEqual(
          [one.payload.htm, one.payload.htu, one.payload.ath],
          ["GET", "https://api.dpop-4.example.com/v1/me", ath]
        )
        assert.strictEqual(one.payload.nonce, undefined)
        assert.strictEqual(two.payload.nonce, "api-nonce")
      }).pipe(
        Effect.provide(
          dpopStack("https://dpop-4.example.com", [
            MockTokenEndpoint.ok({ tokenType: "DPoP" }),
            MockTokenEndpoint.text("", {
              status: 401,
              headers: { "www-authenticate": 'DPoP error="use_dpop_nonce"', "dpop-nonce": "api-nonce" }
            }),
            MockTokenEndpoint.json({ ok: true })
          ])
        )
      )
  )

  it.effect(
    "a device login with DPoP: the key made for it signs its request and every poll, and stays with the tokens",
    () =>
      Effect.gen(function* () {
        const authorization = yield* TokenRefresher.deviceAuthorization()
        const fiber = yield* Effect.fork(TokenRefresher.pollDeviceToken(authorization))
        // every proof is signed by WebCrypto in real time: the clock moves a second at a time, with a real pause, so
        // a poll whose proof is still being signed is not skipped over
        for (let second = 0; second < 30 && Option.isNone(yield* Fiber.poll(fiber)); second++) {
          yield* TestClock.adjust("1 second")
          yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 5)))
        }
        const tokens = yield* Fiber.join(fiber)
        assert.strictEqual(
          Redacted.value(Option.getOrThrow(tokens.dpopKey)),
          Redacted.value(Option.getOrThrow(authorization.dpopKey))
        )
        const sent = yield* requests
        assert.strictEqual(sent.length, 3)
        const proofs = yield* Effect.promise(() => Promise.all(sent.map((request) => proofOf(request.headers.dpop))))
        for (const proof of proofs) assert.deepStrictEqual(proof.header.jwk, proofs[0]!.header.jwk)
        assert.deepStrictEqual(
          proofs.map((proof) => proof.payload.htu),
          ["https://dpop-5.example.com/device", "https://dpop-5.example.com/token", "https://dpop-5.example.com/token"]
        )
      }).pipe(
        Effect.provide(
          TestStack.refresher(
            [
              MockTokenEndpoint.json({
                device_code: "device-code",
                user_code: "ABCD-EFGH",
                verification_uri: "https://dpop-5.example.com/verify",
                expires_in: 60,
                interval: 5
              }),
              MockTokenEndpoint.json({ error: "authorization_pending" }, { status: 400 }),
              MockTokenEndpoint.ok({ tokenType: "DPoP" })
            ],
            {
              provider: Provider.make({
                name: "dpop-5",
                tokenUrl: "https://dpop-5.example.com/token",
                deviceAuthorizationUrl: "https://dpop-5.example.com/device"
              }),
              tokenUrl: undefined,
              clientSecret: undefined,
              dpop: true
            }
          )
        )
      )
  )

  it.effect("a logout with revocation sends a proof of the session's own key", () =>
    Effect.gen(function* () {
      const sessions = yield* TokenSessions.TokenSessions
      yield* sessions.accessToken(TokenStore.defaultKey)
      const tokens = Option.getOrThrow(Option.flatMap(yield* TokenStore.get(), Session.tokens))
      const key = JSON.parse(Redacted.value(Option.getOrThrow(tokens.dpopKey))) as Jose.JWK
      yield* sessions.remove(TokenStore.defaultKey, { revoke: true })
      const revocation = (yield* requests)[1]!
      assert.strictEqual(revocation.url, "https://dpop-6.example.com/revoke")
      const proof = yield* Effect.promise(() => proofOf(revocation.headers.dpop))
      assert.deepStrictEqual([proof.header.jwk!.x, proof.payload.htu], [key.x, "https://dpop-6.example.com/revoke"])
    }).pipe(
      Effect.provide(
        TokenSessions.layer().pipe(
          Layer.provideMerge(TokenStore.layerMemory(Session.seeded("seed-token", 0))),
          Layer.provideMerge(
            TestStack.refresher(
              [MockTokenEndpoint.ok({ tokenType: "DPoP", rotate: true }), MockTokenEndpoint.json({})],
              {
                provider: Provider.make({
                  name: "dpop-6",
                  tokenUrl: "https://dpop-6.example.com/token",
                  revocationUrl: "https://dpop-6.example.com/revoke"
                }),
                tokenUrl: undefined,
                clientSecret: undefined,
                dpop: true
              }
            )
          )
        )
      )
    )
  )

  it.scoped("the key is sealed with the rest of the session under TokenStore.encrypted", () =>
    Effect.gen(function* () {
      const entries = new Map<string, string>()
      const sealed = yield* TokenStore.withEncryption(Redacted.make("q8a6VxQ1aY3cQ2qkE7n7sJm2b0u5sWZ0nC1m9P4yF6g="))(
        TokenStore.make(stringBackend(entries))
      )
      const jwk = JSON.stringify({ kty: "EC", crv: "P-256", x: "SENTINEL-X", y: "SENTINEL-Y", d: "SENTINEL-D" })
      const tokens = TestStack.tokens()
      yield* sealed.set(
        "alice",
        Session.active(
          new TokenSet.TokenSet({ ...tokens, tokenType: "DPoP", dpopKey: Option.some(Redacted.make(jwk)) })
        )
      )
      assert.notInclude(entries.get("alice")!, "SENTINEL")
      const back = Option.getOrThrow(Option.flatMap(yield* sealed.get("alice"), Session.tokens))
      assert.strictEqual(Redacted.value(Option.getOrThrow(back.dpopKey)), jwk)
    })
  )
})
