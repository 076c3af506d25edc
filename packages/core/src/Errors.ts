/**
 * The typed errors of a token refresh. Each carries what a caller needs to decide what to do next and none of them
 * ever holds a secret or a token.
 *
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"

/** What every error answer of the token endpoint carries. */
const answerFields = {
  /** HTTP status of the token endpoint's answer. */
  status: Schema.Number,
  /** The server's `error_description`, when it sent one. */
  description: Schema.optional(Schema.String)
}

/**
 * The refresh token was rejected (`invalid_grant`): it is revoked, expired, already used (rotation) or was issued to
 * another client. Never retried: the user has to authorise again.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidGrant extends Schema.TaggedError<InvalidGrant>("@token-refresher/core/InvalidGrant")(
  "InvalidGrant",
  {
    ...answerFields,
    /**
     * An earlier attempt of the same grant was sent and got no answer (a timeout, or a connection lost after the
     * request was written): the server may have used the token then, and this rejection may be the consequence.
     */
    possiblyConsumed: Schema.optionalWith(Schema.Boolean, { default: () => false }),
    /**
     * The refresh token's known end of life (`TokenSet.refreshTokenExpiresAt`), when the rejection came after it: the
     * token expired by the provider's policy, whatever the refreshes.
     */
    refreshTokenExpiredAt: Schema.optional(Schema.DateTimeUtc)
  }
) {
  /** The OAuth error code. */
  get error(): "invalid_grant" {
    return "invalid_grant"
  }
  override get message(): string {
    return (
      `The refresh token was rejected (invalid_grant, HTTP ${this.status}${describe(this.description)}): ` +
      (this.refreshTokenExpiredAt === undefined
        ? "it is revoked, expired, already used or belongs to another client."
        : `it reached its end of life on ${DateTime.formatIso(this.refreshTokenExpiredAt)} (the provider's refresh-token lifetime).`) +
      " The user must authorise again." +
      (this.possiblyConsumed
        ? " An earlier attempt got no answer: the server may have used the token then, and the new one it sent was lost."
        : "")
    )
  }
}

/**
 * The client failed to authenticate (`invalid_client`, or HTTP 401 from the token endpoint): wrong client id or
 * secret, or the wrong authentication method. Never retried: fix the configuration.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidClient extends Schema.TaggedError<InvalidClient>("@token-refresher/core/InvalidClient")(
  "InvalidClient",
  answerFields
) {
  /** The OAuth error code. */
  get error(): "invalid_client" {
    return "invalid_client"
  }
  override get message(): string {
    return `The token endpoint rejected the client credentials (invalid_client, HTTP ${this.status}${describe(
      this.description
    )}): check the client id, the client secret and the authentication method.`
  }
}

/**
 * Any other RFC 6749 §5.2 error (`invalid_request`, `invalid_scope`, `unauthorized_client`, `unsupported_grant_type`
 * or a code this library does not know). Never retried: the request itself is wrong.
 *
 * @since 0.1.0
 * @category errors
 */
export class OAuthError extends Schema.TaggedError<OAuthError>("@token-refresher/core/OAuthError")("OAuthError", {
  /** HTTP status of the token endpoint's answer. */
  status: Schema.Number,
  /** The OAuth `error` code. */
  error: Schema.String,
  /** The server's `error_description`, when it sent one. */
  description: Schema.optional(Schema.String),
  /** The server's `error_uri`, when it sent one. */
  errorUri: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return `The token endpoint refused the refresh (${this.error}, HTTP ${this.status}${describe(this.description)})${
      this.errorUri === undefined ? "" : `; see ${this.errorUri}`
    }.`
  }
}

/**
 * The token endpoint could not give an answer: a transport failure, a timeout, or a transient status (408, 429,
 * 5xx). Raised after the retries are used up, or at once when the server asks to wait (`Retry-After`) longer than the
 * configured maximum.
 *
 * @since 0.1.0
 * @category errors
 */
export class NetworkError extends Schema.TaggedError<NetworkError>("@token-refresher/core/NetworkError")(
  "NetworkError",
  {
    /** What failed on the last attempt. */
    reason: Schema.Literal("Transport", "Timeout", "Status"),
    /** HTTP status of the last answer, when `reason` is `"Status"`. */
    status: Schema.optional(Schema.Number),
    /** How long the server asked to wait (`Retry-After`), when it said. */
    retryAfter: Schema.optional(Schema.DurationFromSelf),
    /** How many requests were sent. */
    attempts: Schema.Number,
    /** A short description of the last failure (never holds a secret). */
    detail: Schema.optional(Schema.String)
  }
) {
  override get message(): string {
    if (this.attempts === 0) {
      return `The token endpoint was not asked: it asked this client to wait${
        this.status === undefined ? "" : ` (HTTP ${this.status}, Retry-After)`
      }${this.retryAfter === undefined ? "" : `, for another ${formatSeconds(this.retryAfter)}`}.`
    }
    const what =
      this.reason === "Status"
        ? `answered HTTP ${this.status}`
        : this.reason === "Timeout"
          ? "did not answer in time"
          : "could not be reached"
    const after = this.retryAfter === undefined ? "" : `; it asked to retry after ${formatSeconds(this.retryAfter)}`
    const detail = this.detail === undefined ? "" : ` (${this.detail})`
    return `The token endpoint ${what}${detail} after ${this.attempts} attempt${
      this.attempts === 1 ? "" : "s"
    }${after}.`
  }
}

/**
 * The token endpoint answered something that is not a usable token response: a 2xx body that is not JSON or does not
 * match the schema, or a non-retryable error status whose body is not an OAuth error object (an HTML page from a
 * proxy, say). The message names what was wrong, never the body's tokens.
 *
 * @since 0.1.0
 * @category errors
 */
export class DecodeError extends Schema.TaggedError<DecodeError>("@token-refresher/core/DecodeError")("DecodeError", {
  /** HTTP status of the answer. */
  status: Schema.Number,
  /**
   * What was wrong: the body was not JSON, did not match the token schema, was not an OAuth error object, or was
   * longer than `maxResponseBytes` (`TooLarge`: reading stopped at the limit).
   */
  reason: Schema.Literal("NotJson", "Schema", "NotOAuthError", "TooLarge"),
  /** Which part of the body was wrong (schema paths), without its values. */
  detail: Schema.String
}) {
  override get message(): string {
    return `The token endpoint's answer (HTTP ${this.status}) could not be used: ${this.detail}.`
  }
}

/**
 * A device login (RFC 8628) that did not end with tokens: the user denied it (`Denied`: `access_denied`), its code
 * expired before the user approved it (`Expired`: `expired_token`, or the end of `expiresIn`), or the provider has no
 * device authorization endpoint (`Unsupported`).
 *
 * @since 0.6.0
 * @category errors
 */
export class DeviceAuthorizationError extends Schema.TaggedError<DeviceAuthorizationError>(
  "@token-refresher/core/DeviceAuthorizationError"
)("DeviceAuthorizationError", {
  reason: Schema.Literal("Expired", "Denied", "Unsupported"),
  /** The provider's name. */
  provider: Schema.String,
  /** The server's `error_description`, when it sent one. */
  description: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const said = this.description === undefined ? "" : ` (${this.description})`
    switch (this.reason) {
      case "Expired":
        return `The device login at ${this.provider} expired before the user approved it${said}: start it again.`
      case "Denied":
        return `The user denied the device login at ${this.provider}${said}.`
      case "Unsupported":
        return `${this.provider} has no device authorization endpoint: log in with a browser instead.`
    }
  }
}

/**
 * Every way a refresh can fail.
 *
 * @since 0.1.0
 * @category errors
 */
export type RefreshError = InvalidGrant | InvalidClient | OAuthError | NetworkError | DecodeError

/**
 * The schema of {@link RefreshError}.
 *
 * @since 0.1.0
 * @category errors
 */
export const RefreshError: Schema.Union<
  [typeof InvalidGrant, typeof InvalidClient, typeof OAuthError, typeof NetworkError, typeof DecodeError]
> = Schema.Union(InvalidGrant, InvalidClient, OAuthError, NetworkError, DecodeError)

const describe = (description: string | undefined): string => (description === undefined ? "" : `: ${description}`)

const formatSeconds = (duration: Duration.Duration): string => {
  const millis = Duration.toMillis(duration)
  return millis % 1000 === 0 ? `${millis / 1000} s` : millis < 10_000 ? `${millis} ms` : `${Math.ceil(millis / 1000)} s`
}

/**
 * Nothing is stored yet: there is no refresh token to use. Log in first, or seed the store.
 *
 * @since 0.1.0
 * @category errors
 */
export class NoToken extends Schema.TaggedError<NoToken>("@token-refresher/core/NoToken")("NoToken", {
  /** `Empty`: nothing is stored; `NoRefreshToken`: the stored tokens have expired and hold no refresh token. */
  reason: Schema.optionalWith(Schema.Literal("Empty", "NoRefreshToken"), { default: () => "Empty" })
}) {
  override get message(): string {
    if (this.reason === "NoRefreshToken") {
      return "The stored access token has expired and there is no refresh token to renew it: log in again."
    }
    return (
      "No tokens are stored yet: log in first (token-refresher login), " +
      "or seed the TokenStore with TokenSet.fromRefreshToken(refreshToken)."
    )
  }
}

/**
 * A provider could not be discovered from its issuer URL (OpenID Connect Discovery, RFC 8414).
 *
 * @since 0.3.0
 * @category errors
 */
export class DiscoveryError extends Schema.TaggedError<DiscoveryError>("@token-refresher/core/DiscoveryError")(
  "DiscoveryError",
  {
    /** The issuer asked for. */
    issuer: Schema.String,
    /**
     * What was wrong: a URL that is not https (`Insecure`), no document could be fetched (`Transport`, `Status`), it
     * was not a JSON object (`NotJson`), named another issuer (`IssuerMismatch`), or lacked a usable token endpoint
     * (`MissingEndpoint`).
     */
    reason: Schema.Literal(
      "InvalidUrl",
      "Insecure",
      "Transport",
      "Status",
      "NotJson",
      "IssuerMismatch",
      "MissingEndpoint"
    ),
    /** What exactly, e.g. the document's issuer or the missing field. */
    detail: Schema.String
  }
) {
  override get message(): string {
    return `The provider at ${this.issuer} could not be discovered (${this.reason}): ${this.detail}.`
  }
}

/**
 * The provider has no RFC 7009 revocation endpoint, so a token cannot be revoked through this library: forget it
 * locally, and tell the user where to remove the app's access (Spotify: the account's Apps page).
 *
 * @since 0.3.0
 * @category errors
 */
export class RevocationUnsupported extends Schema.TaggedError<RevocationUnsupported>(
  "@token-refresher/core/RevocationUnsupported"
)("RevocationUnsupported", {
  /** The provider's name. */
  provider: Schema.String
}) {
  override get message(): string {
    return `${this.provider} has no token revocation endpoint (RFC 7009): the token cannot be revoked, only forgotten.`
  }
}

/**
 * Every way a revocation can fail.
 *
 * @since 0.3.0
 * @category errors
 */
export type RevokeError = InvalidClient | OAuthError | NetworkError | DecodeError | RevocationUnsupported
