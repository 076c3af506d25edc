/**
 * PKCE (RFC 7636): the verifier a client keeps and the S256 challenge it sends with the authorization request.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Redacted from "effect/Redacted"

/**
 * A PKCE verifier and its S256 challenge (RFC 7636).
 *
 * @since 0.1.0
 * @category models
 */
export interface Pkce {
  /** Sent with the code exchange; keep it secret until then. */
  readonly verifier: Redacted.Redacted<string>
  /** `base64url(sha256(verifier))`, sent with the authorization request. */
  readonly challenge: string
  readonly method: "S256"
}

/**
 * `base64url(sha256(verifier))` (RFC 7636 §4.2).
 *
 * @since 0.1.0
 * @category constructors
 */
export const challengeOf = (verifier: string): Effect.Effect<string> =>
  Effect.map(
    Effect.promise(() => globalThis.crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))),
    (digest) => Encoding.encodeBase64Url(new Uint8Array(digest))
  )

/**
 * Random URL-safe text from the platform's cryptographic generator (`bytes` random bytes; 32 give 43 characters).
 *
 * @since 0.1.0
 * @category constructors
 */
export const randomString = (bytes = 32): Effect.Effect<string> =>
  Effect.sync(() => Encoding.encodeBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(bytes))))

/**
 * A new verifier (43 characters, the RFC's minimum entropy) and its S256 challenge.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Pkce> = Effect.gen(function* () {
  const verifier = yield* randomString(32)
  return { verifier: Redacted.make(verifier), challenge: yield* challengeOf(verifier), method: "S256" as const }
})
