import * as Schema from "effect/Schema"

/** Whether `text` is the JSON of a private JWK of a DPoP key (EC or OKP, with its private part). */
export const isPrivateJwk = (text: string): boolean => {
  try {
    const jwk = JSON.parse(text) as Record<string, unknown>
    return (
      typeof jwk === "object" &&
      jwk !== null &&
      (jwk.kty === "EC" || jwk.kty === "OKP") &&
      typeof jwk.d === "string" &&
      typeof jwk.x === "string"
    )
  } catch {
    return false
  }
}

/** A DPoP key as stored: the private JWK's JSON, redacted; anything else does not decode. */
export const DpopKey = Schema.Redacted(
  Schema.String.pipe(Schema.filter(isPrivateJwk, { message: () => "a DPoP key must be a private EC or OKP JWK" }))
)
