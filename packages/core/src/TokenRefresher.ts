/**
 * The `TokenRefresher` service: sends a grant (a refresh, a code exchange, client credentials) to the token endpoint,
 * with client authentication, retries and typed errors, and gives back a `TokenSet`; revokes tokens (RFC 7009).
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as DateTime from "effect/DateTime"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type { DeviceAuthorizationError, RefreshError, RevokeError } from "./Errors.js"
import type * as Grant from "./Grant.js"
import * as internal from "./internal/tokenRefresher.js"
import type * as Provider from "./Provider.js"
import type { TokenSet } from "./TokenSet.js"

/**
 * How the client authenticates to the token endpoint (see `Provider.AuthMethod`).
 *
 * @since 0.1.0
 * @category models
 */
export type AuthMethod = Provider.AuthMethod

/**
 * How transient failures are retried: exponential backoff, jittered and capped.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryOptions {
  /** How many times a transient failure is retried after the first attempt. Default: 3. */
  readonly maxRetries?: number | undefined
  /** The first backoff delay; each retry doubles it, with ±20% jitter. Default: 250 millis. */
  readonly baseDelay?: Duration.DurationInput | undefined
  /** The longest computed backoff delay. Default: 10 seconds. */
  readonly maxDelay?: Duration.DurationInput | undefined
  /** The longest `Retry-After` that is waited for; a longer one fails at once with `NetworkError`. Default: 60 seconds. */
  readonly maxRetryAfter?: Duration.DurationInput | undefined
}

/**
 * The options of `TokenRefresher.layer` and `TokenRefresher.make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * The token endpoint. Must be https; http is accepted for loopback hosts only. Required unless `provider` is given;
   * with a provider it overrides the provider's (a proxy, or a local fake server in tests).
   */
  readonly tokenUrl?: string | URL | undefined
  /** The provider: its endpoints, default auth method, refresh-token policy and quirks (`normalize`). */
  readonly provider?: Provider.Provider | undefined
  /** The RFC 7009 revocation endpoint, overriding the provider's. Default: the provider's, if any. */
  readonly revocationUrl?: string | URL | undefined
  /** The access-token lifetime to assume when an answer has no `expires_in`. Default: the provider's, else none. */
  readonly defaultExpiresIn?: Duration.DurationInput | undefined
  /** The OAuth client id. */
  readonly clientId: string
  /** The client secret of a confidential client. Omit it for a public (PKCE) client. */
  readonly clientSecret?: Redacted.Redacted<string> | undefined
  /**
   * Default: `private_key_jwt` with a `clientAssertionKey`; else the provider's method (else `client_secret_basic`)
   * with a secret; `none` without either.
   */
  readonly authMethod?: AuthMethod | undefined
  /**
   * `private_key_jwt`'s signing key: a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`) or a private JWK as JSON. It never
   * appears in an error, a log, a span or a stored value.
   */
  readonly clientAssertionKey?: Redacted.Redacted<string> | undefined
  /** `private_key_jwt`'s algorithm. Default: `ES256` for an EC key, `RS256` for RSA, `EdDSA` for Ed25519. */
  readonly clientAssertionAlg?: "ES256" | "RS256" | "PS256" | "EdDSA" | undefined
  /** The `kid` of the assertion's header. Default: the JWK's `kid`, else none. */
  readonly clientAssertionKid?: string | undefined
  /**
   * DPoP (RFC 9449): each session gets a key pair at its first grant, kept with its tokens (`TokenSet.dpopKey`), and
   * every token, revocation and device request carries a proof. `BearerAuth` then sends `Authorization: DPoP` with a
   * proof. Default: off. `alg` default: `ES256`.
   */
  readonly dpop?: boolean | { readonly alg?: "ES256" | "EdDSA" | undefined } | undefined
  /**
   * The longest answer read, in bytes: a longer one is a `DecodeError` with reason `TooLarge`, and reading stops
   * there. Default: 1 MB (1,048,576).
   */
  readonly maxResponseBytes?: number | undefined
  /** The limit for one attempt (request and response body). Default: 10 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
  /** Backoff for transport failures, timeouts, 408, 429 and 5xx. */
  readonly retry?: RetryOptions | undefined
}

/**
 * The options of one refresh.
 *
 * @since 0.1.0
 * @category models
 */
export interface RefreshOptions {
  /** Ask for a subset of the granted scopes (RFC 6749 §6). Default: the scopes granted before. */
  readonly scope?: ReadonlyArray<string> | undefined
  /**
   * The tokens being refreshed: their `authorizedAt` and refresh-token end of life carry over to the new set, and an
   * `invalid_grant` after that end says so (`InvalidGrant.refreshTokenExpiredAt`). `TokenManager` passes them.
   */
  readonly previous?: TokenSet | undefined
  /**
   * With DPoP: the key the refresh token is bound to, when there is no `previous` set to carry it (a seeded token
   * imported with `Session.seeded(token, { dpopKey })`). `TokenManager` passes it.
   */
  readonly dpopKey?: Redacted.Redacted<string> | undefined
}

/**
 * The options of one client-credentials grant.
 *
 * @since 0.3.0
 * @category models
 */
export interface ClientCredentialsOptions {
  /** The scopes to ask for. Default: the server's default for the client. */
  readonly scope?: ReadonlyArray<string> | undefined
}

/**
 * The options of one revocation.
 *
 * @since 0.3.0
 * @category models
 */
export interface RevokeOptions {
  /** Which kind of token it is (RFC 7009 §2.1 `token_type_hint`). Default: no hint. */
  readonly hint?: "refresh_token" | "access_token" | undefined
  /** With DPoP: the key of the session whose token is revoked. Default: a new key for this request. */
  readonly dpopKey?: Redacted.Redacted<string> | undefined
}

/**
 * An authorization code to exchange (RFC 6749 §4.1.3, with PKCE's `code_verifier`, RFC 7636).
 *
 * @since 0.1.0
 * @category models
 */
export interface CodeExchange {
  /** The `code` the authorization server sent to the redirect URI. */
  readonly code: Redacted.Redacted<string>
  /** The same `redirect_uri` the authorization request used. */
  readonly redirectUri: string
  /** The PKCE verifier whose challenge the authorization request sent. */
  readonly codeVerifier?: Redacted.Redacted<string> | undefined
}

/**
 * A device login in progress (RFC 8628 §3.2): show `userCode` and `verificationUri` to the user, then
 * `pollDeviceToken` until they approve.
 *
 * @since 0.6.0
 * @category models
 */
export interface DeviceAuthorization {
  /** The code the device polls with: never shown. */
  readonly deviceCode: Redacted.Redacted<string>
  /** The code the user types on the verification page. */
  readonly userCode: string
  /** The page where the user types `userCode`. */
  readonly verificationUri: string
  /** The same page with the code filled in (for a QR code, say), when the server gives one. */
  readonly verificationUriComplete: Option.Option<string>
  /** How long the codes live. */
  readonly expiresIn: Duration.Duration
  /** How long to wait between polls: the server's, else 5 seconds. */
  readonly interval: Duration.Duration
  /** When the codes expire (by the Effect `Clock` when they were asked for). */
  readonly expiresAt: DateTime.Utc
  /** With DPoP: the key made for this login, which its tokens will be bound to. */
  readonly dpopKey: Option.Option<Redacted.Redacted<string>>
}

/**
 * The options of `deviceAuthorization`.
 *
 * @since 0.6.0
 * @category models
 */
export interface DeviceAuthorizationOptions {
  /** The scopes to ask for. Default: the server's default for the client. */
  readonly scope?: ReadonlyArray<string> | undefined
}

/**
 * The `TokenRefresher` service.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /**
   * Exchanges a refresh token for a new `TokenSet`. The result holds the rotated refresh token, or the one sent when
   * the server returned none. Transient failures are retried with backoff; OAuth errors are not.
   */
  readonly refresh: (
    refreshToken: Redacted.Redacted<string>,
    options?: RefreshOptions
  ) => Effect.Effect<TokenSet, RefreshError>
  /**
   * Exchanges an authorization code for the first `TokenSet` (a login), with the same client authentication, retries
   * and errors as `refresh`. Its `refreshToken` is `None` when the server granted none.
   */
  readonly exchangeCode: (code: CodeExchange) => Effect.Effect<TokenSet, RefreshError>
  /**
   * Gets an app token with the client-credentials grant (RFC 6749 §4.4): no user, no refresh token. Needs a
   * confidential client (a `clientSecret`). `TokenManager.layerClientCredentials` renews it on expiry.
   */
  readonly clientCredentials: (options?: ClientCredentialsOptions) => Effect.Effect<TokenSet, RefreshError>
  /** Sends any grant: the one path that `refresh`, `exchangeCode` and `clientCredentials` take. */
  readonly grant: (grant: Grant.Grant) => Effect.Effect<TokenSet, RefreshError>
  /**
   * Revokes a token at the provider's RFC 7009 revocation endpoint, with the same client authentication and retries
   * as the token endpoint. Revoking a refresh token ends its whole grant at most providers. Fails with
   * `RevocationUnsupported` when the provider has no such endpoint (see `provider.revocationUrl`).
   */
  readonly revoke: (token: Redacted.Redacted<string>, options?: RevokeOptions) => Effect.Effect<void, RevokeError>
  /**
   * Starts a device login (RFC 8628 §3.1) at the provider's device authorization endpoint, with the same client
   * authentication as the token endpoint. Fails with `DeviceAuthorizationError` (`Unsupported`) when the provider has
   * none (`provider.deviceAuthorizationUrl`).
   */
  readonly deviceAuthorization: (
    options?: DeviceAuthorizationOptions
  ) => Effect.Effect<DeviceAuthorization, RefreshError | DeviceAuthorizationError>
  /**
   * Polls the token endpoint for a device login's tokens (RFC 8628 §3.4): one poll every `interval` (the first after
   * one `interval`), 5 seconds more after each `slow_down`, and on after `authorization_pending`. `access_denied`
   * fails with `DeviceAuthorizationError` `Denied`; `expired_token` or the end of `expiresIn` with `Expired`. The
   * waits are `Effect.sleep`, so `TestClock` drives them.
   */
  readonly pollDeviceToken: (
    authorization: DeviceAuthorization
  ) => Effect.Effect<TokenSet, RefreshError | DeviceAuthorizationError>
  /** The provider this service talks to, with `tokenUrl` and `revocationUrl` as configured. */
  readonly provider: Provider.Provider
}

/**
 * The tag of the `TokenRefresher` service.
 *
 * @since 0.1.0
 * @category tags
 */
export class TokenRefresher extends Context.Tag("@token-refresher/core/TokenRefresher")<TokenRefresher, Service>() {}

/**
 * Builds the service on the `HttpClient` in context. Invalid options fail with a `ConfigError` naming the field.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options: Options) => Effect.Effect<Service, ConfigError.ConfigError, HttpClient.HttpClient> =
  internal.make

/**
 * The `TokenRefresher` service as a layer. It needs an `HttpClient`: `NodeTokenClient.layer()` in production, the
 * mock in tests.
 *
 * @example
 * ```ts
 * import { TokenRefresher } from "@token-refresher/core"
 * import { NodeTokenClient } from "@token-refresher/node"
 * import { Effect, Layer, Redacted } from "effect"
 *
 * const Refresher = TokenRefresher.layer({
 *   tokenUrl: "https://auth.example.com/oauth/token",
 *   clientId: "my-app",
 *   clientSecret: Redacted.make("secret")
 * }).pipe(Layer.provide(NodeTokenClient.layer()))
 *
 * const tokens = TokenRefresher.refresh(Redacted.make("saved-refresh-token")).pipe(Effect.provide(Refresher))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<TokenRefresher, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.effect(TokenRefresher, make(options))

/**
 * Options where each field is a plain value or a `Config` of it.
 *
 * @since 0.1.0
 * @category models
 */
export type OptionsConfig = { readonly [K in keyof Options]: Options[K] | Config.Config<Options[K]> }

/**
 * Reads the fields given as `Config` (from the environment by default); plain values are taken as they are.
 *
 * @since 0.1.0
 * @category config
 */
export const config = (options: OptionsConfig): Config.Config<Options> =>
  Config.all(
    Object.fromEntries(
      Object.entries(options).map(([key, value]) => [key, Config.isConfig(value) ? value : Config.succeed(value)])
    )
  ) as unknown as Config.Config<Options>

/**
 * The service with options read from `Config`, e.g.
 * `layerConfig({ tokenUrl: "https://…", clientId: Config.string("CLIENT_ID"), clientSecret: Config.redacted("CLIENT_SECRET") })`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: OptionsConfig
): Layer.Layer<TokenRefresher, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.effect(TokenRefresher, Effect.flatMap(config(options), make))

/**
 * Exchanges a refresh token for a new `TokenSet`, with the `TokenRefresher` in context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const refresh = (
  refreshToken: Redacted.Redacted<string>,
  options?: RefreshOptions
): Effect.Effect<TokenSet, RefreshError, TokenRefresher> =>
  Effect.flatMap(TokenRefresher, (service) => service.refresh(refreshToken, options))

/**
 * Gets an app token (client credentials), with the `TokenRefresher` in context.
 *
 * @since 0.3.0
 * @category accessors
 */
export const clientCredentials = (
  options?: ClientCredentialsOptions
): Effect.Effect<TokenSet, RefreshError, TokenRefresher> =>
  Effect.flatMap(TokenRefresher, (service) => service.clientCredentials(options))

/**
 * Revokes a token (RFC 7009), with the `TokenRefresher` in context.
 *
 * @since 0.3.0
 * @category accessors
 */
export const revoke = (
  token: Redacted.Redacted<string>,
  options?: RevokeOptions
): Effect.Effect<void, RevokeError, TokenRefresher> =>
  Effect.flatMap(TokenRefresher, (service) => service.revoke(token, options))

/**
 * Starts a device login, with the `TokenRefresher` in context.
 *
 * @since 0.6.0
 * @category accessors
 */
export const deviceAuthorization = (
  options?: DeviceAuthorizationOptions
): Effect.Effect<DeviceAuthorization, RefreshError | DeviceAuthorizationError, TokenRefresher> =>
  Effect.flatMap(TokenRefresher, (service) => service.deviceAuthorization(options))

/**
 * Polls for a device login's tokens, with the `TokenRefresher` in context.
 *
 * @since 0.6.0
 * @category accessors
 */
export const pollDeviceToken = (
  authorization: DeviceAuthorization
): Effect.Effect<TokenSet, RefreshError | DeviceAuthorizationError, TokenRefresher> =>
  Effect.flatMap(TokenRefresher, (service) => service.pollDeviceToken(authorization))
