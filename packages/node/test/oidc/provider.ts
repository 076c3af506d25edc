/**
 * A real authorization server for tests: panva's `oidc-provider` 9.13.3, in-process on 127.0.0.1 (port 0), closed
 * with the scope. Logins and device approvals are done programmatically through the provider's own pages
 * (`devInteractions`), following redirects by hand and carrying cookies.
 *
 * Facts read from the installed sources (lib/shared/jwt_client_auth.js, lib/helpers/oidc_context.js,
 * lib/helpers/validate_dpop.js, lib/actions/grants/*.js):
 *
 * - Client assertions (private_key_jwt, client_secret_jwt): `aud` may be the issuer, the token endpoint URL, or the
 *   URL of the endpoint being called (`clientJwtAuthExpectedAudience()` = {issuer, urlFor('token'), urlFor(route)});
 *   an array `aud` passes when any member is one of those. Only FAPI 2.0 narrows it to the issuer. `exp`, `jti`,
 *   `iss` (= client_id) and `sub` (= client_id, used to find the client) are required; a `jti` is accepted once
 *   (ReplayDetection), so a retried request needs a fresh assertion. A bad signature gives
 *   401 {"error":"invalid_client","error_description":"client authentication failed"}.
 * - DPoP nonces: `features.dPoP.nonceSecret` (a 32-byte Buffer) only turns nonces ON; they are REQUIRED only when
 *   `features.dPoP.requireNonce(ctx)` returns true (the default returns false, then a nonce is only demanded when
 *   the proof's `iat` is more than 300 s off). With `requireNonce` true, a proof without a nonce at the token
 *   endpoint gets 400 {"error":"use_dpop_nonce","error_description":"nonce is required in the DPoP proof"} and a
 *   `DPoP-Nonce` header (a stale nonce: "invalid nonce in DPoP proof"); no WWW-Authenticate there. Client
 *   authentication runs first (an assertion's jti is spent), then the grant validates the proof, before the code or
 *   refresh token is consumed, so the retry with the nonce needs a new assertion but the same code/refresh token.
 *   Successful responses carry a fresh `DPoP-Nonce` whenever the proof's nonce is not the current one. Nonces rotate
 *   every 60 s and are accepted for ±2 steps.
 * - Client metadata: `dpop_bound_access_tokens: true` (RFC 9449) makes the token endpoint require a proof (else
 *   400 invalid_grant). Discovery lists `dpop_signing_alg_values_supported` (default ES256, Ed25519, EdDSA).
 *   DPoP-bound tokens answer `token_type: "DPoP"`; for public clients the refresh token is bound to the key too
 *   (`jkt`), so refreshing needs a proof with the same key.
 * - Every invalid_grant answers the same body, 400 {"error":"invalid_grant","error_description":"grant request is
 *   invalid"}: the reason ("refresh token already used", "DPoP proof JWT not provided", ...) is never sent.
 * - Refresh token reuse after rotation: that invalid_grant, and the grant is revoked, so the newest refresh token
 *   and the access tokens die as well.
 * - The resource endpoint below shares the provider's nonces (same secret and label): one origin, one nonce.
 * - Device flow: polling before approval gives 400 authorization_pending; a denied code 400 access_denied
 *   ("End-User aborted interaction"); expired 400 expired_token. No `interval` is returned and `slow_down` is never
 *   enforced.
 */
import { Effect, type Scope } from "effect"
import * as Crypto from "node:crypto"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as Jose from "jose"

export interface TokenResponse {
  readonly access_token: string
  readonly refresh_token: string
  readonly token_type: string
  readonly expires_in: number
}

export interface OidcServer {
  /** e.g. http://127.0.0.1:PORT (no trailing slash); discovery at /.well-known/openid-configuration */
  readonly issuer: string
  readonly tokenUrl: string
  readonly revocationUrl: string
  readonly deviceAuthorizationUrl: string
  /** GET: 200 {"ok":true,"sub":...} for a valid access token (with a valid DPoP proof when the token is bound), else 401 */
  readonly resourceUrl: string
  /**
   * Runs a full authorization-code + PKCE login for `clientId` (scope "openid offline_access", prompt consent, so a
   * refresh token is issued), doing login and consent through the provider's pages, and returns the tokens of the
   * code exchange. `dpop` makes the code exchange DPoP-bound (a required nonce is fetched and retried once).
   */
  readonly login: (clientId: string, options?: { readonly dpop?: CryptoKeyPair }) => Effect.Effect<TokenResponse>
  /** Approves a device-flow user code through the provider's device pages (code, login, consent), or aborts it. */
  readonly approveDevice: (userCode: string, options?: { readonly deny?: boolean }) => Effect.Effect<void>
  /** The keys registered for the private_key_jwt clients, for the tests to sign with. */
  readonly keys: {
    readonly ecPrivatePem: string
    /** JSON of the private JWK */
    readonly rsaPrivateJwk: string
    /** an EC P-256 key that no client registered */
    readonly wrongEcPrivatePem: string
  }
}

export const REDIRECT_URI = "http://127.0.0.1/callback"
export const CLIENT_SECRET = "a-client-secret-of-at-least-32-characters-long!!"
/** The account every login and device approval signs in as (the `sub` of the tokens). */
export const ACCOUNT_ID = "alice"

// ---------------------------------------------------------------------------------------------------------------
// The few parts of oidc-provider (no type declarations are installed) and Koa this harness touches.

interface KoaContext {
  readonly path: string
  readonly method: string
  get(field: string): string
  set(field: string, value: string): void
  status: number
  body: unknown
  type: string
}

interface AccessTokenModel {
  readonly accountId?: string
  readonly clientId: string
  /** the JWK SHA-256 thumbprint of a DPoP-bound token (the `cnf.jkt` of RFC 9449) */
  readonly jkt?: string
}

interface ProviderInstance {
  callback(): Http.RequestListener
  use(middleware: (ctx: KoaContext, next: () => Promise<void>) => Promise<void>): unknown
  readonly AccessToken: { find(value: string): Promise<AccessTokenModel | undefined> }
}

type ProviderConstructor = new (issuer: string, configuration: Record<string, unknown>) => ProviderInstance

interface ServerChallenge {
  nextChallenge(): string
  checkChallenge(value: string): boolean
}

type ServerChallengeConstructor = new (secret: Buffer, info: string) => ServerChallenge

// A specifier typed `string` keeps TypeScript from looking for the declarations oidc-provider does not ship.
const importModule = (specifier: string): Promise<{ readonly default: unknown }> => import(specifier)

/** Runs `f` with oidc-provider's console notices ("oidc-provider WARNING/NOTICE: ...") dropped. */
const quietly = async <A>(f: () => A | Promise<A>): Promise<A> => {
  const { info, warn } = console
  const filter =
    (write: (...args: Array<unknown>) => void) =>
    (...args: Array<unknown>) => {
      if (typeof args[0] === "string" && args[0].includes("oidc-provider ")) return
      write(...args)
    }
  console.info = filter(info)
  console.warn = filter(warn)
  try {
    return await f()
  } finally {
    console.info = info
    console.warn = warn
  }
}

// ---------------------------------------------------------------------------------------------------------------
// A tiny cookie jar (name + path), enough for the provider's session and interaction cookies.

class CookieJar {
  private readonly cookies = new Map<string, { name: string; value: string; path: string }>()

  header(url: URL): string {
    return [...this.cookies.values()]
      .filter((c) => url.pathname === c.path || url.pathname.startsWith(c.path.endsWith("/") ? c.path : `${c.path}/`))
      .map((c) => `${c.name}=${c.value}`)
      .join("; ")
  }

  store(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = "", ...attributes] = line.split(";").map((part) => part.trim())
      const separator = pair.indexOf("=")
      const name = pair.slice(0, separator)
      const value = pair.slice(separator + 1)
      let path = "/"
      let expired = value === ""
      for (const attribute of attributes) {
        const [key = "", ...rest] = attribute.split("=")
        const attributeValue = rest.join("=")
        if (key.toLowerCase() === "path") path = attributeValue
        if (key.toLowerCase() === "expires" && Date.parse(attributeValue) <= Date.now()) expired = true
        if (key.toLowerCase() === "max-age" && Number(attributeValue) <= 0) expired = true
      }
      const key = `${name} ${path}`
      if (expired) this.cookies.delete(key)
      else this.cookies.set(key, { name, value, path })
    }
  }
}

interface Page {
  readonly url: URL
  readonly status: number
  readonly location: URL | undefined
  readonly html: string
}

/** One browser-like request: no automatic redirects, cookies from and into the jar. */
const browse = async (jar: CookieJar, url: URL, form?: Record<string, string>): Promise<Page> => {
  const headers: Record<string, string> = { accept: "text/html" }
  const cookie = jar.header(url)
  if (cookie) headers.cookie = cookie
  const response = await fetch(
    url,
    form === undefined
      ? { headers, redirect: "manual" }
      : {
          method: "POST",
          headers: { ...headers, "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams(form),
          redirect: "manual"
        }
  )
  jar.store(response)
  const location = response.headers.get("location")
  return {
    url,
    status: response.status,
    location: location === null ? undefined : new URL(location, url),
    html: await response.text()
  }
}

const formField = (html: string, name: string): string | undefined =>
  new RegExp(`name="${name}"\\s+value="([^"]*)"`).exec(html)?.[1]

/**
 * Follows the provider from `page` on like a user would: redirects are followed, login and consent pages
 * (`/interaction/:uid`) are submitted, until a redirect to the client's redirect_uri or a final page.
 */
const interact = async (jar: CookieJar, start: Page): Promise<Page> => {
  let page = start
  for (let step = 0; step < 20; step++) {
    if (page.location !== undefined) {
      if (page.location.href.startsWith(REDIRECT_URI)) return page
      page = await browse(jar, page.location)
      continue
    }
    if (page.status === 200 && page.url.pathname.startsWith("/interaction/")) {
      const prompt = formField(page.html, "prompt")
      const action = /<form[^>]*action="([^"]+)"/.exec(page.html)?.[1]
      if (action === undefined || (prompt !== "login" && prompt !== "consent")) {
        throw new Error(`unexpected interaction page ${page.url.href}: ${page.html}`)
      }
      page = await browse(
        jar,
        new URL(action, page.url),
        prompt === "login" ? { prompt, login: ACCOUNT_ID, password: "any" } : { prompt }
      )
      continue
    }
    return page
  }
  throw new Error("too many steps in the interaction")
}

// ---------------------------------------------------------------------------------------------------------------

const dpopProof = async (key: CryptoKeyPair, htm: string, htu: string, nonce: string | undefined) =>
  new Jose.SignJWT({ htm, htu, jti: Crypto.randomUUID(), ...(nonce === undefined ? {} : { nonce }) })
    .setProtectedHeader({ alg: "ES256", typ: "dpop+jwt", jwk: await Jose.exportJWK(key.publicKey) })
    .setIssuedAt()
    .sign(key.privateKey)

/** Answers 401 with a WWW-Authenticate challenge (RFC 6750 §3 / RFC 9449 §7.1). */
const deny = (ctx: KoaContext, scheme: "Bearer" | "DPoP", error: string, description: string) => {
  ctx.status = 401
  ctx.set(
    "WWW-Authenticate",
    `${scheme} error="${error}", error_description="${description}"${scheme === "DPoP" ? ', algs="ES256 EdDSA"' : ""}`
  )
  ctx.body = { error, error_description: description }
}

export const startOidcServer = (
  options: { readonly dpopNonces?: boolean; readonly accessTokenTtl?: number } = {}
): Effect.Effect<OidcServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const [{ default: Provider }, { default: Challenge }] = await quietly(() =>
        Promise.all([importModule("oidc-provider"), importModule("oidc-provider/lib/helpers/challenge.js")])
      )

      // keys: the provider's own signing key, and those the private_key_jwt clients register
      const signing = await Jose.generateKeyPair("RS256", { extractable: true })
      const ec = await Jose.generateKeyPair("ES256", { extractable: true })
      const rsa = await Jose.generateKeyPair("RS256", { extractable: true })
      const wrongEc = await Jose.generateKeyPair("ES256", { extractable: true })
      const keys = {
        ecPrivatePem: await Jose.exportPKCS8(ec.privateKey),
        rsaPrivateJwk: JSON.stringify(await Jose.exportJWK(rsa.privateKey)),
        wrongEcPrivatePem: await Jose.exportPKCS8(wrongEc.privateKey)
      }

      // the issuer needs the port, so listen first and attach the provider afterwards
      const server = Http.createServer()
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
      const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      const tokenUrl = `${issuer}/token`
      const resourceUrl = `${issuer}/resource`

      const nonceSecret = options.dpopNonces ? Crypto.randomBytes(32) : undefined
      const grantTypes = ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"]
      const client = (clientId: string, metadata: Record<string, unknown>) => ({
        client_id: clientId,
        grant_types: grantTypes,
        redirect_uris: [REDIRECT_URI],
        response_types: ["code"],
        ...metadata
      })
      const page = (ctx: { body: unknown }, title: string, content: string) => {
        ctx.body = `<!DOCTYPE html><html><head><title>${title}</title></head><body><h1>${title}</h1>${content}</body></html>`
      }

      const configuration: Record<string, unknown> = {
        clients: [
          client("public-dpop", { token_endpoint_auth_method: "none", dpop_bound_access_tokens: true }),
          client("public-plain", { token_endpoint_auth_method: "none" }),
          client("jwt-ec", {
            token_endpoint_auth_method: "private_key_jwt",
            jwks: { keys: [await Jose.exportJWK(ec.publicKey)] }
          }),
          client("jwt-rsa", {
            token_endpoint_auth_method: "private_key_jwt",
            jwks: { keys: [await Jose.exportJWK(rsa.publicKey)] }
          }),
          client("jwt-secret", { token_endpoint_auth_method: "client_secret_jwt", client_secret: CLIENT_SECRET })
        ],
        clientAuthMethods: [
          "none",
          "private_key_jwt",
          "client_secret_jwt",
          "client_secret_basic",
          "client_secret_post"
        ],
        jwks: { keys: [{ ...(await Jose.exportJWK(signing.privateKey)), kid: "signing", use: "sig", alg: "RS256" }] },
        cookies: { keys: [Crypto.randomBytes(32).toString("base64url")] },
        features: {
          devInteractions: { enabled: true },
          revocation: {
            enabled: true,
            allowedPolicy: (_ctx: unknown, caller: { clientId: string }, token: { clientId: string }) =>
              token.clientId === caller.clientId
          },
          clientCredentials: { enabled: true },
          dPoP: { enabled: true, nonceSecret, requireNonce: () => nonceSecret !== undefined },
          deviceFlow: {
            enabled: true,
            userCodeInputSource: (ctx: { body: unknown }, form: string, out?: { error?: string }) =>
              page(ctx, "Sign-in", `${out?.error ? `<p class="error">${out.error}</p>` : ""}${form}`),
            userCodeConfirmSource: (ctx: { body: unknown }, form: string) => page(ctx, "Confirm Device", form),
            successSource: (ctx: { body: unknown }) => page(ctx, "Sign-in Success", "")
          }
        },
        // opaque access tokens; a refresh token for every client allowed the grant, rotated on each use
        issueRefreshToken: (_ctx: unknown, c: { grantTypeAllowed(grant: string): boolean }) =>
          c.grantTypeAllowed("refresh_token"),
        rotateRefreshToken: true,
        findAccount: (_ctx: unknown, sub: string) => ({ accountId: sub, claims: () => ({ sub }) }),
        clientBasedCORS: () => true,
        renderError: (ctx: KoaContext, out: Record<string, string>) => {
          ctx.type = "html"
          page(ctx, "Error", `<pre>${JSON.stringify(out).replace(/</g, "&lt;")}</pre>`)
        },
        ttl: {
          AccessToken: options.accessTokenTtl ?? 3600,
          AuthorizationCode: 60,
          ClientCredentials: 600,
          DeviceCode: 600,
          Grant: 14 * 24 * 3600,
          IdToken: 3600,
          Interaction: 3600,
          RefreshToken: 14 * 24 * 3600,
          Session: 14 * 24 * 3600
        }
      }

      const provider = await quietly(() => new (Provider as ProviderConstructor)(issuer, configuration)).catch(
        (error: unknown) => {
          server.close()
          throw error
        }
      )
      // same secret and label as the provider's own DPoP nonces, so the token and resource endpoints (one origin)
      // accept each other's nonces
      const nonces = nonceSecret && new (Challenge as ServerChallengeConstructor)(nonceSecret, "DPoP")
      const seenJtis = new Set<string>()

      // GET /resource: a protected resource (RFC 6750 / RFC 9449 §7) in front of the provider's routes
      provider.use(async (ctx, next) => {
        if (ctx.path !== "/resource") return next()
        if (ctx.method !== "GET") {
          ctx.status = 405
          return
        }
        const [scheme = "", value = "", ...rest] = ctx.get("authorization").split(" ")
        const bearer = scheme.toLowerCase() === "bearer"
        const dpop = scheme.toLowerCase() === "dpop"
        if ((!bearer && !dpop) || !value || rest.length > 0) {
          ctx.status = 401
          ctx.set("WWW-Authenticate", 'Bearer realm="resource", DPoP algs="ES256 EdDSA"')
          return
        }
        const token = await provider.AccessToken.find(value)
        if (token === undefined) return deny(ctx, dpop ? "DPoP" : "Bearer", "invalid_token", "invalid access token")
        if (token.jkt === undefined) {
          if (dpop) return deny(ctx, "DPoP", "invalid_token", "the access token is not DPoP-bound")
        } else {
          if (!dpop) return deny(ctx, "DPoP", "invalid_token", "a DPoP-bound access token needs the DPoP scheme")
          const proof = ctx.get("dpop")
          if (!proof) return deny(ctx, "DPoP", "invalid_dpop_proof", "DPoP proof missing")
          let payload: Jose.JWTPayload
          let jwk: Jose.JWK
          try {
            const verified = await Jose.jwtVerify(proof, Jose.EmbeddedJWK, {
              typ: "dpop+jwt",
              algorithms: ["ES256", "EdDSA", "Ed25519"]
            })
            payload = verified.payload
            jwk = verified.protectedHeader.jwk!
          } catch (error) {
            return deny(ctx, "DPoP", "invalid_dpop_proof", `invalid DPoP proof (${String(error)})`)
          }
          const htu = URL.parse(String(payload.htu))
          if (htu !== null) htu.search = htu.hash = ""
          const ath = Crypto.createHash("sha256").update(value).digest("base64url")
          const problem =
            typeof payload.jti !== "string" || seenJtis.has(payload.jti)
              ? "jti missing or replayed"
              : payload.htm !== "GET"
                ? "htm mismatch"
                : htu?.href !== resourceUrl
                  ? "htu mismatch"
                  : payload.ath !== ath
                    ? "ath mismatch"
                    : (await Jose.calculateJwkThumbprint(jwk)) !== token.jkt
                      ? "jkt mismatch"
                      : nonces === undefined && Math.abs(Date.now() / 1000 - (payload.iat ?? 0)) > 300
                        ? "iat not recent enough"
                        : undefined
          if (problem !== undefined) return deny(ctx, "DPoP", "invalid_dpop_proof", `DPoP proof ${problem}`)
          if (nonces !== undefined) {
            if (typeof payload.nonce !== "string" || !nonces.checkChallenge(payload.nonce)) {
              ctx.set("DPoP-Nonce", nonces.nextChallenge())
              return deny(ctx, "DPoP", "use_dpop_nonce", "Resource server requires nonce in DPoP proof")
            }
            if (payload.nonce !== nonces.nextChallenge()) ctx.set("DPoP-Nonce", nonces.nextChallenge())
          }
          seenJtis.add(payload.jti as string)
        }
        ctx.status = 200
        ctx.body = { ok: true, sub: token.accountId }
      })

      server.on("request", provider.callback())

      const close = () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections()
          server.close(() => resolve())
        })

      // ---- client side helpers of login/approveDevice ----

      const clientAuthentication = async (clientId: string): Promise<Record<string, string>> => {
        const sign = async (alg: string, key: CryptoKey | Uint8Array) => ({
          client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
          client_assertion: await new Jose.SignJWT({ jti: Crypto.randomUUID() })
            .setProtectedHeader({ alg })
            .setIssuer(clientId)
            .setSubject(clientId)
            .setAudience(issuer)
            .setIssuedAt()
            .setExpirationTime("60s")
            .sign(key)
        })
        switch (clientId) {
          case "jwt-ec":
            return sign("ES256", ec.privateKey)
          case "jwt-rsa":
            return sign("RS256", rsa.privateKey)
          case "jwt-secret":
            return sign("HS256", new TextEncoder().encode(CLIENT_SECRET))
          default:
            return { client_id: clientId }
        }
      }

      const exchangeCode = async (
        clientId: string,
        code: string,
        codeVerifier: string,
        dpop: CryptoKeyPair | undefined
      ): Promise<TokenResponse> => {
        let nonce: string | undefined
        for (let attempt = 0; ; attempt++) {
          const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" }
          if (dpop !== undefined) headers.dpop = await dpopProof(dpop, "POST", tokenUrl, nonce)
          const response = await fetch(tokenUrl, {
            method: "POST",
            headers,
            body: new URLSearchParams({
              grant_type: "authorization_code",
              code,
              redirect_uri: REDIRECT_URI,
              code_verifier: codeVerifier,
              ...(await clientAuthentication(clientId))
            })
          })
          const body = (await response.json()) as TokenResponse & { error?: string }
          if (dpop !== undefined && attempt === 0 && body.error === "use_dpop_nonce") {
            nonce = response.headers.get("dpop-nonce") ?? undefined
            continue
          }
          if (response.status !== 200)
            throw new Error(`code exchange failed: ${response.status} ${JSON.stringify(body)}`)
          return body
        }
      }

      const login = async (clientId: string, dpop: CryptoKeyPair | undefined): Promise<TokenResponse> => {
        const jar = new CookieJar()
        const codeVerifier = Crypto.randomBytes(32).toString("base64url")
        const state = Crypto.randomBytes(16).toString("base64url")
        const authorize = new URL(`${issuer}/auth`)
        authorize.search = new URLSearchParams({
          client_id: clientId,
          response_type: "code",
          redirect_uri: REDIRECT_URI,
          scope: "openid offline_access",
          prompt: "consent",
          state,
          code_challenge: Crypto.createHash("sha256").update(codeVerifier).digest("base64url"),
          code_challenge_method: "S256"
        }).toString()
        const callback = (await interact(jar, await browse(jar, authorize))).location
        const code = callback?.searchParams.get("code")
        if (!callback?.href.startsWith(REDIRECT_URI) || !code || callback.searchParams.get("state") !== state) {
          throw new Error(`login for ${clientId} did not return a code: ${callback?.href}`)
        }
        return exchangeCode(clientId, code, codeVerifier, dpop)
      }

      const approveDevice = async (userCode: string, deny: boolean): Promise<void> => {
        const jar = new CookieJar()
        const verification = new URL(`${issuer}/device`)
        const input = await browse(jar, verification)
        const xsrf = formField(input.html, "xsrf")
        if (xsrf === undefined) throw new Error(`no device input form: ${input.html}`)
        const confirm = await browse(jar, verification, { xsrf, user_code: userCode })
        if (formField(confirm.html, "confirm") !== "yes") throw new Error(`no device confirm form: ${confirm.html}`)
        const decided = await browse(jar, verification, {
          xsrf: formField(confirm.html, "xsrf") ?? xsrf,
          user_code: userCode,
          ...(deny ? { abort: "yes" } : { confirm: "yes" })
        })
        if (deny) {
          if (!decided.html.includes("the interaction was aborted"))
            throw new Error(`device code not aborted: ${decided.html}`)
          return
        }
        const done = await interact(jar, decided)
        if (done.status !== 200 || !done.html.includes("Sign-in Success")) {
          throw new Error(`device approval failed: ${done.status} ${done.html}`)
        }
      }

      const api: OidcServer = {
        issuer,
        tokenUrl,
        revocationUrl: `${issuer}/token/revocation`,
        deviceAuthorizationUrl: `${issuer}/device/auth`,
        resourceUrl,
        login: (clientId, loginOptions) => Effect.promise(() => login(clientId, loginOptions?.dpop)),
        approveDevice: (userCode, approveOptions) =>
          Effect.promise(() => approveDevice(userCode, approveOptions?.deny === true)),
        keys
      }
      return { api, close }
    }),
    ({ close }) => Effect.promise(close)
  ).pipe(Effect.map(({ api }) => api))
