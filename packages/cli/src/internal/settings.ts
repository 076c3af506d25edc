import * as Options from "@effect/cli/Options"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Provider } from "@token-refresher/core"
import type { Errors } from "@token-refresher/core"
import { NodeTokenStore } from "@token-refresher/node"
import { Providers } from "@token-refresher/providers"
import { Spotify } from "@token-refresher/spotify"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

export const providerNames = ["spotify", ...Providers.all.map((provider) => provider.name)] as const

export const storeOption = Options.text("store").pipe(
  Options.withDescription(
    "The token file. Default: $XDG_CONFIG_HOME/token-refresher/<provider>.json, else ~/.config/token-refresher/<provider>.json"
  ),
  Options.optional
)

export const clientIdOption = Options.text("client-id").pipe(
  Options.withDescription(
    "The app's client id. Default: $<PROVIDER>_CLIENT_ID ($SPOTIFY_CLIENT_ID, $OAUTH_CLIENT_ID with --issuer)"
  ),
  Options.optional
)

export const accountsUrlOption = Options.text("accounts-url").pipe(
  Options.withDescription(
    "Spotify's accounts service. Default: $SPOTIFY_ACCOUNTS_URL, else https://accounts.spotify.com"
  ),
  Options.optional
)

export const providerOption = Options.choice("provider", providerNames).pipe(
  Options.withDescription("The provider (a preset). Default: spotify"),
  Options.optional
)

export const issuerOption = Options.text("issuer").pipe(
  Options.withDescription(
    "Find the provider by discovery (OpenID Connect, RFC 8414) at this issuer URL, instead of --provider"
  ),
  Options.optional
)

/** The flags of every command that talks to a provider. */
export const clientFlags = {
  store: storeOption,
  clientId: clientIdOption,
  accountsUrl: accountsUrlOption,
  provider: providerOption,
  issuer: issuerOption
}

export interface ClientFlags {
  readonly store: Option.Option<string>
  readonly clientId: Option.Option<string>
  readonly accountsUrl: Option.Option<string>
  readonly provider: Option.Option<string>
  readonly issuer: Option.Option<string>
}

/** Who the CLI talks to and where the session lives. */
export interface Location {
  readonly provider: Provider.Provider
  /** `SPOTIFY`, `GOOGLE`, …, `OAUTH` for a discovered provider: the prefix of the environment variables. */
  readonly envPrefix: string
  /** The session's key in the store: the provider's name. */
  readonly key: string
  readonly storePath: string
}

/** The location, and as whom. */
export interface Settings extends Location {
  readonly clientId: string
  readonly clientSecret: Redacted.Redacted<string> | undefined
}

/** A file name from a provider name (a discovered one is the issuer's host, port included). */
const fileName = (name: string) => `${name.toLowerCase().replace(/[^a-z0-9.-]+/g, "_")}.json`

export const resolveStorePath = (flag: Option.Option<string>, providerName: string): Effect.Effect<string> =>
  Option.match(flag, {
    onNone: () => Effect.sync(() => NodeTokenStore.configFile(fileName(providerName))),
    onSome: Effect.succeed
  })

const invalid = (path: string, message: string) => Effect.fail(ConfigError.InvalidData([path], message))

const loopbackHosts = new Set(["127.0.0.1", "[::1]", "localhost"])

/** A URL given on the command line or in the environment: https, or http on loopback, named as the user gave it. */
const checkUrl = (source: string, value: string): Effect.Effect<void, ConfigError.ConfigError> => {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return invalid(source, `${source} is not a URL: ${JSON.stringify(value)}`)
  }
  return url.protocol === "https:" || (url.protocol === "http:" && loopbackHosts.has(url.hostname))
    ? Effect.void
    : invalid(
        source,
        `${source} must be https (http only for 127.0.0.1, [::1] or localhost), got ${url.protocol}//${url.host}`
      )
}

/** Where the provider comes from: `--issuer` (discovery), else `--provider` (default Spotify). */
const resolveProvider = (
  flags: ClientFlags
): Effect.Effect<
  { readonly provider: Provider.Provider; readonly envPrefix: string },
  ConfigError.ConfigError | Errors.DiscoveryError
> =>
  Effect.gen(function* () {
    if (Option.isSome(flags.issuer)) {
      if (Option.isSome(flags.provider)) return yield* invalid("provider", "give --provider or --issuer, not both")
      const provider = yield* Provider.discover(flags.issuer.value).pipe(Effect.provide(NodeHttpClient.layerUndici))
      return { provider, envPrefix: "OAUTH" }
    }
    const name = Option.getOrElse(flags.provider, () => "spotify")
    if (name === "spotify") {
      const [source, accountsUrl] = Option.isSome(flags.accountsUrl)
        ? ["--accounts-url", flags.accountsUrl.value]
        : [
            "SPOTIFY_ACCOUNTS_URL",
            yield* Config.nonEmptyString("SPOTIFY_ACCOUNTS_URL").pipe(Config.withDefault(Spotify.accountsUrl))
          ]
      yield* checkUrl(source, accountsUrl)
      return { provider: Spotify.providerAt(accountsUrl), envPrefix: "SPOTIFY" }
    }
    const preset = Providers.byName(name)
    if (preset === undefined) return yield* invalid("provider", `unknown provider "${name}"`)
    return { provider: preset, envPrefix: name.toUpperCase() }
  })

/** The provider, the session's key and the store's path, from the flags and the environment. */
export const locate = (flags: ClientFlags): Effect.Effect<Location, ConfigError.ConfigError | Errors.DiscoveryError> =>
  Effect.gen(function* () {
    const { envPrefix, provider } = yield* resolveProvider(flags)
    return { provider, envPrefix, key: provider.name, storePath: yield* resolveStorePath(flags.store, provider.name) }
  })

/**
 * The client settings: flags first, then the environment. The secret only comes from the environment
 * (`<PROVIDER>_CLIENT_SECRET`), so it never shows in a process listing or a shell history.
 */
export const settings = (
  flags: ClientFlags
): Effect.Effect<Settings, ConfigError.ConfigError | Errors.DiscoveryError> =>
  Effect.gen(function* () {
    const location = yield* locate(flags)
    const clientId = Option.isSome(flags.clientId)
      ? flags.clientId.value
      : yield* Config.nonEmptyString(`${location.envPrefix}_CLIENT_ID`)
    const secret = yield* Config.option(Config.redacted(`${location.envPrefix}_CLIENT_SECRET`))
    return {
      ...location,
      clientId,
      clientSecret: Option.getOrUndefined(Option.filter(secret, (s) => Redacted.value(s).length > 0))
    }
  })
