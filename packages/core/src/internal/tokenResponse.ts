import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

const field = <S extends Schema.Schema.Any>(schema: S, expected: string): S =>
  schema.annotations({ message: () => ({ message: `expected ${expected}`, override: true }) }) as S

/** The longest token accepted, in characters. */
export const maxTokenLength = 65_536

/** The token types this library can send: `Bearer` (RFC 6750), and `DPoP` (RFC 9449) for a refresher with DPoP on. */
const isTokenType = (type: string): boolean => {
  // the usual spellings first: lowercasing makes a string
  if (type === "Bearer" || type === "bearer" || type === "DPoP") return true
  const lower = type.toLowerCase()
  return lower === "bearer" || lower === "dpop"
}

/**
 * RFC 6750 `b64token` / RFC 6749 VSCHAR: visible ASCII only. A token with CR/LF, NUL or U+FFFD (invalid UTF-8) would be
 * printed by the CLI and pasted into an `Authorization` header: it is refused instead.
 */
const NonEmptyToken = field(
  Schema.String.pipe(Schema.minLength(1), Schema.maxLength(maxTokenLength), Schema.pattern(/^[\x21-\x7e]+$/)),
  `1 to ${maxTokenLength} visible ASCII characters`
)

/** Ten years: a longer lifetime is a server bug (or an attack on date arithmetic). */
const maxSeconds = 315_360_000

const ExpiresIn = field(
  Schema.Union(Schema.Number, Schema.NumberFromString).pipe(
    Schema.finite(),
    Schema.nonNegative(),
    Schema.lessThanOrEqualTo(maxSeconds)
  ),
  "a number of seconds from 0 to 315360000 (ten years)"
)

const TokenType = field(
  Schema.String.pipe(Schema.filter((type) => isTokenType(type))),
  '"Bearer" or "DPoP" (case-insensitive)'
)

const ExpiresAt = field(
  Schema.Union(Schema.Number, Schema.NumberFromString).pipe(Schema.finite(), Schema.nonNegative()),
  "epoch seconds"
)

/**
 * RFC 6749 §5.1, as sent by the server (after the provider's `normalize`), with two extensions: GitHub's
 * `refresh_token_expires_in` and Strava's absolute `expires_at`. A missing `expires_in` is checked by the caller, which
 * knows the provider's default.
 */
export const TokenResponse = Schema.Struct({
  access_token: NonEmptyToken,
  token_type: TokenType,
  expires_in: Schema.optional(ExpiresIn),
  expires_at: Schema.optional(ExpiresAt),
  refresh_token: Schema.optional(NonEmptyToken),
  refresh_token_expires_in: Schema.optional(ExpiresIn),
  scope: Schema.optional(field(Schema.String, "a space-separated string"))
}).annotations({ message: () => ({ message: "expected a JSON object", override: false }) })

export type TokenResponse = typeof TokenResponse.Type

/** RFC 6749 §5.2. */
export const ErrorResponse = Schema.Struct({
  error: Schema.String.pipe(Schema.minLength(1)),
  error_description: Schema.optional(Schema.String),
  error_uri: Schema.optional(Schema.String)
})

export type ErrorResponse = typeof ErrorResponse.Type

const decodeTokenResponse = Schema.decodeUnknownEither(TokenResponse, { errors: "all", onExcessProperty: "ignore" })

const visibleAscii = /^[\x21-\x7e]+$/

const isToken = (u: unknown): u is string =>
  typeof u === "string" && u.length > 0 && u.length <= maxTokenLength && visibleAscii.test(u)

const isSeconds = (u: unknown): u is number => typeof u === "number" && Number.isFinite(u) && u >= 0 && u <= maxSeconds

/**
 * Whether `json` is the common good answer, checked by hand: then its known fields are a `TokenResponse`'s, and its
 * other fields are to be ignored (the `TokenRefresher` reads the known ones from it as it is, without a copy).
 */
export const isCommonTokenResponse = (json: unknown): json is TokenResponse => {
  if (typeof json !== "object" || json === null) return false
  const r = json as Record<string, unknown>
  return (
    isToken(r.access_token) &&
    typeof r.token_type === "string" &&
    isTokenType(r.token_type) &&
    (r.expires_in === undefined || isSeconds(r.expires_in)) &&
    r.expires_at === undefined &&
    (r.refresh_token === undefined || isToken(r.refresh_token)) &&
    (r.refresh_token_expires_in === undefined || isSeconds(r.refresh_token_expires_in)) &&
    (r.scope === undefined || typeof r.scope === "string")
  )
}

/**
 * The common good answer, checked by hand (the Schema decode costs more than the rest of the parse): JSON numbers,
 * strings where the RFC has them. Anything else goes through the Schema, which says exactly what was wrong.
 */
export const fastTokenResponse = (json: unknown): TokenResponse | undefined => {
  if (!isCommonTokenResponse(json)) return undefined
  const r = json
  // the known fields only, as the Schema keeps them (set one by one: spreading costs an object per field)
  const response: { -readonly [K in keyof TokenResponse]: TokenResponse[K] } = {
    access_token: r.access_token,
    token_type: r.token_type
  }
  if (r.expires_in !== undefined) response.expires_in = r.expires_in
  if (r.refresh_token !== undefined) response.refresh_token = r.refresh_token
  if (r.refresh_token_expires_in !== undefined) response.refresh_token_expires_in = r.refresh_token_expires_in
  if (r.scope !== undefined) response.scope = r.scope
  return response
}

/**
 * Decodes a token response and describes what was wrong by path only: the formatter's own messages quote the
 * offending values, which may be tokens.
 */
export const parseTokenResponse = (json: unknown): Either.Either<TokenResponse, string> => {
  const fast = fastTokenResponse(json)
  return fast !== undefined ? Either.right(fast) : slowParse(json)
}

export const slowParse = (json: unknown): Either.Either<TokenResponse, string> =>
  Either.mapLeft(decodeTokenResponse(json), (error) => {
    // one issue per path: a union reports each of its members
    const byPath = new Map<string, string>()
    for (const issue of ParseResult.ArrayFormatter.formatErrorSync(error)) {
      const path = issue.path.length === 0 ? "body" : issue.path.map(String).join(".")
      if (!byPath.has(path)) {
        byPath.set(path, issue._tag === "Missing" ? `${path} is missing` : `${path}: ${safeMessage(issue.message)}`)
      }
    }
    return [...byPath.values()].join("; ")
  })

const safeMessage = (message: string): string => (message.startsWith("expected ") ? message : "invalid value")

export const parseErrorResponse = Schema.decodeUnknownOption(ErrorResponse)

const noScope: ReadonlyArray<string> = Object.freeze([])
let lastScope: string | undefined = undefined
let lastSplit: ReadonlyArray<string> = noScope

/**
 * The scopes of a space-separated `scope`. A token endpoint answers the same `scope` again and again: the last one is
 * split once, and its (frozen) array shared.
 */
export const splitScope = (scope: string | undefined): ReadonlyArray<string> => {
  if (scope === undefined) return noScope
  if (scope !== lastScope) {
    lastSplit = Object.freeze(scope.split(" ").filter((s) => s.length > 0))
    lastScope = scope
  }
  return lastSplit
}
