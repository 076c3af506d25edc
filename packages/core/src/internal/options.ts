import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Provider from "../Provider.js"
import type * as TokenRefresher from "../TokenRefresher.js"

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
        refreshTokenIdleTimeout: Option.none()
      }),
      tokenUrl: tokenUrl.toString(),
      revocationUrl: revocationUrl?.toString()
    }
    const rawDefaultExpiresIn = options.defaultExpiresIn ?? provider.defaultExpiresIn
    if (options.clientId.length === 0) return yield* invalid("clientId", "clientId must not be empty")
    const secret = options.clientSecret
    const authMethod =
      options.authMethod ?? (secret === undefined ? "none" : (provider.authMethod ?? "client_secret_basic"))
    if (authMethod !== "none" && (secret === undefined || Redacted.value(secret).length === 0)) {
      return yield* invalid("clientSecret", `authMethod ${authMethod} needs a clientSecret`)
    }
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
      maxResponseBytes,
      provider,
      tokenUrl,
      revocationUrl,
      defaultExpiresIn:
        rawDefaultExpiresIn === undefined
          ? undefined
          : yield* duration("defaultExpiresIn", rawDefaultExpiresIn, rawDefaultExpiresIn, false),
      clientId: options.clientId,
      clientSecret: authMethod === "none" ? undefined : secret,
      authMethod,
      timeout: yield* duration("timeout", options.timeout, "10 seconds", false),
      maxRetries,
      baseDelay: yield* duration("retry.baseDelay", retry.baseDelay, "250 millis", true),
      maxDelay: yield* duration("retry.maxDelay", retry.maxDelay, "10 seconds", true),
      maxRetryAfter: yield* duration("retry.maxRetryAfter", retry.maxRetryAfter, "60 seconds", true)
    }
  })
