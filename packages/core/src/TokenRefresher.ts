/**
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type { RefreshError } from "./Errors.js"
import * as internal from "./internal/tokenRefresher.js"
import type { TokenSet } from "./TokenSet.js"

/**
 * How the client authenticates to the token endpoint (RFC 6749 §2.3, OpenID Connect names).
 *
 * - `client_secret_basic`: `Authorization: Basic base64(urlencode(id):urlencode(secret))`.
 * - `client_secret_post`: `client_id` and `client_secret` in the form body.
 * - `none`: a public client (PKCE): `client_id` in the body, no secret.
 *
 * @since 0.1.0
 * @category models
 */
export type AuthMethod = "client_secret_basic" | "client_secret_post" | "none"

/**
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
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The token endpoint. Must be https; http is accepted for loopback hosts only. */
  readonly tokenUrl: string | URL
  /** The OAuth client id. */
  readonly clientId: string
  /** The client secret of a confidential client. Omit it for a public (PKCE) client. */
  readonly clientSecret?: Redacted.Redacted<string> | undefined
  /** Default: `client_secret_basic` with a secret, `none` without. */
  readonly authMethod?: AuthMethod | undefined
  /** The limit for one attempt (request and response body). Default: 10 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
  /** Backoff for transport failures, timeouts, 408, 429 and 5xx. */
  readonly retry?: RetryOptions | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface RefreshOptions {
  /** Ask for a subset of the granted scopes (RFC 6749 §6). Default: the scopes granted before. */
  readonly scope?: ReadonlyArray<string> | undefined
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
   * and errors as `refresh`. An answer without a refresh token is a `DecodeError`.
   */
  readonly exchangeCode: (code: CodeExchange) => Effect.Effect<TokenSet, RefreshError>
}

/**
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
 * @since 0.1.0
 * @category accessors
 */
export const refresh = (
  refreshToken: Redacted.Redacted<string>,
  options?: RefreshOptions
): Effect.Effect<TokenSet, RefreshError, TokenRefresher> =>
  Effect.flatMap(TokenRefresher, (service) => service.refresh(refreshToken, options))
