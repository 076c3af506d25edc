import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Provider from "../Provider.js"
import type * as TokenRefresher from "../TokenRefresher.js"
import * as Jose from "./jose.js"

export interface Resolved {
  /** The provider, with `tokenUrl` and `revocationUrl` as overridden by the options. */
  readonly provider: Provider.Provider
  readonly tokenUrl: URL
  readonly revocationUrl: URL | undefined
  readonly defaultExpiresIn: Duration.Duration | undefined
  readonly clientId: string
  readonly clientSecret: Redacted.Redacted<string> | undefined
  readonly authMethod: TokenRefresher.AuthMethod
  readonly timeout: Duration.Duration
  readonly maxRetries: number
  readonly baseDelay: Duration.Duration
  readonly maxDelay: Duration.Duration
  readonly maxRetryAfter: Duration.Duration
  readonly maxResponseBytes: number
  /** The key that signs client assertions (`private_key_jwt`, `client_secret_jwt`). */
  readonly assertionKey: Jose.AssertionKey | undefined
  /** The audience of client assertions: the issuer when known, else the token endpoint. */
  readonly audience: string
  /** DPoP's key algorithm, when DPoP is on. */
  readonly dpop: Jose.DpopAlg | undefined
}

const invalid = (path: string, message: string) => Effect.fail(ConfigError.InvalidData([path], message))

export const loopback = (hostname: string): boolean =>
  hostname === "localhost" || hostname === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)

const parseUrl = (input: string | URL, path = "tokenUrl"): Effect.Effect<URL, ConfigError.ConfigError> => {
  let url: URL
  try {
    url = new URL(input)
  } catch {
    return invalid(path, `${path} is not a valid URL: ${JSON.stringify(String(input))}`)
  }
  if (url.username !== "" || url.password !== "") {
    return invalid(path, `${path} must not contain credentials: pass clientId and clientSecret instead`)
  }
  if (url.protocol === "https:") return Effect.succeed(url)
  if (url.protocol === "http:" && loopback(url.hostname)) return Effect.succeed(url)
  return invalid(
    path,
    `${path} must use https (http is allowed only for loopback hosts), got ${url.protocol}//${url.host}`
  )
}

const duration = (
  path: string,
  input: Duration.DurationInput | undefined,
  fallback: Duration.DurationInput,
  allowZero: boolean
): Effect.Effect<Duration.Duration, ConfigError.ConfigError> => {
  const decoded = Duration.decodeUnknown(input ?? fallback)
  if (decoded._tag === "None" || !Duration.isFinite(decoded.value)) {
    return invalid(path, `${path} must be a finite duration`)
  }
  if (!allowZero && Duration.toMillis(decoded.value) <= 0) return invalid(path, `${path} must be longer than zero`)
  return Effect.succeed(decoded.value)
}

export const resolve = (options: TokenRefresher.Options): Effect.Effect<Resolved, ConfigError.ConfigError> =>
  Effect.gen(function* () {
    const rawTokenUrl = options.tokenUrl ?? options.provider?.tokenUrl
    if (rawTokenUrl === undefined) return yield* invalid("tokenUrl", "tokenUrl or provider is required")
    const tokenUrl = yield* parseUrl(rawTokenUrl)
    const rawRevocationUrl = options.revocationUrl ?? options.provider?.revocationUrl
    const revocationUrl =
      rawRevocationUrl === undefined ? undefined : yield* parseUrl(rawRevocationUrl, "revocationUrl")
    const provider: Provider.Provider = {
      ...(options.provider ?? {
        name: tokenUrl.host,
        rotatesRefreshTokens: false,
        refreshTokenIdleTimeout: Option.none(),
        deviceAuthorizationUrl: Option.none()
      }),
      tokenUrl: tokenUrl.toString(),
      revocationUrl: revocationUrl?.toString()
    }
    const rawDefaultExpiresIn = options.defaultExpiresIn ?? provider.defaultExpiresIn
    if (options.clientId.length === 0) return yield* invalid("clientId", "clientId must not be empty")
    const secret = options.clientSecret
    const authMethod =
      options.authMethod ??
      (options.clientAssertionKey !== undefined
        ? "private_key_jwt"
        : secret === undefined
          ? "none"
          : (provider.authMethod ?? "client_secret_basic"))
    if (
      authMethod !== "none" &&
      authMethod !== "private_key_jwt" &&
      (secret === undefined || Redacted.value(secret).length === 0)
    ) {
      return yield* invalid("clientSecret", `authMethod ${authMethod} needs a clientSecret`)
    }
    if (authMethod === "private_key_jwt" && options.clientAssertionKey === undefined) {
      return yield* invalid("clientAssertionKey", "authMethod private_key_jwt needs a clientAssertionKey")
    }
    // a server that lists its methods (discovery) is taken at its word; public clients (`none`) are often unlisted
    const supported = provider.authMethodsSupported
    if (authMethod !== "none" && supported !== undefined && !supported.includes(authMethod)) {
      return yield* invalid(
        "authMethod",
        `authMethod ${authMethod} is not one the server supports (its token_endpoint_auth_methods_supported: ${
          supported.length === 0 ? "none listed" : supported.join(", ")
        })`
      )
    }
    const assertionKey =
      authMethod === "private_key_jwt"
        ? yield* Jose.importAssertionKey(
            options.clientAssertionKey!,
            options.clientAssertionAlg,
            options.clientAssertionKid
          )
        : authMethod === "client_secret_jwt"
          ? Jose.secretKey(secret!)
          : undefined
    const dpop: Jose.DpopAlg | undefined =
      options.dpop === undefined || options.dpop === false
        ? undefined
        : options.dpop === true
          ? "ES256"
          : (options.dpop.alg ?? "ES256")
    const retry = options.retry ?? {}
    const maxRetries = retry.maxRetries ?? 3
    if (!Number.isSafeInteger(maxRetries) || maxRetries < 0) {
      return yield* invalid("retry.maxRetries", "retry.maxRetries must be a whole number of at least 0")
    }
    const maxResponseBytes = options.maxResponseBytes ?? 1024 * 1024
    if (!Number.isSafeInteger(maxResponseBytes) || maxResponseBytes < 1024) {
      return yield* invalid("maxResponseBytes", "maxResponseBytes must be a whole number of at least 1024")
    }
    return {
      assertionKey,
      audience: provider.issuer ?? tokenUrl.toString(),
      dpop,
      maxResponseBytes,
      provider,
      tokenUrl,
      revocationUrl,
      defaultExpiresIn:
        rawDefaultExpiresIn === undefined
          ? undefined
          : yield* duration("defaultExpiresIn", rawDefaultExpiresIn, rawDefaultExpiresIn, false),
      clientId: options.clientId,
      clientSecret: authMethod === "none" || authMethod === "private_key_jwt" ? undefined : secret,
      authMethod,
      timeout: yield* duration("timeout", options.timeout, "10 seconds", false),
      maxRetries,
      baseDelay: yield* duration("retry.baseDelay", retry.baseDelay, "250 millis", true),
      maxDelay: yield* duration("retry.maxDelay", retry.maxDelay, "10 seconds", true),
      maxRetryAfter: yield* duration("retry.maxRetryAfter", retry.maxRetryAfter, "60 seconds", true)
    }
  })
