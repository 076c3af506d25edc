/**
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

/**
 * The tokens held after a refresh. The tokens are `Redacted`: they never print, log or serialise by accident. The
 * encoded form (`Schema.encode(TokenSet)`) is plain JSON, so a store can persist it.
 *
 * @since 0.1.0
 * @category models
 */
export class TokenSet extends Schema.Class<TokenSet>("@token-refresher/core/TokenSet")({
  /** The access token to send as `Authorization: Bearer …`. */
  accessToken: Schema.Redacted(Schema.String),
  /** The refresh token: the rotated one, or the one that was sent when the server returned none. */
  refreshToken: Schema.Redacted(Schema.String),
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
  issuedAt: Schema.optional(Schema.DateTimeUtc)
}) {
  /**
   * When the access token should be refreshed, in epoch milliseconds: `expiresAt - leeway`, where the leeway is at
   * most half the token's lifetime when `issuedAt` is known, so a server that grants tokens shorter-lived than the
   * leeway does not cause a refresh on every call.
   */
  refreshAtMillis(leeway: Duration.DurationInput): number {
    const expiresAt = this.expiresAt.epochMillis
    const leewayMillis = Duration.toMillis(leeway)
    return this.issuedAt === undefined
      ? expiresAt - leewayMillis
      : expiresAt - Math.min(leewayMillis, Math.max(0, expiresAt - this.issuedAt.epochMillis) / 2)
  }

  /**
   * Whether the access token should be refreshed at `now`: it expires within `leeway` (default 0).
   */
  isExpired(now: DateTime.DateTime, leeway: Duration.DurationInput = Duration.zero): boolean {
    return DateTime.toEpochMillis(now) >= DateTime.toEpochMillis(this.expiresAt) - Duration.toMillis(leeway)
  }

  /**
   * How long the access token stays valid after `now` (zero once it has expired).
   */
  expiresIn(now: DateTime.DateTime): Duration.Duration {
    return Duration.millis(Math.max(0, DateTime.toEpochMillis(this.expiresAt) - DateTime.toEpochMillis(now)))
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
 * and is already expired, so its first use refreshes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromRefreshToken = (refreshToken: Redacted.Redacted<string> | string): TokenSet =>
  new TokenSet({
    accessToken: Redacted.make(""),
    refreshToken: typeof refreshToken === "string" ? Redacted.make(refreshToken) : refreshToken,
    tokenType: "Bearer",
    expiresAt: DateTime.unsafeMake(0),
    scope: []
  })
