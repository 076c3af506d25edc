import { assert, describe, it } from "@effect/vitest"
import { BearerAuth, Errors, Provider, Session, TokenManager, TokenRefresher, TokenStore } from "@token-refresher/core"
import { NodeTokenClient, NodeTokenRefresher, NodeTokenStore } from "@token-refresher/node"
import { HttpClient } from "@effect/platform"
import { Effect, Layer, Option, Redacted } from "effect"
import * as Fs from "node:fs"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Jose from "jose"
import { fixture, runScript } from "../child.js"
import { CLIENT_SECRET, type OidcServer, startOidcServer } from "./provider.js"

// Against a real authorization server that nobody here wrote: panva's oidc-provider, in this process on 127.0.0.1.

const discover = (server: OidcServer) => Provider.discover(server.issuer).pipe(Effect.provide(NodeTokenClient.layer()))

const refresherOf = (provider: Provider.Provider, options: Omit<TokenRefresher.Options, "provider">) =>
  NodeTokenRefresher.layer({ provider, ...options })

/** A new DPoP key pair, as the private JWK's JSON that `TokenSet.dpopKey` holds, and as the harness takes it. */
const dpopKeyPair = Effect.promise(async () => {
  const pair = await Jose.generateKeyPair("ES256", { extractable: true })
  const jwk = await Jose.exportJWK(pair.privateKey)
  return { pair, json: Redacted.make(JSON.stringify({ ...jwk, alg: "ES256" })) }
})

/** A proxy in front of `target` that answers the first `failures` token requests 503 and records every form. */
const flakyProxy = (target: string, failures: number) =>
  Effect.acquireRelease(
    Effect.async<{ readonly url: string; readonly forms: Array<URLSearchParams>; readonly server: Http.Server }>(
      (resume) => {
        const forms: Array<URLSearchParams> = []
        let failed = 0
        const server = Http.createServer((request, response) => {
          const chunks: Array<Buffer> = []
          request.on("data", (chunk: Buffer) => chunks.push(chunk))
          request.on("end", async () => {
            const body = Buffer.concat(chunks).toString("utf8")
            forms.push(new URLSearchParams(body))
            if (failed < failures) {
              failed++
              response.writeHead(503, { "content-type": "text/plain" }).end("busy")
              return
            }
            const answer = await fetch(target, {
              method: "POST",
              headers: { "content-type": request.headers["content-type"] ?? "", accept: "application/json" },
              body
            })
            response.writeHead(answer.status, { "content-type": "application/json" }).end(await answer.text())
          })
        })
        server.listen(0, "127.0.0.1", () => {
          resume(
            Effect.succeed({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`, forms, server })
          )
        })
      }
    ),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

describe("client authentication with a JWT, against oidc-provider", () => {
  it.live("private_key_jwt, ES256 from a PKCS#8 PEM: refresh and revocation; a wrong key is InvalidClient", () =>
    Effect.gen(function* () {
      const server = yield* startOidcServer()
      const provider = yield* discover(server)
      const login = yield* server.login("jwt-ec")
      const Refresher = refresherOf(provider, {
        clientId: "jwt-ec",
        clientAssertionKey: Redacted.make(server.keys.ecPrivatePem)
      })
      const refreshed = yield* TokenRefresher.refresh(Redacted.make(login.refresh_token)).pipe(
        Effect.provide(Refresher)
      )
      assert.notStrictEqual(Redacted.value(Option.getOrThrow(refreshed.refreshToken)), login.refresh_token)
      yield* TokenRefresher.revoke(Option.getOrThrow(refreshed.refreshToken), { hint: "refresh_token" }).pipe(
        Effect.provide(Refresher)
      )
      const revoked = yield* Effect.flip(
        TokenRefresher.refresh(Option.getOrThrow(refreshed.refreshToken)).pipe(Effect.provide(Refresher))
      )
      assert.strictEqual(revoked._tag, "InvalidGrant")

      const again = yield* server.login("jwt-ec")
      const wrong = yield* Effect.flip(
        TokenRefresher.refresh(Redacted.make(again.refresh_token)).pipe(
          Effect.provide(
            refresherOf(provider, {
              clientId: "jwt-ec",
              clientAssertionKey: Redacted.make(server.keys.wrongEcPrivatePem)
            })
          )
        )
      )
      assert.strictEqual(wrong._tag, "InvalidClient")
      assert.strictEqual((wrong as Errors.InvalidClient).status, 401)
      assert.notInclude(wrong.message, "PRIVATE KEY")
    }).pipe(Effect.scoped)
  )

  it.live("private_key_jwt, RS256 from a private JWK; client_secret_jwt (HS256)", () =>
    Effect.gen(function* () {
      const server = yield* startOidcServer()
      const provider = yield* discover(server)
      const rsa = yield* server.login("jwt-rsa")
      const byRsa = yield* TokenRefresher.refresh(Redacted.make(rsa.refresh_token)).pipe(
        Effect.provide(
          refresherOf(provider, { clientId: "jwt-rsa", clientAssertionKey: Redacted.make(server.keys.rsaPrivateJwk) })
        )
      )
      assert.isTrue(Option.isSome(byRsa.refreshToken))
      const secret = yield* server.login("jwt-secret")
      const bySecret = yield* TokenRefresher.refresh(Redacted.make(secret.refresh_token)).pipe(
        Effect.provide(
          refresherOf(provider, {
            clientId: "jwt-secret",
            clientSecret: Redacted.make(CLIENT_SECRET),
            authMethod: "client_secret_jwt"
          })
        )
      )
      assert.isTrue(Option.isSome(bySecret.refreshToken))
    }).pipe(Effect.scoped)
  )

  it.live("a fresh assertion for every attempt: a 503 from a proxy, then the retry's new jti is accepted", () =>
    Effect.gen(function* () {
      const server = yield* startOidcServer()
      const provider = yield* discover(server)
      const proxy = yield* flakyProxy(server.tokenUrl, 1)
      const login = yield* server.login("jwt-ec")
      yield* TokenRefresher.refresh(Redacted.make(login.refresh_token)).pipe(
        Effect.provide(
          NodeTokenRefresher.layer({
            provider,
            tokenUrl: proxy.url,
            clientId: "jwt-ec",
            clientAssertionKey: Redacted.make(server.keys.ecPrivatePem),
            retry: { baseDelay: "10 millis" }
          })
        )
      )
      assert.strictEqual(proxy.forms.length, 2)
      const claims = proxy.forms.map((form) => Jose.decodeJwt(form.get("client_assertion")!))
      assert.notStrictEqual(claims[0]!.jti, claims[1]!.jti)
      for (const [index, form] of proxy.forms.entries()) {
        assert.strictEqual(form.get("client_assertion_type"), "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        assert.strictEqual(form.get("client_id"), "jwt-ec")
        const claim = claims[index]!
        assert.deepStrictEqual([claim.iss, claim.sub, claim.aud], ["jwt-ec", "jwt-ec", server.issuer])
        assert.isAtMost(claim.exp! - claim.iat!, 60)
      }
    }).pipe(Effect.scoped)
  )

  it.live("a method the server does not list fails the layer with a ConfigError naming both", () =>
    Effect.gen(function* () {
      const server = yield* startOidcServer()
      const provider = yield* discover(server)
      const error = yield* Effect.flip(
        Layer.build(
          refresherOf(
            { ...provider, authMethodsSupported: ["client_secret_basic", "private_key_jwt"] },
            { clientId: "jwt-secret", clientSecret: Redacted.make(CLIENT_SECRET), authMethod: "client_secret_jwt" }
          )
        )
      )
      assert.include(String(error), "client_secret_jwt")
      assert.include(String(error), "client_secret_basic, private_key_jwt")
      assert.notInclude(String(error), CLIENT_SECRET)
    }).pipe(Effect.scoped)
  )
})

describe("DPoP, against oidc-provider with nonces required", () => {
  it.live(
    "a bound refresh token rotates twice through the nonce dance; another key is refused; BearerAuth sends a proof with ath",
    () =>
      Effect.gen(function* () {
        const server = yield* startOidcServer({ dpopNonces: true })
        const provider = yield* discover(server)
        const key = yield* dpopKeyPair
        const login = yield* server.login("public-dpop", { dpop: key.pair })
        assert.strictEqual(login.token_type, "DPoP")
        const Refresher = refresherOf(provider, { clientId: "public-dpop", dpop: true })
        const Manager = TokenManager.layer().pipe(
          Layer.provideMerge(TokenStore.layerMemory(Session.seeded(login.refresh_token, { dpopKey: key.json }))),
          Layer.provideMerge(Refresher)
        )
        yield* Effect.gen(function* () {
          const manager = yield* TokenManager.TokenManager
          const first = yield* manager.refreshNow
          const second = yield* manager.refreshNow
          for (const tokens of [first, second]) {
            assert.strictEqual(tokens.tokenType, "DPoP")
            assert.strictEqual(Redacted.value(Option.getOrThrow(tokens.dpopKey)), Redacted.value(key.json))
          }
          assert.notStrictEqual(
            Redacted.value(Option.getOrThrow(first.refreshToken)),
            Redacted.value(Option.getOrThrow(second.refreshToken))
          )
          // the resource server checks the proof, its ath and the key's thumbprint
          const response = yield* Effect.flatMap(BearerAuth.make(yield* HttpClient.HttpClient), (authed) =>
            authed.get(server.resourceUrl)
          )
          assert.strictEqual(response.status, 200)
          assert.deepStrictEqual(yield* response.json, { ok: true, sub: "alice" })

          // the same refresh token with another key is refused
          const other = yield* dpopKeyPair
          const refused = yield* Effect.flip(
            TokenRefresher.refresh(Option.getOrThrow(second.refreshToken), { dpopKey: other.json })
          )
          assert.strictEqual(refused._tag, "InvalidGrant")
        }).pipe(Effect.provide(Layer.merge(Manager, NodeTokenClient.layer())))
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "two processes on one file store share the session's key through the store: refreshes in turn, no reuse",
    () =>
      Effect.gen(function* () {
        const server = yield* startOidcServer({ dpopNonces: true })
        const key = yield* dpopKeyPair
        const login = yield* server.login("public-dpop", { dpop: key.pair })
        const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "dpop-"))
        const file = Path.join(dir, "tokens.json")
        yield* TokenStore.set(TokenStore.defaultKey, Session.seeded(login.refresh_token, { dpopKey: key.json })).pipe(
          Effect.provide(NodeTokenStore.layerFile(file))
        )
        const run = (count: number) =>
          Effect.flatMap(runScript(fixture("dpop-worker.ts"), [server.issuer, file, String(count)]), (child) =>
            Effect.map(child.result, (result) => {
              assert.strictEqual(result.code, 0, result.stderr)
              return result.stdout
                .trim()
                .split("\n")
                .map((line) => JSON.parse(line) as { tokenType?: string; keyX?: string; error?: string })
            })
          )
        const lines = [...(yield* run(2)), ...(yield* run(2)), ...(yield* run(1))]
        const x = (JSON.parse(Redacted.value(key.json)) as { x: string }).x
        assert.deepStrictEqual(
          lines,
          Array.from({ length: 5 }, () => ({ tokenType: "DPoP", keyX: x }))
        )
        // the key is in the file, with the tokens
        assert.include(Fs.readFileSync(file, "utf8"), x)
        Fs.rmSync(dir, { recursive: true, force: true })
      }).pipe(Effect.scoped),
    60_000
  )
})

describe("the device flow, against oidc-provider", () => {
  it.live(
    "the user approves the code on the provider's pages; the poll gets the tokens",
    () =>
      Effect.gen(function* () {
        const server = yield* startOidcServer()
        const provider = yield* discover(server)
        assert.deepStrictEqual(provider.deviceAuthorizationUrl, Option.some(server.deviceAuthorizationUrl))
        const tokens = yield* Effect.gen(function* () {
          const authorization = yield* TokenRefresher.deviceAuthorization({ scope: ["openid", "offline_access"] })
          assert.match(authorization.verificationUri, /^http:\/\/127\.0\.0\.1:\d+\/device$/)
          yield* Effect.fork(Effect.delay(server.approveDevice(authorization.userCode), "1 second"))
          return yield* TokenRefresher.pollDeviceToken(authorization)
        }).pipe(Effect.provide(refresherOf(provider, { clientId: "public-plain" })))
        assert.isTrue(Option.isSome(tokens.refreshToken))
        assert.strictEqual(tokens.tokenType, "Bearer")
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "a denied code is DeviceAuthorizationError Denied",
    () =>
      Effect.gen(function* () {
        const server = yield* startOidcServer()
        const provider = yield* discover(server)
        const error = yield* Effect.gen(function* () {
          const authorization = yield* TokenRefresher.deviceAuthorization()
          yield* server.approveDevice(authorization.userCode, { deny: true })
          return yield* Effect.flip(TokenRefresher.pollDeviceToken(authorization))
        }).pipe(Effect.provide(refresherOf(provider, { clientId: "public-plain" })))
        assert.strictEqual(error._tag, "DeviceAuthorizationError")
        assert.strictEqual((error as Errors.DeviceAuthorizationError).reason, "Denied")
      }).pipe(Effect.scoped),
    30_000
  )
})
