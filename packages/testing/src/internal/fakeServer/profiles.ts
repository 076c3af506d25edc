/**
 * How each provider the fake server imitates shapes its answers: one record per profile, read by the pure state
 * functions (`state.ts`), so a new provider is a new record and no switch grows.
 */
import type { Profile } from "../../FakeAuthorizationServer.js"

/** Which token a refusal is about: some providers name the error after it. */
export type Refused = "refresh_token" | "authorization_code" | "other"

/** An RFC 6749 §5.2 error, before a profile shapes it. */
export interface Failure {
  readonly error: string
  readonly description: string
  readonly refused: Refused
}

/** An RFC 6749 §5.1 answer, before a profile shapes it. */
export interface Success {
  readonly accessToken: string
  readonly refreshToken: string | undefined
  readonly scope: string
  /** Seconds. */
  readonly expiresIn: number
  /** When the answer is made (epoch millis, by the server's clock). */
  readonly now: number
  /** How long the refresh token lives (millis); `Infinity` when it does not expire. */
  readonly refreshTokenLifetime: number
}

/** The provider's name for an OAuth error: one name, or one per refused token (a token not named keeps the OAuth name). */
export type ErrorCode = string | { readonly [R in Refused]?: string }

/**
 * A provider's answers.
 */
export interface Spec {
  /** Every refresh returns a new refresh token. */
  readonly rotate: boolean
  /** A rotated refresh token stays valid. */
  readonly keepOldRefreshTokens: boolean
  /** The body of a token answer. */
  readonly success: (fields: Success) => Readonly<Record<string, unknown>>
  /** The provider's own names for OAuth errors (an error not named here keeps its OAuth name). */
  readonly errorCodes: { readonly [error: string]: ErrorCode }
  /** The HTTP status of an error answer, by OAuth error (an error not named here gets `errorStatus`). */
  readonly errorStatuses: { readonly [error: string]: number }
  readonly errorStatus: number
  /** The body of an error answer, from the error, its provider's name (`code`) and the status sent. */
  readonly errorBody: (failure: Failure & { readonly code: string; readonly status: number }) => unknown
}

const standard = (fields: Success) => ({
  access_token: fields.accessToken,
  token_type: "Bearer",
  scope: fields.scope,
  expires_in: fields.expiresIn,
  ...(fields.refreshToken === undefined ? {} : { refresh_token: fields.refreshToken })
})

/** RFC 6749 to the letter, as Spotify answers. */
const rfc6749: Spec = {
  rotate: true,
  keepOldRefreshTokens: false,
  success: standard,
  errorCodes: {},
  errorStatuses: {},
  errorStatus: 400,
  errorBody: ({ code, description }) => ({ error: code, error_description: description })
}

/** GitHub's refresh tokens live six months unless the server says otherwise. */
const githubRefreshTokenSeconds = 15_897_600

const github: Spec = {
  ...rfc6749,
  success: (fields) => ({
    ...standard(fields),
    token_type: "bearer",
    ...(fields.refreshToken === undefined
      ? {}
      : {
          refresh_token_expires_in: Number.isFinite(fields.refreshTokenLifetime)
            ? Math.round(fields.refreshTokenLifetime / 1000)
            : githubRefreshTokenSeconds
        })
  }),
  errorCodes: {
    invalid_grant: {
      refresh_token: "bad_refresh_token",
      authorization_code: "bad_verification_code",
      other: "bad_refresh_token"
    },
    invalid_client: "incorrect_client_credentials"
  },
  errorStatus: 200,
  errorBody: ({ code, description }) => ({
    error: code,
    error_description: description,
    error_uri: "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"
  })
}

const twitch: Spec = {
  ...rfc6749,
  success: (fields) => ({
    ...standard(fields),
    token_type: "bearer",
    scope: fields.scope.split(" ").filter((s) => s !== "")
  }),
  errorCodes: {
    invalid_client: "invalid client secret",
    invalid_grant: { refresh_token: "Invalid refresh token" }
  },
  errorStatuses: { invalid_client: 403 },
  // Twitch answers a message, not a code: its "code" is the message when it has one of its own
  errorBody: ({ code, description, error, status }) => ({ status, message: code === error ? description : code })
}

const slack: Spec = {
  ...rfc6749,
  success: (fields) => ({
    ok: true,
    app_id: "A0FAKE",
    ...standard(fields),
    token_type: "bot",
    team: { id: "T0FAKE" }
  }),
  errorCodes: {
    invalid_grant: {
      refresh_token: "invalid_refresh_token",
      authorization_code: "invalid_code",
      other: "invalid_refresh_token"
    },
    invalid_client: "bad_client_secret"
  },
  errorStatus: 200,
  errorBody: ({ code }) => ({ ok: false, error: code })
}

const salesforce: Spec = {
  ...rfc6749,
  rotate: false,
  success: (fields) => {
    const { expires_in: _, ...rest } = standard(fields)
    return {
      ...rest,
      instance_url: "https://fake.my.salesforce.com",
      id: "https://login.salesforce.com/id/00Dfake/005fake",
      issued_at: String(fields.now),
      signature: "fake-signature"
    }
  }
}

/** Strava names a refusal as a fault, `resource field code`: its "code" here is the resource and the field. */
const strava: Spec = {
  ...rfc6749,
  success: (fields) => ({
    ...standard(fields),
    expires_at: Math.floor(fields.now / 1000) + fields.expiresIn,
    athlete: { id: 1 }
  }),
  errorCodes: {
    invalid_grant: {
      refresh_token: "RefreshToken refresh_token",
      authorization_code: "AuthorizationCode code",
      other: "RefreshToken refresh_token"
    },
    invalid_client: "Application client_id"
  },
  errorBody: ({ code, error }) => {
    const [resource, field] = code === error ? ["Request", error] : code.split(" ")
    return { message: "Bad Request", errors: [{ resource, field, code: "invalid" }] }
  }
}

const auth0: Spec = { ...rfc6749, errorStatuses: { invalid_grant: 403, invalid_client: 401 } }

/**
 * Every profile's record.
 */
export const profiles: { readonly [P in Profile]: Spec } = {
  rfc6749,
  github,
  twitch,
  slack,
  salesforce,
  strava,
  auth0,
  microsoft: { ...rfc6749, keepOldRefreshTokens: true },
  google: { ...rfc6749, rotate: false },
  dropbox: { ...rfc6749, rotate: false },
  discord: rfc6749
}

/** The status and body of `failure` as `spec`'s provider sends it. */
export const errorAnswer = (spec: Spec, failure: Failure): { readonly status: number; readonly body: unknown } => {
  const status = spec.errorStatuses[failure.error] ?? spec.errorStatus
  const named = spec.errorCodes[failure.error]
  const code = typeof named === "string" ? named : (named?.[failure.refused] ?? failure.error)
  return { status, body: spec.errorBody({ ...failure, code, status }) }
}
