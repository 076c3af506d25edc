/**
 * The tokens of one session as this library holds them: what a token endpoint granted, when, and until when.
 *
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

const RedactedToken = Schema.Redacted(Schema.String)

/** A field that is `Option` in memory and omitted from the encoded form when it is `None`. */
const optionalField = <S extends Schema.Schema.Any>(schema: S) =>
  Schema.optionalWith(schema, { as: "Option", exact: true }).pipe(
    Schema.withConstructorDefault(() => Option.none<Schema.Schema.Type<S>>())
  )

/**
 * The tokens held after a grant. The tokens are `Redacted`: they never print, log or serialise by accident. The
 * encoded form (`Schema.encode(TokenSet)`) is plain JSON, so a store can persist it; fields that are `None` are left
 * out of it.
 *
 * A set seeded from a bare refresh token (`fromRefreshToken`) has no access token yet (`accessToken` is `None`) and is
 * already expired, so its first use refreshes.
 *
 * @since 0.1.0
 * @category models
 */
export class TokenSet extends Schema.Class<TokenSet>("@token-refresher/core/TokenSet")({
  /** The access token to send as `Authorization: Bearer …`; `None` only for a set seeded from a refresh token. */
  accessToken: optionalField(RedactedToken),
  /**
   * The refresh token: the rotated one, or the one that was sent when the server returned none. `None` when the
   * grant gave none (client credentials, or a code exchange without offline access).
   */
  refreshToken: optionalField(RedactedToken),
  /** The token type as the server sent it (`Bearer`). */
  tokenType: Schema.String,
  /**
   * When the access token expires: the time the request was sent (by the Effect `Clock`) plus `expires_in`, so a slow
   * answer can only make it refresh early.
   */
  expiresAt: Schema.DateTimeUtc,
  /** The granted scopes, empty when the server did not say. */
  scope: Schema.Array(Schema.String),
  /**
   * When the tokens were asked for (by the Effect `Clock`): the start of their lifetime as the client can bound it.
   * Every process that reads them from a shared store computes the same refresh time from it (see `refreshAtMillis`).
   * Absent for a seeded refresh token and for files written before 0.2.
   */
  issuedAt: Schema.optional(Schema.DateTimeUtc),
  /**
   * When the user authorised the app (the code exchange, or the client-credentials grant), carried through every
   * refresh and rotation. `None` when unknown (a seeded refresh token, or tokens stored before 0.3).
   */
  authorizedAt: optionalField(Schema.DateTimeUtc),
  /**
   * When the refresh token stops working whatever the refreshes: from the server's `refresh_token_expires_in`, or
   * from the provider's documented policy (`Provider.refreshTokenLifetime`). `None` when no end is known.
   */
  refreshTokenExpiresAt: optionalField(Schema.DateTimeUtc)
}) {
  /**
   * When the access token should be refreshed, in epoch milliseconds: `expiresAt - leeway`, where the leeway is at
   * most half the token's lifetime when `issuedAt` is known, so a server that grants tokens shorter-lived than the
   * leeway does not cause a refresh on every call. Without an access token it is `-Infinity`: refresh now.
   *
   * @since 0.2.0
   */
  refreshAtMillis(leeway: Duration.DurationInput): number {
    if (Option.isNone(this.accessToken)) return Number.NEGATIVE_INFINITY
    const expiresAt = this.expiresAt.epochMillis
    const leewayMillis = Duration.toMillis(leeway)
    return this.issuedAt === undefined
      ? expiresAt - leewayMillis
      : expiresAt - Math.min(leewayMillis, Math.max(0, expiresAt - this.issuedAt.epochMillis) / 2)
  }

  /**
   * Whether the access token should be refreshed at `now`: it expires within `leeway` (default 0), or there is none.
   *
   * @since 0.1.0
   */
  isExpired(now: DateTime.DateTime, leeway: Duration.DurationInput = Duration.zero): boolean {
    return (
      Option.isNone(this.accessToken) ||
      DateTime.toEpochMillis(now) >= DateTime.toEpochMillis(this.expiresAt) - Duration.toMillis(leeway)
    )
  }

  /**
   * How long the access token stays valid after `now` (zero once it has expired, or when there is none).
   *
   * @since 0.1.0
   */
  expiresIn(now: DateTime.DateTime): Duration.Duration {
    return Option.isNone(this.accessToken)
      ? Duration.zero
      : Duration.millis(Math.max(0, DateTime.toEpochMillis(this.expiresAt) - DateTime.toEpochMillis(now)))
  }

  /**
   * How long the refresh token keeps working after `now` (zero once it has ended); `None` when no end is known.
   *
   * @since 0.3.0
   */
  refreshTokenExpiresIn(now: DateTime.DateTime): Option.Option<Duration.Duration> {
    return Option.map(this.refreshTokenExpiresAt, (end) =>
      Duration.millis(Math.max(0, DateTime.toEpochMillis(end) - DateTime.toEpochMillis(now)))
    )
  }
}

/**
 * A `TokenSet` as JSON text, for stores that keep a file or a string.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TokenSetFromJson: Schema.Schema<TokenSet, string> = Schema.parseJson(TokenSet)

/**
 * Builds a `TokenSet` from a bare refresh token (e.g. `SPOTIFY_REFRESH_TOKEN`) to seed a store. It has no access token
 * (`accessToken` is `None`) and is already expired, so its first use refreshes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromRefreshToken = (refreshToken: Redacted.Redacted<string> | string): TokenSet =>
  new TokenSet({
    refreshToken: Option.some(typeof refreshToken === "string" ? Redacted.make(refreshToken) : refreshToken),
    tokenType: "Bearer",
    expiresAt: DateTime.unsafeMake(0),
    scope: []
  })

/**
 * The fields of {@link make}: tokens as strings or `Redacted`, the optional ones left out when there are none.
 *
 * @since 0.3.0
 * @category models
 */
export interface MakeOptions {
  readonly accessToken: Redacted.Redacted<string> | string
  readonly refreshToken?: Redacted.Redacted<string> | string | undefined
  /** Default: `Bearer`. */
  readonly tokenType?: string | undefined
  readonly expiresAt: DateTime.DateTime.Input
  /** Default: none. */
  readonly scope?: ReadonlyArray<string> | undefined
  readonly issuedAt?: DateTime.DateTime.Input | undefined
  readonly authorizedAt?: DateTime.DateTime.Input | undefined
  readonly refreshTokenExpiresAt?: DateTime.DateTime.Input | undefined
}

const redact = (token: Redacted.Redacted<string> | string): Redacted.Redacted<string> =>
  typeof token === "string" ? Redacted.make(token) : token

const optionalDate = (input: DateTime.DateTime.Input | undefined): Option.Option<DateTime.Utc> =>
  input === undefined ? Option.none() : Option.some(DateTime.toUtc(DateTime.unsafeMake(input)))

/**
 * Builds a `TokenSet` from plain values, e.g. tokens obtained elsewhere or in tests. Throws on an invalid date, as
 * `DateTime.unsafeMake` does.
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (options: MakeOptions): TokenSet =>
  new TokenSet({
    accessToken: Option.some(redact(options.accessToken)),
    refreshToken: options.refreshToken === undefined ? Option.none() : Option.some(redact(options.refreshToken)),
    tokenType: options.tokenType ?? "Bearer",
    expiresAt: DateTime.toUtc(DateTime.unsafeMake(options.expiresAt)),
    scope: options.scope ?? [],
    ...(options.issuedAt === undefined ? {} : { issuedAt: DateTime.toUtc(DateTime.unsafeMake(options.issuedAt)) }),
    authorizedAt: optionalDate(options.authorizedAt),
    refreshTokenExpiresAt: optionalDate(options.refreshTokenExpiresAt)
  })
