/**
 * An OAuth 2.0 authorization server as this library needs to know it: its endpoints, how a client authenticates, how
 * its refresh tokens live, and how its answers differ from RFC 6749. Presets for well-known providers are in
 * `@token-refresher/providers`; any other server is described with `make` or found with `discover`.
 *
 * @since 0.3.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { DiscoveryError } from "./Errors.js"
import * as internal from "./internal/provider.js"

/**
 * How the client authenticates to the token endpoint (RFC 6749 §2.3, OpenID Connect names).
 *
 * - `client_secret_basic`: `Authorization: Basic base64(urlencode(id):urlencode(secret))`.
 * - `client_secret_post`: `client_id` and `client_secret` in the form body.
 * - `private_key_jwt`: a JWT signed with the client's private key (`clientAssertionKey`), in the body as
 *   `client_assertion` (RFC 7523 §2.2, OpenID Connect Core §9).
 * - `client_secret_jwt`: the same JWT, signed with `clientSecret` (HS256).
 * - `none`: a public client (PKCE): `client_id` in the body, no secret.
 *
 * @since 0.3.0
 * @category models
 */
export type AuthMethod = "client_secret_basic" | "client_secret_post" | "private_key_jwt" | "client_secret_jwt" | "none"

/**
 * A provider's answer as it came: the status, the headers (lower-case names) and the body, parsed as JSON when it is
 * JSON and the text otherwise.
 *
 * @since 0.3.0
 * @category models
 */
export interface RawResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly body: unknown
}

/**
 * How long a refresh token lives whatever the refreshes: `length` after the user authorised the app
 * (`from: "authorization"`, Spotify's policy) or after the refresh token was issued (`from: "issue"`, a sliding
 * lifetime that each rotation renews).
 *
 * @since 0.3.0
 * @category models
 */
export interface RefreshTokenLifetime {
  readonly from: "authorization" | "issue"
  /** e.g. `{ months: 6 }` or `{ days: 90 }`, as `DateTime.add` takes it. */
  readonly length: Partial<DateTime.DateTime.PartsForMath>
}

/**
 * An authorization server as this library needs to know it.
 *
 * @since 0.3.0
 * @category models
 */
export interface Provider {
  /** A short name, used in messages and as part of the CLI's store key: `spotify`, `google`, … */
  readonly name: string
  /** The token endpoint. */
  readonly tokenUrl: string
  /** The authorization endpoint, where a login starts; absent for a provider used only for app tokens. */
  readonly authorizeUrl?: string | undefined
  /** The RFC 7009 revocation endpoint, when the provider has one. */
  readonly revocationUrl?: string | undefined
  /** The RFC 8628 device authorization endpoint, where a device flow starts, when the provider has one. */
  readonly deviceAuthorizationUrl: Option.Option<string>
  /**
   * The issuer (discovery's `issuer`), when known: the audience of a client assertion (`private_key_jwt`,
   * `client_secret_jwt`); without it, the token endpoint is.
   */
  readonly issuer?: string | undefined
  /**
   * The client authentication methods the server lists (discovery's `token_endpoint_auth_methods_supported`), when
   * known: a `TokenRefresher` configured with another method (but `none`) fails with a `ConfigError`.
   */
  readonly authMethodsSupported?: ReadonlyArray<string> | undefined
  /** How a confidential client authenticates by default. Default: `client_secret_basic`. */
  readonly authMethod?: Exclude<AuthMethod, "none"> | undefined
  /** Whether a refresh returns a new refresh token that replaces the old one. */
  readonly rotatesRefreshTokens: boolean
  /** A documented refresh-token lifetime, when the provider has one and does not send `refresh_token_expires_in`. */
  readonly refreshTokenLifetime?: RefreshTokenLifetime | undefined
  /**
   * How long a refresh token survives unused, when the provider documents it (Google: six months; Microsoft: 90
   * days): a session left alone longer must log in again, unless it is refreshed before (a keep-alive).
   */
  readonly refreshTokenIdleTimeout: Option.Option<Duration.Duration>
  /** The access-token lifetime to assume when an answer has no `expires_in`. */
  readonly defaultExpiresIn?: Duration.DurationInput | undefined
  /**
   * Turns the provider's raw answer into the RFC 6749 shape (§5.1 success, §5.2 error with a 4xx status) before the
   * common decoding. The decoding also honours two extensions: `refresh_token_expires_in` (seconds) and `expires_at`
   * (epoch seconds, used in place of `expires_in`).
   */
  readonly normalize?: ((response: RawResponse) => RawResponse) | undefined
}

/**
 * Builds a `Provider`; fields left out get their defaults (no rotation, no known idle timeout).
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (
  provider: Omit<Provider, "rotatesRefreshTokens" | "refreshTokenIdleTimeout" | "deviceAuthorizationUrl"> & {
    readonly rotatesRefreshTokens?: boolean | undefined
    readonly refreshTokenIdleTimeout?: Duration.DurationInput | undefined
    readonly deviceAuthorizationUrl?: string | undefined
  }
): Provider => ({
  ...provider,
  rotatesRefreshTokens: provider.rotatesRefreshTokens ?? false,
  refreshTokenIdleTimeout: Option.map(Option.fromNullable(provider.refreshTokenIdleTimeout), Duration.decode),
  deviceAuthorizationUrl: Option.fromNullable(provider.deviceAuthorizationUrl)
})

/**
 * The options of `discover`.
 *
 * @since 0.3.0
 * @category models
 */
export interface DiscoverOptions {
  /** The provider's `name`. Default: the issuer's host. */
  readonly name?: string | undefined
  /** The limit for each document request. Default: 10 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
  /** Whether refresh tokens rotate: discovery documents do not say. Default: false. */
  readonly rotatesRefreshTokens?: boolean | undefined
}

/**
 * Finds a provider by its issuer URL: reads `/.well-known/openid-configuration` (OpenID Connect Discovery) and falls
 * back to `/.well-known/oauth-authorization-server` (RFC 8414). The issuer and every endpoint must be https (http is
 * accepted for loopback hosts only), the document's `issuer` must equal the one asked for (RFC 8414 §3.3), and it must
 * name a token endpoint. The auth method is the first of `token_endpoint_auth_methods_supported` that this library
 * implements (`client_secret_basic` when the document does not say).
 *
 * @example
 * ```ts
 * import { Provider, TokenRefresher } from "@token-refresher/core"
 * import { NodeTokenClient } from "@token-refresher/node"
 * import { Effect, Layer } from "effect"
 *
 * const Refresher = Layer.unwrapEffect(
 *   Effect.map(Provider.discover("https://accounts.example.com"), (provider) =>
 *     TokenRefresher.layer({ provider, clientId: "my-app" })
 *   )
 * ).pipe(Layer.provide(NodeTokenClient.layer()))
 * ```
 *
 * @since 0.3.0
 * @category constructors
 */
export const discover: (
  issuer: string,
  options?: DiscoverOptions
) => Effect.Effect<Provider, DiscoveryError, HttpClient.HttpClient> = internal.discover

/**
 * What `authorizationUrl` puts in the login URL.
 *
 * @since 0.3.0
 * @category models
 */
export interface AuthorizationUrlOptions {
  readonly clientId: string
  /** Must be registered for the app. */
  readonly redirectUri: string
  /** Echoed back in the redirect: check it to reject redirects this login did not start. */
  readonly state: string
  readonly scope?: ReadonlyArray<string> | undefined
  /** The PKCE S256 challenge (`Pkce.make`). */
  readonly codeChallenge?: string | undefined
  /** Provider-specific parameters, e.g. `{ access_type: "offline" }` for Google. */
  readonly params?: Readonly<Record<string, string>> | undefined
}

/**
 * The URL that starts a login at `provider` (authorization code flow, RFC 6749 §4.1.1, with PKCE when a challenge is
 * given); `None` when the provider has no authorization endpoint.
 *
 * @since 0.3.0
 * @category constructors
 */
export const authorizationUrl = (provider: Provider, options: AuthorizationUrlOptions): Option.Option<string> =>
  internal.authorizationUrl(provider, options)
