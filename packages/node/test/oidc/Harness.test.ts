/**
 * The oidc-provider harness itself, exercised with raw `fetch` and jose only: what it promises the token client's
 * tests (discovery, rotation and reuse, JWT client authentication, DPoP with nonces, device flow) really happens.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Crypto from "node:crypto"
import * as Jose from "jose"
import { ACCOUNT_ID, startOidcServer, type OidcServer } from "./provider.js"

interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly body: Record<string, unknown>
}

/** POSTs a form to `url`; JSON answers are parsed. */
const post = (url: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
  Effect.promise(async (): Promise<Answer> => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams(form)
    })
    return {
      status: response.status,
      headers: response.headers,
      body: (await response.json()) as Record<string, unknown>
    }
  })

const dpopProof = (
  key: CryptoKeyPair,
  htm: string,
  htu: string,
  claims: { readonly nonce?: string | null; readonly ath?: string } = {}
) =>
  Effect.promise(async () =>
    new Jose.SignJWT({ htm, htu, jti: Crypto.randomUUID(), ...claims })
      .setProtectedHeader({ alg: "ES256", typ: "dpop+jwt", jwk: await Jose.exportJWK(key.publicKey) })
      .setIssuedAt()
      .sign(key.privateKey)
  )

const ath = (accessToken: string) => Crypto.createHash("sha256").update(accessToken).digest("base64url")

/** A private_key_jwt assertion as our client sends it: iss = sub = client id, aud = the issuer, 60 s. */
const assertion = (clientId: string, aud: string, alg: string, key: CryptoKey | Uint8Array) =>
  Effect.promise(async () => ({
    client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    client_assertion: await new Jose.SignJWT({ jti: Crypto.randomUUID() })
      .setProtectedHeader({ alg })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(aud)
      .setIssuedAt()
      .setExpirationTime("60s")
      .sign(key)
  }))

const refresh = (server: OidcServer, refreshToken: string, auth: Record<string, string>, headers = {}) =>
  post(server.tokenUrl, { grant_type: "refresh_token", refresh_token: refreshToken, ...auth }, headers)

const getResource = (server: OidcServer, headers: Record<string, string>) =>
  Effect.promise(async () => {
    const response = await fetch(server.resourceUrl, { headers })
    const text = await response.text()
    return {
      status: response.status,
      headers: response.headers,
      body: text ? (JSON.parse(text) as unknown) : undefined
    }
  })

describe("oidc-provider harness", () => {
  it.live("discovery lists the endpoints, the client auth methods and DPoP", () =>
    Effect.gen(function* () {
      const server = yield* startOidcServer()
      const document = yield* Effect.promise(() =>
        fetch(`${server.issuer}/.well-known/openid-configuration`).then(
          (r) => r.json() as Promise<Record<string, unknown>>
        )
      )
      assert.strictEqual(document.issuer, server.issuer)
      assert.strictEqual(document.token_endpoint, server.tokenUrl)
      assert.strictEqual(document.revocation_endpoint, server.revocationUrl)
      assert.strictEqual(document.device_authorization_endpoint, server.deviceAuthorizationUrl)
      assert.includeMembers(document.token_endpoint_auth_methods_supported as Array<string>, [
        "none",
        "private_key_jwt",
        "client_secret_jwt",
        "client_secret_basic",
        "client_secret_post"
      ])
      assert.include(document.dpop_signing_alg_values_supported as Array<string>, "ES256")
      assert.include(document.grant_types_supported as Array<string>, "refresh_token")
    }).pipe(Effect.scoped)
  )

  it.live(
    "public client: login, refresh rotates, reusing the old refresh token is invalid_grant and ends the grant",
    () =>
      Effect.gen(function* () {
        const server = yield* startOidcServer()
        const tokens = yield* server.login("public-plain")
        assert.strictEqual(tokens.token_type, "Bearer")
        assert.isString(tokens.refresh_token)

        const first = yield* refresh(server, tokens.refresh_token, { client_id: "public-plain" })
        assert.strictEqual(first.status, 200)
        assert.notStrictEqual(first.body.refresh_token, tokens.refresh_token)
        assert.notStrictEqual(first.body.access_token, tokens.access_token)

        const reused = yield* refresh(server, tokens.refresh_token, { client_id: "public-plain" })
        assert.strictEqual(reused.status, 400)
        assert.strictEqual(reused.body.error, "invalid_grant")
        // the reuse revoked the whole grant: the rotated refresh token is dead too
        const rotated = yield* refresh(server, first.body.refresh_token as string, { client_id: "public-plain" })
        assert.deepStrictEqual([rotated.status, rotated.body.error], [400, "invalid_grant"])
      }).pipe(Effect.scoped)
  )

  it.live("private_key_jwt (EC): refresh with an assertion aud = issuer; the wrong key is invalid_client", () =>
    Effect.gen(function* () {
      const server = yield* startOidcServer()
      const tokens = yield* server.login("jwt-ec")
      const key = yield* Effect.promise(() => Jose.importPKCS8(server.keys.ecPrivatePem, "ES256"))
      const refreshed = yield* refresh(
        server,
        tokens.refresh_token,
        yield* assertion("jwt-ec", server.issuer, "ES256", key)
      )
      assert.strictEqual(refreshed.status, 200, JSON.stringify(refreshed.body))
      assert.isString(refreshed.body.refresh_token)

      // the token endpoint's URL is an accepted audience as well
      const byTokenUrl = yield* refresh(
        server,
        refreshed.body.refresh_token as string,
        yield* assertion("jwt-ec", server.tokenUrl, "ES256", key)
      )
      assert.strictEqual(byTokenUrl.status, 200, JSON.stringify(byTokenUrl.body))

      const wrong = yield* Effect.promise(() => Jose.importPKCS8(server.keys.wrongEcPrivatePem, "ES256"))
      const refused = yield* refresh(
        server,
        byTokenUrl.body.refresh_token as string,
        yield* assertion("jwt-ec", server.issuer, "ES256", wrong)
      )
      assert.deepStrictEqual(
        { status: refused.status, body: refused.body },
        { status: 401, body: { error: "invalid_client", error_description: "client authentication failed" } }
      )
    }).pipe(Effect.scoped)
  )

  it.live("private_key_jwt (RSA) and client_secret_jwt clients log in and refresh", () =>
    Effect.gen(function* () {
      const server = yield* startOidcServer()
      const rsa = yield* Effect.promise(() => Jose.importJWK(JSON.parse(server.keys.rsaPrivateJwk), "RS256"))
      const rsaTokens = yield* server.login("jwt-rsa")
      const rsaRefresh = yield* refresh(
        server,
        rsaTokens.refresh_token,
        yield* assertion("jwt-rsa", server.issuer, "RS256", rsa)
      )
      assert.strictEqual(rsaRefresh.status, 200, JSON.stringify(rsaRefresh.body))

      const secret = new TextEncoder().encode("a-client-secret-of-at-least-32-characters-long!!")
      const secretTokens = yield* server.login("jwt-secret")
      const secretRefresh = yield* refresh(
        server,
        secretTokens.refresh_token,
        yield* assertion("jwt-secret", server.issuer, "HS256", secret)
      )
      assert.strictEqual(secretRefresh.status, 200, JSON.stringify(secretRefresh.body))
    }).pipe(Effect.scoped)
  )

  it.live("DPoP with nonces: use_dpop_nonce then success; the resource endpoint checks the proof and ath", () =>
    Effect.gen(function* () {
      const server = yield* startOidcServer({ dpopNonces: true })
      const dpop = yield* Effect.promise(() => Jose.generateKeyPair("ES256", { extractable: true }))
      const tokens = yield* server.login("public-dpop", { dpop })
      assert.strictEqual(tokens.token_type, "DPoP")

      // a proof without a nonce: 400 use_dpop_nonce and a DPoP-Nonce header (RFC 9449 §8)
      const first = yield* refresh(
        server,
        tokens.refresh_token,
        { client_id: "public-dpop" },
        { dpop: yield* dpopProof(dpop, "POST", server.tokenUrl) }
      )
      assert.strictEqual(first.status, 400)
      assert.strictEqual(first.body.error, "use_dpop_nonce")
      const nonce = first.headers.get("dpop-nonce")
      assert.isString(nonce)

      const second = yield* refresh(
        server,
        tokens.refresh_token,
        { client_id: "public-dpop" },
        { dpop: yield* dpopProof(dpop, "POST", server.tokenUrl, { nonce }) }
      )
      assert.strictEqual(second.status, 200, JSON.stringify(second.body))
      assert.strictEqual(second.body.token_type, "DPoP")
      const accessToken = second.body.access_token as string

      // without a proof at all the bound refresh token is refused
      const withoutProof = yield* refresh(server, second.body.refresh_token as string, { client_id: "public-dpop" })
      assert.deepStrictEqual([withoutProof.status, withoutProof.body.error], [400, "invalid_grant"])

      // resource: no nonce → 401 use_dpop_nonce with a DPoP-Nonce header (RFC 9449 §9)
      const noNonce = yield* getResource(server, {
        authorization: `DPoP ${accessToken}`,
        dpop: yield* dpopProof(dpop, "GET", server.resourceUrl, { ath: ath(accessToken) })
      })
      assert.strictEqual(noNonce.status, 401)
      assert.match(noNonce.headers.get("www-authenticate") ?? "", /^DPoP error="use_dpop_nonce"/)
      const resourceNonce = noNonce.headers.get("dpop-nonce")
      assert.isString(resourceNonce)

      const ok = yield* getResource(server, {
        authorization: `DPoP ${accessToken}`,
        dpop: yield* dpopProof(dpop, "GET", server.resourceUrl, { nonce: resourceNonce, ath: ath(accessToken) })
      })
      assert.deepStrictEqual({ status: ok.status, body: ok.body }, { status: 200, body: { ok: true, sub: ACCOUNT_ID } })

      const noAth = yield* getResource(server, {
        authorization: `DPoP ${accessToken}`,
        dpop: yield* dpopProof(dpop, "GET", server.resourceUrl, { nonce: resourceNonce })
      })
      assert.strictEqual(noAth.status, 401)
      assert.match(noAth.headers.get("www-authenticate") ?? "", /^DPoP error="invalid_dpop_proof"/)

      // a bound token sent as a bearer token is refused
      const asBearer = yield* getResource(server, { authorization: `Bearer ${accessToken}` })
      assert.strictEqual(asBearer.status, 401)
    }).pipe(Effect.scoped)
  )

  it.live("device flow: pending, approved → tokens; denied → access_denied", () =>
    Effect.gen(function* () {
      const server = yield* startOidcServer()
      const authorize = post(server.deviceAuthorizationUrl, {
        client_id: "public-plain",
        scope: "openid offline_access"
      })
      const poll = (deviceCode: string) =>
        post(server.tokenUrl, {
          grant_type: "urn:ietf:params:oauth:grant-type:device_code",
          device_code: deviceCode,
          client_id: "public-plain"
        })

      const device = yield* authorize
      assert.strictEqual(device.status, 200)
      assert.strictEqual(device.body.verification_uri, `${server.issuer}/device`)
      const pending = yield* poll(device.body.device_code as string)
      assert.deepStrictEqual([pending.status, pending.body.error], [400, "authorization_pending"])

      yield* server.approveDevice(device.body.user_code as string)
      const tokens = yield* poll(device.body.device_code as string)
      assert.strictEqual(tokens.status, 200, JSON.stringify(tokens.body))
      assert.isString(tokens.body.access_token)
      assert.isString(tokens.body.refresh_token)
      const resource = yield* getResource(server, { authorization: `Bearer ${tokens.body.access_token as string}` })
      assert.deepStrictEqual(resource.body, { ok: true, sub: ACCOUNT_ID })

      const denied = yield* authorize
      yield* server.approveDevice(denied.body.user_code as string, { deny: true })
      const refused = yield* poll(denied.body.device_code as string)
      assert.deepStrictEqual(
        { status: refused.status, body: refused.body },
        { status: 400, body: { error: "access_denied", error_description: "End-User aborted interaction" } }
      )
    }).pipe(Effect.scoped)
  )
})
