import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Session from "../Session.js"
import { TokenSet } from "../TokenSet.js"
import { TokenStoreError } from "../TokenStore.js"
import { type Cipher, isEnvelope, legacySealedType } from "./encryption.js"

const decodeSession = Schema.decodeUnknownEither(Session.Session)
const encodeSession = Schema.encodeSync(Session.SessionFromJson)

/** What 0.1 to 0.3 wrote: a `TokenSet` whose access token and `issuedAt` could be missing. */
const LegacyTokenSet = Schema.Struct({
  accessToken: Schema.optional(Schema.String),
  refreshToken: Schema.optional(Schema.String),
  tokenType: Schema.String,
  expiresAt: Schema.DateTimeUtc,
  scope: Schema.Array(Schema.String),
  issuedAt: Schema.optional(Schema.DateTimeUtc),
  authorizedAt: Schema.optional(Schema.DateTimeUtc),
  refreshTokenExpiresAt: Schema.optional(Schema.DateTimeUtc)
})
const decodeLegacy = Schema.decodeUnknownEither(LegacyTokenSet)

/**
 * The time given to tokens stored without `issuedAt` (before 0.2): the epoch, the earliest it can be, so the leeway
 * is never shortened (they refresh at `expiresAt - leeway`, as they did) and tokens written since always win.
 */
export const unknownIssuedAt: DateTime.Utc = DateTime.unsafeMake(0)

const fromLegacy = (legacy: typeof LegacyTokenSet.Type): Option.Option<Session.Session> => {
  if (legacy.accessToken === undefined || legacy.accessToken === "") {
    // a seeded refresh token of 0.1 to 0.3 (0.1 and 0.2 wrote an empty access token): not used yet
    return legacy.refreshToken === undefined
      ? Option.none()
      : Option.some(new Session.Seeded({ refreshToken: Redacted.make(legacy.refreshToken), seededAt: unknownIssuedAt }))
  }
  return Option.some(
    Session.active(
      new TokenSet({
        accessToken: Redacted.make(legacy.accessToken),
        refreshToken: Option.map(Option.fromNullable(legacy.refreshToken), Redacted.make),
        tokenType: legacy.tokenType,
        expiresAt: legacy.expiresAt,
        scope: legacy.scope,
        issuedAt: legacy.issuedAt ?? unknownIssuedAt,
        authorizedAt: Option.fromNullable(legacy.authorizedAt),
        refreshTokenExpiresAt: Option.fromNullable(legacy.refreshTokenExpiresAt)
      })
    )
  )
}

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** A decoded value, and whether it was kept in clear by a store that encrypts (so it is sealed at its next write). */
export interface Decoded {
  readonly session: Session.Session
  readonly inClear: boolean
}

/** Whether a stored value is sealed: by this version's envelope, or as a row of 0.3. */
export const isSealed = (text: string): boolean => {
  if (isEnvelope(text)) return true
  if (!text.includes(legacySealedType)) return false
  const json = parseJson(text)
  return typeof json === "object" && json !== null && (json as { tokenType?: unknown }).tokenType === legacySealedType
}

export const encode = (session: Session.Session): string => encodeSession(session)

/**
 * Reads what a store holds under `key`. Nothing here quotes a stored value in an error: they are tokens.
 */
export const decode = (
  location: string,
  key: string,
  text: string,
  cipher: Option.Option<Cipher>
): Effect.Effect<Decoded, TokenStoreError> => {
  const corrupt = (detail: string) =>
    new TokenStoreError({ reason: "Corrupt", location, detail: `session "${key}" ${detail}` })
  // made only when they happen: an error captures a stack, and most reads succeed
  const encrypted = () =>
    new TokenStoreError({
      reason: "Encrypted",
      location,
      detail: `session "${key}" is encrypted: provide TokenStore.encrypted with its key`
    })
  const undecryptable = () =>
    corrupt("cannot be decrypted: a wrong key, a tampered value, or a value moved from another session")
  const fromJson = (json: unknown, inClear: boolean): Effect.Effect<Decoded, TokenStoreError> => {
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      return Effect.fail(corrupt("is not a stored session (not a JSON object)"))
    }
    if ("_tag" in json) {
      return Either.match(decodeSession(json), {
        onLeft: () => Effect.fail(corrupt("is not a stored session (its fields do not match)")),
        onRight: (session) => Effect.succeed({ session, inClear })
      })
    }
    return Either.match(decodeLegacy(json), {
      onLeft: () => Effect.fail(corrupt("is not a stored session (its fields do not match)")),
      onRight: (legacy) => {
        if (legacy.tokenType === legacySealedType) {
          // a row sealed by 0.3: its payload sits in `refreshToken`
          if (Option.isNone(cipher)) return Effect.fail(encrypted())
          if (legacy.refreshToken === undefined) return Effect.fail(undecryptable())
          return Effect.flatMap(cipher.value.openPayload(key, legacy.refreshToken), (opened) =>
            Option.isNone(opened) ? Effect.fail(undecryptable()) : fromJson(parseJson(opened.value), false)
          )
        }
        return Option.match(fromLegacy(legacy), {
          onNone: () => Effect.fail(corrupt("is not a stored session (no access token and no refresh token)")),
          onSome: (session) => Effect.succeed({ session, inClear })
        })
      }
    })
  }
  if (isEnvelope(text)) {
    if (Option.isNone(cipher)) return Effect.fail(encrypted())
    return Effect.flatMap(cipher.value.open(key, text), (opened) =>
      Option.isNone(opened) ? Effect.fail(undecryptable()) : fromJson(parseJson(opened.value), false)
    )
  }
  const json = parseJson(text)
  if (json === undefined) return Effect.fail(corrupt("is not a stored session (not JSON)"))
  return fromJson(json, Option.isSome(cipher))
}
