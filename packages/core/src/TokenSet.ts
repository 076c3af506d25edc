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
import { DpopKey } from "./internal/jwk.js"

const RedactedToken = Schema.Redacted(Schema.String)

/** A field that is `Option` in memory and omitted from the encoded form when it is `None`. */
const optionalField = <S extends Schema.Schema.Any>(schema: S) =>
  Schema.optionalWith(schema, { as: "Option", exact: true }).pipe(
    Schema.withConstructorDefault(() => Option.none<Schema.Schema.Type<S>>())
  )

/**
 * The tokens a token endpoint granted: always an access token, with its type, expiry and scopes, and the refresh
 * token when the grant gave one. The tokens are `Redacted`: they never print, log or serialise by accident. The
 * encoded form (`Schema.encode(TokenSet)`) is plain JSON; fields that are `None` are left out of it.
 *
 * What a store keeps under a key is a `Session` (module `Session`): a `TokenSet` is its `Active` case.
 *
 * @since 0.1.0
 * @category models
 */
export class TokenSet extends Schema.Class<TokenSet>("@token-refresher/core/TokenSet")({
  /** The access token to send as `Authorization: Bearer …`. */
  accessToken: RedactedToken,
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
   */
  issuedAt: Schema.DateTimeUtc,
  /**
   * When the user authorised the app (the code exchange, or the client-credentials grant), carried through every
   * refresh and rotation. `None` when unknown (a seeded refresh token, or tokens stored before 0.3).
   */
  authorizedAt: optionalField(Schema.DateTimeUtc),
  /**
   * When the refresh token stops working whatever the refreshes: from the server's `refresh_token_expires_in`, or
   * from the provider's documented policy (`Provider.refreshTokenLifetime`). `None` when no end is known.
   */
  refreshTokenExpiresAt: optionalField(Schema.DateTimeUtc),
  /**
   * The session's DPoP key (RFC 9449), the private JWK as JSON: set by every grant made with `dpop` on, and used by
   * the next refresh and by `BearerAuth`. Stored with the tokens (and sealed with them under `TokenStore.encrypted`).
   * `None` without DPoP. Since 0.6.0.
   */
  dpopKey: optionalField(DpopKey)
}) {
  /**
   * When the access token should be refreshed, in epoch milliseconds: `expiresAt - leeway`, where the leeway is at
   * most half the token's lifetime, so a server that grants tokens shorter-lived than the leeway does not cause a
   * refresh on every call.
   *
   * @since 0.2.0
   */
  refreshAtMillis(leeway: Duration.DurationInput): number {
    const expiresAt = this.expiresAt.epochMillis
    return expiresAt - Math.min(Duration.toMillis(leeway), Math.max(0, expiresAt - this.issuedAt.epochMillis) / 2)
  }

  /**
   * Whether the access token should be refreshed at `now`: it expires within `leeway` (default 0).
   *
   * @since 0.1.0
   */
  isExpired(now: DateTime.DateTime, leeway: Duration.DurationInput = Duration.zero): boolean {
    return DateTime.toEpochMillis(now) >= this.expiresAt.epochMillis - Duration.toMillis(leeway)
  }

  /**
   * How long the access token stays valid after `now` (zero once it has expired).
   *
   * @since 0.1.0
   */
  expiresIn(now: DateTime.DateTime): Duration.Duration {
    return Duration.millis(Math.max(0, this.expiresAt.epochMillis - DateTime.toEpochMillis(now)))
  }

  /**
   * How long the refresh token keeps working after `now` (zero once it has ended); `None` when no end is known.
   *
   * @since 0.3.0
   */
  refreshTokenExpiresIn(now: DateTime.DateTime): Option.Option<Duration.Duration> {
    return Option.map(this.refreshTokenExpiresAt, (end) =>
      Duration.millis(Math.max(0, end.epochMillis - DateTime.toEpochMillis(now)))
    )
  }
}

/**
 * A `TokenSet` as JSON text.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TokenSetFromJson: Schema.Schema<TokenSet, string> = Schema.parseJson(TokenSet)

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
  /** Default: `expiresAt` minus one hour. */
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
export const make = (options: MakeOptions): TokenSet => {
  const expiresAt = DateTime.toUtc(DateTime.unsafeMake(options.expiresAt))
  return new TokenSet({
    accessToken: redact(options.accessToken),
    refreshToken: options.refreshToken === undefined ? Option.none() : Option.some(redact(options.refreshToken)),
    tokenType: options.tokenType ?? "Bearer",
    expiresAt,
    scope: options.scope ?? [],
    issuedAt:
      options.issuedAt === undefined
        ? DateTime.subtract(expiresAt, { hours: 1 })
        : DateTime.toUtc(DateTime.unsafeMake(options.issuedAt)),
    authorizedAt: optionalDate(options.authorizedAt),
    refreshTokenExpiresAt: optionalDate(options.refreshTokenExpiresAt)
  })
}
