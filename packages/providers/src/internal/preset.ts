import type * as HttpClient from "@effect/platform/HttpClient"
import type { Provider } from "@token-refresher/core"
import { TokenRefresher } from "@token-refresher/core"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

/** What a preset's layers give. */
export type PresetLayer = Layer.Layer<TokenRefresher.TokenRefresher, ConfigError.ConfigError, HttpClient.HttpClient>

/** What every preset's `layer` takes. */
export interface CommonOptions {
  readonly clientId: string
  readonly clientSecret?: Redacted.Redacted<string> | undefined
  readonly tokenUrl?: string | undefined
  readonly revocationUrl?: string | undefined
  readonly timeout?: Duration.DurationInput | undefined
  readonly retry?: TokenRefresher.RetryOptions | undefined
}

export const refresherOptions = (provider: Provider.Provider, options: CommonOptions): TokenRefresher.Options => ({
  provider,
  clientId: options.clientId,
  clientSecret: options.clientSecret,
  tokenUrl: options.tokenUrl,
  revocationUrl: options.revocationUrl,
  timeout: options.timeout,
  retry: options.retry
})

/** `<PREFIX>_CLIENT_ID`, and `<PREFIX>_CLIENT_SECRET` when it is set and not empty. */
export const clientConfig = (prefix: string) => ({
  clientId: Config.nonEmptyString(`${prefix}_CLIENT_ID`),
  clientSecret: Config.redacted(`${prefix}_CLIENT_SECRET`).pipe(
    Config.option,
    Config.map(Option.filter((secret) => Redacted.value(secret).length > 0)),
    Config.map(Option.getOrUndefined)
  )
})

export const makeLayers = <O extends CommonOptions>(
  providerOf: (options: O) => Provider.Provider,
  defaultConfig: Config.Config<O>
) => ({
  layer: (options: O): PresetLayer => TokenRefresher.layer(refresherOptions(providerOf(options), options)),
  layerConfig: (config?: Config.Config.Wrap<O>): PresetLayer =>
    Layer.effect(
      TokenRefresher.TokenRefresher,
      Effect.flatMap(config === undefined ? defaultConfig : Config.unwrap<O>(config), (options) =>
        TokenRefresher.make(refresherOptions(providerOf(options), options))
      )
    )
})

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/** The body as an object, when it is one. */
export const record = (body: unknown): Readonly<Record<string, unknown>> | undefined =>
  isRecord(body) ? body : undefined

/** An RFC 6749 §5.2 error answer. */
export const oauthError = (
  raw: Provider.RawResponse,
  status: number,
  error: string,
  description: unknown
): Provider.RawResponse => ({
  status,
  headers: raw.headers,
  body: typeof description === "string" ? { error, error_description: description } : { error }
})

/**
 * A transient answer (408, 429, 5xx): the core retries it as it is, so an error `normalize` leaves it alone even when
 * its body has the provider's error shape.
 */
export const isTransient = (raw: Provider.RawResponse): boolean =>
  raw.status >= 500 || raw.status === 429 || raw.status === 408
