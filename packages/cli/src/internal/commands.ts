import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { TokenManager, TokenStore } from "@token-refresher/core"
import type { TokenSet } from "@token-refresher/core"
import { Spotify } from "@token-refresher/spotify"
import { FakeAuthorizationServer } from "@token-refresher/testing"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { NodeTokenStore } from "@token-refresher/node"
import { login } from "./login.js"
import { accountsUrlOption, clientIdOption, resolveStorePath, spotifyOptions, storeOption } from "./settings.js"

/** A failure with the store path it happened with, so the advice can name the file. */
export class CommandFailure {
  readonly _tag = "CommandFailure"
  constructor(
    readonly error: unknown,
    readonly storePath: string | undefined
  ) {}
}

/** Runs `f` with the store path from `--store` (or the default); its failures carry the path for the advice. */
const withStore = <A, E, R>(flag: Option.Option<string>, f: (storePath: string) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(resolveStorePath(flag), (storePath) =>
    Effect.mapError(f(storePath), (error) => new CommandFailure(error, storePath))
  )

/** The flags of every command that talks to the accounts service. */
const clientFlags = { store: storeOption, clientId: clientIdOption, accountsUrl: accountsUrlOption }

const refresherLayer = (spotify: Spotify.Options) =>
  Spotify.layer(spotify).pipe(Layer.provide(NodeHttpClient.layerUndici))

const storeLayer = (storePath: string) =>
  NodeTokenStore.layerFile(storePath).pipe(TokenStore.seeded(Config.redacted("SPOTIFY_REFRESH_TOKEN")))

const managerLayer = (spotify: Spotify.Options, storePath: string) =>
  TokenManager.layer().pipe(Layer.provideMerge(storeLayer(storePath)), Layer.provide(refresherLayer(spotify)))

/** "42 min", "3 h 5 min", "50 s". */
export const formatDuration = (millis: number): string => {
  const seconds = Math.round(Math.abs(millis) / 1000)
  if (seconds < 90) return `${seconds} s`
  const minutes = Math.round(seconds / 60)
  if (minutes < 90) return `${minutes} min`
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`
}

const expiry = (tokens: TokenSet.TokenSet, now: DateTime.Utc): string => {
  const left = DateTime.distance(now, tokens.expiresAt)
  const at = DateTime.formatIso(tokens.expiresAt)
  return left > 0 ? `expires in ${formatDuration(left)} (at ${at})` : `expired ${formatDuration(left)} ago (at ${at})`
}

const scopes = (tokens: TokenSet.TokenSet) => (tokens.scope.length === 0 ? "(none reported)" : tokens.scope.join(" "))

const printSaved = (title: string, storePath: string, tokens: TokenSet.TokenSet) =>
  Effect.gen(function* () {
    const now = yield* DateTime.now
    yield* Console.log(`${title}. Tokens saved to ${storePath}`)
    yield* Console.log(`  access token ${expiry(tokens, now)}`)
    yield* Console.log(`  scopes: ${scopes(tokens)}`)
  })

const login_ = Command.make(
  "login",
  {
    scope: Options.text("scope").pipe(
      Options.withDescription(
        "Scopes to ask for, space- or comma-separated. Default: user-read-private user-read-email"
      ),
      Options.withDefault("user-read-private user-read-email")
    ),
    port: Options.integer("port").pipe(
      Options.withDescription(
        "The loopback port of the redirect http://127.0.0.1:<port>/callback (register it for your app). 0 picks a free one"
      ),
      Options.withDefault(8888)
    ),
    timeout: Options.integer("timeout").pipe(
      Options.withDescription("Seconds to wait for the redirect"),
      Options.withDefault(300)
    ),
    ...clientFlags
  },
  (flags) =>
    withStore(flags.store, (storePath) =>
      Effect.gen(function* () {
        const spotify = yield* spotifyOptions(flags)
        const tokens = yield* login({
          clientId: spotify.clientId,
          accountsUrl: spotify.accountsUrl,
          port: flags.port,
          scope: flags.scope.split(/[\s,]+/).filter((s) => s.length > 0),
          timeout: Duration.seconds(flags.timeout),
          storePath
        }).pipe(Effect.provide(Layer.merge(refresherLayer(spotify), NodeTokenStore.layerFile(storePath))))
        yield* printSaved("Logged in", storePath, tokens)
      })
    )
).pipe(Command.withDescription("Log in (authorization code with PKCE) and save the tokens to the store"))

const token = Command.make("token", clientFlags, (flags) =>
  withStore(flags.store, (storePath) =>
    Effect.gen(function* () {
      const spotify = yield* spotifyOptions(flags)
      const accessToken = yield* Effect.flatMap(TokenManager.TokenManager, (manager) => manager.accessToken).pipe(
        Effect.provide(managerLayer(spotify, storePath))
      )
      yield* Console.log(Redacted.value(accessToken))
    })
  )
).pipe(
  Command.withDescription(
    'Print a valid access token and nothing else, refreshing and saving when needed: curl -H "Authorization: Bearer $(token-refresher token)" …'
  )
)

const refresh = Command.make(
  "refresh",
  {
    showTokens: Options.boolean("show-tokens").pipe(
      Options.withDescription("Also print the new access and refresh tokens")
    ),
    ...clientFlags
  },
  (flags) =>
    withStore(flags.store, (storePath) =>
      Effect.gen(function* () {
        const spotify = yield* spotifyOptions(flags)
        const { before, after } = yield* Effect.gen(function* () {
          const manager = yield* TokenManager.TokenManager
          const before = yield* manager.current
          const after = yield* manager.refreshNow
          return { before, after }
        }).pipe(Effect.provide(managerLayer(spotify, storePath)))
        const rotated = Option.match(before, {
          onNone: () => false,
          onSome: (b) => !Equal.equals(b.refreshToken, after.refreshToken)
        })
        yield* printSaved("Refreshed", storePath, after)
        yield* Console.log(`  refresh token: ${rotated ? "rotated (the new one is saved)" : "unchanged"}`)
        if (flags.showTokens) {
          yield* Console.log(
            `  access_token: ${Option.match(after.accessToken, { onNone: () => "none", onSome: Redacted.value })}`
          )
          yield* Console.log(
            `  refresh_token: ${Option.match(after.refreshToken, { onNone: () => "none", onSome: Redacted.value })}`
          )
        }
      })
    )
).pipe(Command.withDescription("Refresh now and print a summary (never the tokens, unless --show-tokens)"))

const status = Command.make("status", { store: storeOption }, (flags) =>
  withStore(flags.store, (storePath) =>
    Effect.gen(function* () {
      const file = yield* NodeTokenStore.fileStatus(storePath)
      if (!file.exists) {
        yield* Console.log(`Token store: ${file.path} (no file yet)`)
        return yield* Effect.fail({ _tag: "NoToken" as const })
      }
      yield* Console.log(`Token store: ${file.path} (mode 0${(file.mode ?? 0).toString(8)})`)
      if (file.tooOpen) yield* Console.log(`  warning: other users may read it: run chmod 600 ${file.path}`)
      const stored = yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.get(TokenStore.defaultKey)).pipe(
        Effect.provide(NodeTokenStore.layerFile(storePath))
      )
      if (Option.isNone(stored)) return yield* Effect.fail({ _tag: "NoToken" as const })
      const tokens = stored.value
      const now = yield* DateTime.now
      const hasAccess = Option.exists(tokens.accessToken, (token) => Redacted.value(token).length > 0)
      yield* Console.log(
        `  access token: ${hasAccess ? expiry(tokens, now) : "none yet (seeded; the first use refreshes)"}`
      )
      yield* Console.log(`  scopes: ${scopes(tokens)}`)
      yield* Console.log(`  refresh token: present`)
    })
  )
).pipe(Command.withDescription("Show what is stored: file, permissions, expiry and scopes (never the tokens)"))

const fakeServer = Command.make(
  "fake-server",
  {
    port: Options.integer("port").pipe(
      Options.withDescription("Port on 127.0.0.1; 0 picks a free one"),
      Options.withDefault(0)
    ),
    rotate: Options.boolean("rotate").pipe(
      Options.withDescription("Return a new refresh token on every refresh and reject the old one")
    ),
    lifetime: Options.integer("lifetime").pipe(
      Options.withDescription("Access-token lifetime in seconds"),
      Options.withDefault(3600)
    )
  },
  (flags) =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* FakeAuthorizationServer.make({
          port: flags.port,
          rotate: flags.rotate,
          accessTokenLifetime: Duration.seconds(flags.lifetime)
        })
        const issued = yield* server.issueTokens()
        const client = FakeAuthorizationServer.confidentialClient
        yield* Console.log(`Fake Spotify accounts server on ${server.url}`)
        yield* Console.log(
          `  rotation ${flags.rotate ? "on" : "off"}, access tokens live ${flags.lifetime} s; Web API at ${server.apiUrl}/me`
        )
        yield* Console.log(`Point token-refresher (or your app) at it:`)
        yield* Console.log(`  export SPOTIFY_ACCOUNTS_URL=${server.url}`)
        yield* Console.log(`  export SPOTIFY_CLIENT_ID=${client.clientId}`)
        yield* Console.log(`  export SPOTIFY_CLIENT_SECRET=${client.clientSecret}`)
        yield* Console.log(`  export SPOTIFY_REFRESH_TOKEN=${Redacted.value(issued.refreshToken)}`)
        yield* Console.log(
          `Logins are approved at once (public client: ${FakeAuthorizationServer.publicClient.clientId}). Ctrl-C stops it.`
        )
        return yield* Effect.never
      })
    )
).pipe(Command.withDescription("Run a local fake of Spotify's accounts service, for trying things without credentials"))

export const command = Command.make("token-refresher").pipe(
  Command.withDescription(
    "Keep a Spotify access token fresh: log in once, then get a valid token whenever you need one"
  ),
  Command.withSubcommands([login_, token, refresh, status, fakeServer])
)
