/**
 * JWT client authentication (RFC 7523 §2.2) and DPoP proofs (RFC 9449), on `jose`. Keys are imported once; every
 * assertion and every proof is new (its own `jti`, its `iat` from the Effect `Clock`).
 */
import * as Clock from "effect/Clock"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Jose from "jose"
import * as Pkce from "../Pkce.js"
import type { TokenSet } from "../TokenSet.js"
import { parseUrl } from "./url.js"

/** What `private_key_jwt` accepts for `clientAssertionAlg`. */
export type AssertionAlg = "ES256" | "RS256" | "PS256" | "EdDSA"

/** The key that signs client assertions, imported. */
export interface AssertionKey {
  readonly alg: AssertionAlg | "HS256"
  readonly key: CryptoKey | Uint8Array
  readonly kid: string | undefined
}

const keyError = (detail: string) => ConfigError.InvalidData(["clientAssertionKey"], detail)

/** The algorithm a private JWK's type calls for. */
const algOfJwk = (jwk: Jose.JWK): AssertionAlg | undefined =>
  jwk.kty === "EC" ? "ES256" : jwk.kty === "RSA" ? "RS256" : jwk.kty === "OKP" ? "EdDSA" : undefined

/**
 * Imports `private_key_jwt`'s key: a PKCS#8 PEM or a private JWK as JSON. Without `alg`, the key's type picks it
 * (`ES256` for EC, `RS256` for RSA, `EdDSA` for Ed25519). The errors never quote the key.
 */
export const importAssertionKey = (
  input: Redacted.Redacted<string>,
  alg: AssertionAlg | undefined,
  kid: string | undefined
): Effect.Effect<AssertionKey, ConfigError.ConfigError> =>
  Effect.suspend(() => {
    const text = Redacted.value(input).trim()
    if (text.startsWith("{")) {
      let jwk: Jose.JWK
      try {
        jwk = JSON.parse(text) as Jose.JWK
      } catch {
        return Effect.fail(keyError("clientAssertionKey is neither a PKCS#8 PEM nor a JWK (its JSON does not parse)"))
      }
      if (typeof jwk !== "object" || jwk === null || typeof jwk.d !== "string") {
        return Effect.fail(keyError("clientAssertionKey must be a private key: the JWK has no private part (d)"))
      }
      const chosen = alg ?? algOfJwk(jwk)
      if (chosen === undefined) return Effect.fail(keyError(`clientAssertionKey has an unsupported key type`))
      return Effect.map(
        Effect.tryPromise({
          try: () => Jose.importJWK(jwk, chosen),
          catch: () => keyError(`clientAssertionKey is not a ${chosen} private key`)
        }),
        (key): AssertionKey => ({ alg: chosen, key: key as CryptoKey, kid: kid ?? jwk.kid })
      )
    }
    if (!text.includes("-----BEGIN PRIVATE KEY-----")) {
      return Effect.fail(keyError("clientAssertionKey is neither a PKCS#8 PEM (BEGIN PRIVATE KEY) nor a JWK"))
    }
    const candidates: ReadonlyArray<AssertionAlg> = alg === undefined ? ["ES256", "RS256", "EdDSA"] : [alg]
    return Effect.firstSuccessOf(
      candidates.map((candidate) =>
        Effect.map(
          Effect.tryPromise(() => Jose.importPKCS8(text, candidate)),
          (key): AssertionKey => ({ alg: candidate, key, kid })
        )
      )
    ).pipe(
      Effect.mapError(() =>
        keyError(
          alg === undefined
            ? "clientAssertionKey is not an EC P-256, RSA or Ed25519 private key"
            : `clientAssertionKey is not a ${alg} private key`
        )
      )
    )
  })

/** `client_secret_jwt`'s key: the client secret, for HS256. */
export const secretKey = (secret: Redacted.Redacted<string>): AssertionKey => ({
  alg: "HS256",
  key: new TextEncoder().encode(Redacted.value(secret)),
  kid: undefined
})

/** The lifetime of an assertion: short, as RFC 7523 §3 asks (the contract: at most 60 s). */
const assertionLifetimeSeconds = 60

/**
 * The form fields of one client assertion (RFC 7523 §2.2): `iss` and `sub` the client id, `aud` the issuer (or the
 * token endpoint), a new `jti`, `iat` now and `exp` 60 s later.
 */
export const assertionFields = (
  key: AssertionKey,
  clientId: string,
  audience: string
): Effect.Effect<ReadonlyArray<readonly [string, string]>> =>
  Effect.flatMap(Effect.zip(Clock.currentTimeMillis, Pkce.randomString(16)), ([now, jti]) => {
    const iat = Math.floor(now / 1000)
    return Effect.map(
      Effect.promise(() =>
        new Jose.SignJWT({})
          .setProtectedHeader({ alg: key.alg, typ: "JWT", ...(key.kid === undefined ? {} : { kid: key.kid }) })
          .setIssuer(clientId)
          .setSubject(clientId)
          .setAudience(audience)
          .setJti(jti)
          .setIssuedAt(iat)
          .setExpirationTime(iat + assertionLifetimeSeconds)
          .sign(key.key)
      ),
      (assertion) => [
        ["client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"],
        ["client_assertion", assertion]
      ]
    )
  })

/** A DPoP key pair's algorithm. */
export type DpopAlg = "ES256" | "EdDSA"

/** A new DPoP key pair, as its private JWK's JSON (with `alg`). */
export const generateDpopKey = (alg: DpopAlg): Effect.Effect<Redacted.Redacted<string>> =>
  Effect.promise(async () => {
    const { privateKey } = await Jose.generateKeyPair(alg, { extractable: true })
    const jwk = await Jose.exportJWK(privateKey)
    return Redacted.make(JSON.stringify({ ...jwk, alg }))
  })

interface ImportedDpopKey {
  readonly alg: DpopAlg
  readonly privateKey: CryptoKey
  readonly publicJwk: Jose.JWK
}

/** Imported keys, by the `Redacted` that holds them: a session's key is imported once while its tokens live. */
const imported = new WeakMap<Redacted.Redacted<string>, Promise<ImportedDpopKey>>()

const importDpopKey = (key: Redacted.Redacted<string>): Promise<ImportedDpopKey> => {
  const known = imported.get(key)
  if (known !== undefined) return known
  const loading = (async () => {
    const jwk = JSON.parse(Redacted.value(key)) as Jose.JWK
    const alg: DpopAlg = jwk.alg === "EdDSA" || jwk.kty === "OKP" ? "EdDSA" : "ES256"
    const privateKey = (await Jose.importJWK(jwk, alg)) as CryptoKey
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, key_ops: _ops, ext: _ext, ...publicJwk } = jwk
    return { alg, privateKey, publicJwk }
  })()
  imported.set(key, loading)
  return loading
}

/** `htu`: the request's URL without query and fragment (RFC 9449 §4.2). */
export const htuOf = (url: string): string => {
  const parsed = parseUrl(url)
  return parsed === undefined ? url.replace(/[?#].*$/, "") : `${parsed.origin}${parsed.pathname}`
}

/**
 * A DPoP proof for one request: `htm`, `htu`, a new `jti`, `iat` now, the server's `nonce` when one is known, and
 * `ath` with an access token (a resource request).
 */
export const dpopProof = (
  key: Redacted.Redacted<string>,
  request: {
    readonly method: string
    readonly url: string
    readonly nonce?: string | undefined
    readonly accessToken?: Redacted.Redacted<string> | undefined
  }
): Effect.Effect<string> =>
  Effect.flatMap(
    Effect.all([
      Clock.currentTimeMillis,
      Pkce.randomString(16),
      // `ath` is base64url(SHA-256(access token)) (RFC 9449 §4.2): a PKCE challenge's very computation
      request.accessToken === undefined
        ? Effect.succeed(undefined)
        : Pkce.challengeOf(Redacted.value(request.accessToken))
    ]),
    ([now, jti, ath]) =>
      Effect.promise(async () => {
        const { alg, privateKey, publicJwk } = await importDpopKey(key)
        return new Jose.SignJWT({
          htm: request.method.toUpperCase(),
          htu: htuOf(request.url),
          ...(request.nonce === undefined ? {} : { nonce: request.nonce }),
          ...(ath === undefined ? {} : { ath })
        })
          .setProtectedHeader({ typ: "dpop+jwt", alg, jwk: publicJwk })
          .setJti(jti)
          .setIssuedAt(Math.floor(now / 1000))
          .sign(privateKey)
      })
  )

/**
 * The DPoP key of every DPoP access token a manager serves, by its `Redacted`: `BearerAuth` finds there how to send
 * the token it was given (`Authorization: DPoP` with a proof). Entries go with their tokens.
 */
export const dpopBindings = new WeakMap<Redacted.Redacted<string>, Redacted.Redacted<string>>()

/** Records the binding of `tokens` when they are DPoP tokens with a key. */
export const bind = (tokens: TokenSet): void => {
  if (Option.isSome(tokens.dpopKey) && tokens.tokenType.toLowerCase() === "dpop") {
    dpopBindings.set(tokens.accessToken, tokens.dpopKey.value)
  }
}

/** The most origins whose last `DPoP-Nonce` is remembered: the oldest is forgotten first. */
const maxNonceOrigins = 256

/** The last `DPoP-Nonce` of every origin, bounded. Shared by the refresher and `BearerAuth` of a process. */
export const nonces = {
  entries: new Map<string, string>(),
  get(url: string): string | undefined {
    const origin = parseUrl(url)?.origin
    return origin === undefined ? undefined : this.entries.get(origin)
  },
  set(url: string, nonce: string | undefined): void {
    // a nonce is short; anything else is not remembered
    if (nonce === undefined || nonce === "" || nonce.length > 1024) return
    const origin = parseUrl(url)?.origin
    if (origin === undefined) return
    this.entries.delete(origin)
    this.entries.set(origin, nonce)
    if (this.entries.size > maxNonceOrigins) this.entries.delete(this.entries.keys().next().value!)
  }
}
