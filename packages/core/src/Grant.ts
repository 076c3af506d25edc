/**
 * The grants a `TokenRefresher` can send, as data: each is turned into one token request, with the same client
 * authentication, retry policy, decoding and errors.
 *
 * @since 0.3.0
 */
import * as Data from "effect/Data"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type { TokenSet } from "./TokenSet.js"

/**
 * - `RefreshToken` (RFC 6749 §6): a new access token for a session; `previous` are the tokens being refreshed, whose
 *   `authorizedAt` and refresh-token end of life carry over.
 * - `AuthorizationCode` (RFC 6749 §4.1.3, PKCE's `code_verifier` from RFC 7636): the first tokens of a login.
 * - `ClientCredentials` (RFC 6749 §4.4): an app token, with no user and no refresh token.
 *
 * @since 0.3.0
 * @category models
 */
export type Grant = Data.TaggedEnum<{
  RefreshToken: {
    readonly refreshToken: Redacted.Redacted<string>
    readonly scope: ReadonlyArray<string>
    readonly previous: Option.Option<TokenSet>
    /** The DPoP key of the refresh token when `previous` has none (a seeded DPoP-bound token). */
    readonly dpopKey?: Redacted.Redacted<string> | undefined
  }
  AuthorizationCode: {
    readonly code: Redacted.Redacted<string>
    readonly redirectUri: string
    readonly codeVerifier: Option.Option<Redacted.Redacted<string>>
  }
  ClientCredentials: {
    readonly scope: ReadonlyArray<string>
  }
  DeviceCode: {
    readonly deviceCode: Redacted.Redacted<string>
    /** With DPoP: the key made for the device login (`DeviceAuthorization.dpopKey`). */
    readonly dpopKey?: Redacted.Redacted<string> | undefined
  }
}>

const constructors = Data.taggedEnum<Grant>()

/**
 * The grant of a refresh.
 *
 * @since 0.3.0
 * @category constructors
 */
export const RefreshToken = constructors.RefreshToken

/**
 * The grant of a login's code exchange.
 *
 * @since 0.3.0
 * @category constructors
 */
export const AuthorizationCode = constructors.AuthorizationCode

/**
 * The grant of an app token.
 *
 * @since 0.3.0
 * @category constructors
 */
export const ClientCredentials = constructors.ClientCredentials

/**
 * A device's poll for the tokens of a device login (RFC 8628 §3.4): `TokenRefresher.pollDeviceToken` sends it until
 * the user has approved.
 *
 * @since 0.6.0
 * @category constructors
 */
export const DeviceCode = constructors.DeviceCode

/**
 * Whether a grant is of the given kind.
 *
 * @since 0.3.0
 * @category guards
 */
export const $is = constructors.$is

/**
 * Handles each kind of grant.
 *
 * @since 0.3.0
 * @category pattern matching
 */
export const $match = constructors.$match
