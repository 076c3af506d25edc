import * as Options from "@effect/cli/Options"
import { Spotify } from "@token-refresher/spotify"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { NodeTokenStore } from "@token-refresher/node"

export const storeOption = Options.text("store").pipe(
  Options.withDescription(
    "The token file. Default: $XDG_CONFIG_HOME/token-refresher/spotify.json, else ~/.config/token-refresher/spotify.json"
  ),
  Options.optional
)

export const clientIdOption = Options.text("client-id").pipe(
  Options.withDescription("The app's client id. Default: $SPOTIFY_CLIENT_ID"),
  Options.optional
)

export const accountsUrlOption = Options.text("accounts-url").pipe(
  Options.withDescription("The accounts service. Default: $SPOTIFY_ACCOUNTS_URL, else https://accounts.spotify.com"),
  Options.optional
)

export const resolveStorePath = (flag: Option.Option<string>): Effect.Effect<string> =>
  Option.match(flag, { onNone: () => NodeTokenStore.defaultPath, onSome: Effect.succeed })

/**
 * The Spotify client settings: flags first, then the environment. The secret only comes from the environment, so it
 * never shows in a process listing or a shell history.
 */
export const spotifyOptions = (flags: {
  readonly clientId: Option.Option<string>
  readonly accountsUrl: Option.Option<string>
}) =>
  Effect.gen(function* () {
    const fromEnv = yield* Config.all({
      clientSecret: Config.option(Config.redacted("SPOTIFY_CLIENT_SECRET")),
      accountsUrl: Config.option(Config.nonEmptyString("SPOTIFY_ACCOUNTS_URL"))
    })
    const clientId = Option.isSome(flags.clientId)
      ? flags.clientId.value
      : yield* Config.nonEmptyString("SPOTIFY_CLIENT_ID")
    return {
      clientId,
      clientSecret: Option.getOrUndefined(Option.filter(fromEnv.clientSecret, (s) => Redacted.value(s).length > 0)),
      accountsUrl: Option.getOrElse(
        Option.orElse(flags.accountsUrl, () => fromEnv.accountsUrl),
        () => Spotify.accountsUrl
      )
    } satisfies Spotify.Options
  })
