/**
 * What a `TokenStore` keeps under a key: a session in one of three states. A refresh token that was never used
 * (`Seeded`), a working session (`Active`), or a session that the provider refused (`Rejected`).
 *
 * @since 0.4.0
 */
import * as DateTime from "effect/DateTime"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { InvalidGrant } from "./Errors.js"
import { DpopKey } from "./internal/jwk.js"
import { TokenSet } from "./TokenSet.js"

const RedactedToken = Schema.Redacted(Schema.String)

/**
 * A bare refresh token that has never been used: the `SPOTIFY_REFRESH_TOKEN` seed, or an import. Its first use
 * refreshes.
 *
 * @since 0.4.0
 * @category models
 */
export class Seeded extends Schema.TaggedClass<Seeded>("@token-refresher/core/Session/Seeded")("Seeded", {
  refreshToken: RedactedToken,
  /** When the token was put in the store. */
  seededAt: Schema.DateTimeUtc,
  /** The DPoP key the refresh token is bound to, for an imported DPoP-bound token. Since 0.6.0. */
  dpopKey: Schema.optionalWith(DpopKey, { as: "Option", exact: true }).pipe(
    Schema.withConstructorDefault(() => Option.none<Redacted.Redacted<string>>())
  )
}) {}

/**
 * A working session: the tokens of the last grant or refresh.
 *
 * @since 0.4.0
 * @category models
 */
export class Active extends Schema.TaggedClass<Active>("@token-refresher/core/Session/Active")("Active", {
  tokens: TokenSet,
  /**
   * The end of the refresh token (`tokens.refreshTokenExpiresAt`) that `SessionKeeper` has reported
   * (`RefreshTokenEnding`), so that no other replica and no later sweep reports it again. Kept across refreshes
   * while the end stays the same. Since 0.5.0.
   */
  endingReported: Schema.optionalWith(Schema.DateTimeUtc, { as: "Option", exact: true }).pipe(
    Schema.withConstructorDefault(() => Option.none<DateTime.Utc>())
  )
}) {}

/**
 * The provider refused the session's refresh token (`invalid_grant`). Every manager of every process that reads it
 * fails at once with `error` and sends nothing, until a new login replaces the session.
 *
 * @since 0.4.0
 * @category models
 */
export class Rejected extends Schema.TaggedClass<Rejected>("@token-refresher/core/Session/Rejected")("Rejected", {
  /** The refused refresh token, kept so that a process can tell it from a newer one. */
  refreshToken: Schema.optionalWith(RedactedToken, { as: "Option", exact: true }).pipe(
    Schema.withConstructorDefault(() => Option.none<Redacted.Redacted<string>>())
  ),
  /** When the provider refused it. */
  rejectedAt: Schema.DateTimeUtc,
  /** The provider's answer, as the process that got it saw it. */
  error: InvalidGrant
}) {}

/**
 * A stored session.
 *
 * @since 0.4.0
 * @category models
 */
export type Session = Seeded | Active | Rejected

/**
 * The schema of a stored session: a union tagged by `_tag`.
 *
 * @since 0.4.0
 * @category schemas
 */
export const Session: Schema.Union<[typeof Seeded, typeof Active, typeof Rejected]> = Schema.Union(
  Seeded,
  Active,
  Rejected
)

/**
 * A `Session` as JSON text: the form every store keeps (under encryption, when it is on).
 *
 * @since 0.4.0
 * @category schemas
 */
export const SessionFromJson: Schema.Schema<Session, string> = Schema.parseJson(Session)

/**
 * What {@link seeded} takes besides the token: when it was seeded, and the DPoP key of a DPoP-bound refresh token.
 *
 * @since 0.6.0
 * @category models
 */
export interface SeededOptions {
  /** Default: now. */
  readonly seededAt?: DateTime.DateTime.Input | undefined
  /** The private JWK (as JSON) the refresh token is bound to: its refreshes are made with this key. */
  readonly dpopKey?: Redacted.Redacted<string> | undefined
}

/**
 * A session seeded from a bare refresh token (a string or a `Redacted`): `seeded(token)`, `seeded(token, seededAt)`,
 * or `seeded(token, { seededAt, dpopKey })` for a DPoP-bound refresh token imported with its key.
 *
 * @since 0.4.0
 * @category constructors
 */
export const seeded = (
  refreshToken: Redacted.Redacted<string> | string,
  options?: DateTime.DateTime.Input | SeededOptions
): Seeded => {
  const isOptions =
    typeof options === "object" &&
    options !== null &&
    !(options instanceof Date) &&
    !DateTime.isDateTime(options) &&
    ("seededAt" in options || "dpopKey" in options)
  const seededOptions: SeededOptions = isOptions
    ? (options as SeededOptions)
    : { seededAt: options as DateTime.DateTime.Input | undefined }
  return new Seeded({
    refreshToken: typeof refreshToken === "string" ? Redacted.make(refreshToken) : refreshToken,
    seededAt:
      seededOptions.seededAt === undefined
        ? DateTime.unsafeNow()
        : DateTime.toUtc(DateTime.unsafeMake(seededOptions.seededAt)),
    dpopKey: Option.fromNullable(seededOptions.dpopKey)
  })
}

/**
 * A working session holding `tokens`.
 *
 * @since 0.4.0
 * @category constructors
 */
export const active = (tokens: TokenSet): Active => new Active({ tokens })

/**
 * Whether `u` is a `Session`.
 *
 * @since 0.4.0
 * @category guards
 */
export const isSession = (u: unknown): u is Session =>
  u instanceof Seeded || u instanceof Active || u instanceof Rejected

/**
 * The refresh token a session holds, if any.
 *
 * @since 0.4.0
 * @category getters
 */
export const refreshToken = (session: Session): Option.Option<Redacted.Redacted<string>> => {
  switch (session._tag) {
    case "Seeded":
      return Option.some(session.refreshToken)
    case "Active":
      return session.tokens.refreshToken
    case "Rejected":
      return session.refreshToken
  }
}

/**
 * The DPoP key a session's refresh token is bound to: the tokens' (`Active`), or the one imported with a seed
 * (`Seeded`); `None` without DPoP and for `Rejected`.
 *
 * @since 0.6.0
 * @category accessors
 */
export const dpopKey = (session: Session): Option.Option<Redacted.Redacted<string>> => {
  switch (session._tag) {
    case "Seeded":
      return session.dpopKey
    case "Active":
      return session.tokens.dpopKey
    case "Rejected":
      return Option.none()
  }
}

/**
 * The tokens of an `Active` session; `None` for the other states.
 *
 * @since 0.4.0
 * @category getters
 */
export const tokens = (session: Session): Option.Option<TokenSet> =>
  session._tag === "Active" ? Option.some(session.tokens) : Option.none()
