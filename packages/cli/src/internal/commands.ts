import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import {
  Errors,
  Session,
  SessionKeeper,
  TokenManager,
  TokenRefresher,
  TokenSessions,
  TokenStore
} from "@token-refresher/core"
import type { TokenSet } from "@token-refresher/core"
import { NodeTokenStore } from "@token-refresher/node"
import { Spotify } from "@token-refresher/spotify"
import { FakeAuthorizationServer } from "@token-refresher/testing/node"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Console from "effect/Console"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import * as Layer from "effect/Layer"
import * as Match from "effect/Match"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { sanitize, SessionsRejected } from "./errors.js"
import { deviceLogin, login } from "./login.js"
import { clientFlags, type Location, locate, type Settings, settings } from "./settings.js"

/**
 * A whole-number flag whose error names the flag and reads well ("--port must be an integer, got 'abc'"), where
 * `Options.integer` says "'abc' is not a integer".
 */
const integerOption = (name: string) =>
  Options.text(name).pipe(
    Options.withPseudoName("integer"),
    Options.mapEffect((text) =>
      /^-?\d+$/.test(text.trim())
        ? Effect.succeed(Number(text.trim()))
        : Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--${name} must be an integer, got '${text}'`)))
    )
  )

/** What a failure happened with, so the advice can name the file, the provider and its variables. */
export interface FailureContext {
  readonly storePath?: string | undefined
  readonly provider?: string | undefined
  readonly envPrefix?: string | undefined
}

/** A failure with its context. */
export class CommandFailure {
  readonly _tag = "CommandFailure"
  constructor(
    readonly error: unknown,
    readonly context: FailureContext
  ) {}
}

/** Runs `f` with what `resolve` finds (flags, then environment); its failures carry it for the advice. */
const within = <S extends Location, E1, A, E, R>(
  resolve: Effect.Effect<S, E1>,
  f: (settings: S) => Effect.Effect<A, E, R>
) =>
  Effect.flatMap(
    Effect.mapError(resolve, (error) => new CommandFailure(error, {})),
    (resolved) =>
      Effect.mapError(
        f(resolved),
        (error) =>
          new CommandFailure(error, {
            storePath: resolved.storePath,
            provider: resolved.provider.name,
            envPrefix: resolved.envPrefix
          })
      )
  )

const refresherLayer = (settings: Settings) =>
  TokenRefresher.layer({
    provider: settings.provider,
    clientId: settings.clientId,
    clientSecret: settings.clientSecret
  }).pipe(Layer.provide(NodeHttpClient.layerUndici))

/**
 * The file store, seeded from `<PROVIDER>_REFRESH_TOKEN` if the session is still empty. Spotify's session (the key
 * `Spotify.sessionKey`) is first moved from the key `default`, where 0.2 kept it.
 */
const storeLayer = (settings: Settings) => {
  const file = NodeTokenStore.layerFile(settings.storePath)
  return settings.provider.name === "spotify" && settings.key === Spotify.sessionKey
    ? Spotify.seedFromEnv(file)
    : file.pipe(TokenStore.seeded(Config.redacted(`${settings.envPrefix}_REFRESH_TOKEN`), { key: settings.key }))
}

const managerLayer = (settings: Settings) =>
  TokenManager.layer({ key: settings.key }).pipe(
    Layer.provideMerge(storeLayer(settings)),
    Layer.provide(refresherLayer(settings))
  )

/** "42 min", "3 h 5 min", "50 s", "12 days". */
export const formatDuration = (millis: number): string => {
  const seconds = Math.round(Math.abs(millis) / 1000)
  if (seconds < 90) return `${seconds} s`
  const minutes = Math.round(seconds / 60)
  if (minutes < 90) return `${minutes} min`
  const hours = Math.floor(minutes / 60)
  if (hours < 48) return `${hours} h ${minutes % 60} min`
  return `${Math.round(hours / 24)} days`
}

const expiry = (tokens: TokenSet.TokenSet, now: DateTime.Utc): string => {
  const left = DateTime.distance(now, tokens.expiresAt)
  const at = DateTime.formatIso(tokens.expiresAt)
  return left > 0 ? `expires in ${formatDuration(left)} (at ${at})` : `expired ${formatDuration(left)} ago (at ${at})`
}

const refreshTokenLine = (tokens: TokenSet.TokenSet, now: DateTime.Utc): string =>
  Option.isNone(tokens.refreshToken)
    ? "none (log in again when the access token expires)"
    : Option.match(tokens.refreshTokenExpiresAt, {
        onNone: () => "present, no known end",
        onSome: (end) => {
          const left = DateTime.distance(now, end)
          const at = DateTime.formatIso(end)
          return left > 0
            ? `present, ends in ${formatDuration(left)} (at ${at}); log in again before then`
            : `present, ended ${formatDuration(left)} ago (at ${at}): log in again`
        }
      })

/** What the provider said when it refused the session, from the store: safe for a terminal. */
const providerAnswer = (error: Errors.InvalidGrant): string =>
  `invalid_grant (HTTP ${error.status})${error.description === undefined ? "" : `: ${sanitize(error.description)}`}`

const scopes = (tokens: TokenSet.TokenSet) => (tokens.scope.length === 0 ? "(none reported)" : tokens.scope.join(" "))

const printSaved = (title: string, storePath: string, tokens: TokenSet.TokenSet) =>
  Effect.gen(function* () {
    const now = yield* DateTime.now
    yield* Console.log(`${title}. Tokens saved to ${storePath}`)
    yield* Console.log(`  access token ${expiry(tokens, now)}`)
    yield* Console.log(`  refresh token: ${refreshTokenLine(tokens, now)}`)
    yield* Console.log(`  scopes: ${scopes(tokens)}`)
  })

const scopeList = (text: string) => text.split(/[\s,]+/).filter((s) => s.length > 0)

const login_ = Command.make(
  "login",
  {
    scope: Options.text("scope").pipe(
      Options.withDescription(
        "Scopes to ask for, space- or comma-separated. Default: user-read-private user-read-email (Spotify), none for other providers"
      ),
      Options.optional
    ),
    port: integerOption("port").pipe(
      Options.withDescription(
        "The loopback port of the redirect http://127.0.0.1:<port>/callback (register it for your app); 0 picks a free one. Default: 8888"
      ),
      Options.withDefault(8888)
    ),
    timeout: integerOption("timeout").pipe(
      Options.withDescription("Seconds to wait for the redirect. Default: 300"),
      Options.withDefault(300)
    ),
    device: Options.boolean("device").pipe(
      Options.withDescription(
        "Log in with the device flow (RFC 8628): no browser here, no redirect; the user enters a code on another device"
      )
    ),
    ...clientFlags
  },
  (flags) =>
    within(settings(flags), (settings) =>
      Effect.gen(function* () {
        if (!Number.isSafeInteger(flags.timeout) || flags.timeout <= 0) {
          return yield* Effect.fail(
            ConfigError.InvalidData(["--timeout"], "--timeout must be a whole number of seconds above 0")
          )
        }
        if (flags.port < 0 || flags.port > 65535) {
          return yield* Effect.fail(
            ConfigError.InvalidData(["--port"], "--port must be from 0 to 65535 (0 picks a free one)")
          )
        }
        const scope = Option.match(flags.scope, {
          onNone: () => (settings.provider.name === "spotify" ? ["user-read-private", "user-read-email"] : []),
          onSome: scopeList
        })
        const Stack = Layer.merge(refresherLayer(settings), NodeTokenStore.layerFile(settings.storePath))
        const tokens = flags.device
          ? yield* deviceLogin({ provider: settings.provider, key: settings.key, scope }).pipe(Effect.provide(Stack))
          : yield* login({
              provider: settings.provider,
              clientId: settings.clientId,
              key: settings.key,
              port: flags.port,
              scope,
              timeout: Duration.seconds(flags.timeout)
            }).pipe(Effect.provide(Stack))
        yield* printSaved("Logged in", settings.storePath, tokens)
      })
    )
).pipe(Command.withDescription("Log in (authorization code with PKCE) and save the tokens to the store"))

const token = Command.make(
  "token",
  {
    clientCredentials: Options.boolean("client-credentials").pipe(
      Options.withDescription("Print an app token (the client-credentials grant: no user, needs the client secret)")
    ),
    scope: Options.text("scope").pipe(
      Options.withDescription("With --client-credentials: the scopes to ask for, space- or comma-separated"),
      Options.withDefault("")
    ),
    ...clientFlags
  },
  (flags) =>
    within(settings(flags), (settings) =>
      Effect.gen(function* () {
        const manager = flags.clientCredentials
          ? TokenManager.layerClientCredentialsStore({
              scope: scopeList(flags.scope),
              key: `${settings.key}:${TokenManager.clientCredentialsKey(scopeList(flags.scope))}`
            }).pipe(
              Layer.provide(NodeTokenStore.layerFile(settings.storePath)),
              Layer.provide(refresherLayer(settings))
            )
          : managerLayer(settings)
        const accessToken = yield* Effect.flatMap(TokenManager.TokenManager, (m) => m.accessToken).pipe(
          Effect.provide(manager)
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
    within(settings(flags), (settings) =>
      Effect.gen(function* () {
        const { after, before } = yield* Effect.gen(function* () {
          const manager = yield* TokenManager.TokenManager
          const before = yield* manager.current
          const after = yield* manager.refreshNow
          return { before, after }
        }).pipe(Effect.provide(managerLayer(settings)))
        const rotated = Option.isSome(before) && !Equal.equals(Session.refreshToken(before.value), after.refreshToken)
        yield* printSaved("Refreshed", settings.storePath, after)
        yield* Console.log(`  refresh token: ${rotated ? "rotated (the new one is saved)" : "unchanged"}`)
        if (flags.showTokens) {
          yield* Console.log(`  access_token: ${Redacted.value(after.accessToken)}`)
          yield* Console.log(
            `  refresh_token: ${Option.match(after.refreshToken, { onNone: () => "none", onSome: Redacted.value })}`
          )
        }
      })
    )
).pipe(Command.withDescription("Refresh now and print a summary (never the tokens, unless --show-tokens)"))

const status = Command.make("status", clientFlags, (flags) =>
  within(locate(flags), (settings) =>
    Effect.gen(function* () {
      const storePath = settings.storePath
      const file = yield* NodeTokenStore.fileStatus(storePath)
      if (!file.exists) {
        yield* Console.log(`Token store: ${file.path} (no file yet)`)
        return yield* new Errors.NoToken({})
      }
      yield* Console.log(`Token store: ${file.path} (mode 0${(file.mode ?? 0).toString(8)})`)
      if (file.tooOpen) yield* Console.log(`  warning: other users may read it: run chmod 600 ${file.path}`)
      // read only: a 0.2 file keeps Spotify's session under `default` until the next command that writes
      const stored = yield* Effect.flatMap(TokenStore.TokenStore, (store) =>
        Effect.flatMap(store.get(settings.key), (found) =>
          Option.isNone(found) && settings.provider.name === "spotify"
            ? store.get(TokenStore.defaultKey)
            : Effect.succeed(found)
        )
      ).pipe(Effect.provide(NodeTokenStore.layerFile(storePath)))
      if (Option.isNone(stored)) return yield* new Errors.NoToken({})
      const now = yield* DateTime.now
      yield* Console.log(`  provider: ${settings.provider.name}`)
      yield* Match.value(stored.value).pipe(
        Match.tagsExhaustive({
          Seeded: (seeded) =>
            Effect.all([
              Console.log("  access token: none yet (seeded; the first use refreshes)"),
              Console.log(`  seeded: ${DateTime.formatIso(seeded.seededAt)}`)
            ]),
          Active: ({ tokens }) =>
            Effect.all([
              Console.log(`  access token: ${expiry(tokens, now)}`),
              Console.log(`  refresh token: ${refreshTokenLine(tokens, now)}`),
              Option.match(tokens.authorizedAt, {
                onNone: () => Effect.void,
                onSome: (at) => Console.log(`  logged in: ${DateTime.formatIso(at)}`)
              }),
              Console.log(`  scopes: ${scopes(tokens)}`)
            ]),
          // exit 3 (log in again), with the usual advice on stderr, as when nothing is stored
          Rejected: (rejected) =>
            Effect.zipRight(
              Effect.all([
                Console.log(
                  `  session: rejected by the provider on ${DateTime.formatIso(rejected.rejectedAt)}: log in again`
                ),
                Console.log(`  provider's answer: ${providerAnswer(rejected.error)}`)
              ]),
              Effect.fail(rejected.error)
            )
        })
      )
    })
  )
).pipe(
  Command.withDescription(
    "Show what is stored: file, permissions, the session's state, expiry, the refresh token's end of life and scopes (never the tokens)"
  )
)

const logout = Command.make("logout", clientFlags, (flags) =>
  within(settings(flags), (settings) =>
    Effect.gen(function* () {
      const revocable = settings.provider.revocationUrl !== undefined
      yield* Effect.flatMap(TokenSessions.TokenSessions, (sessions) =>
        sessions.remove(settings.key, { revoke: true })
      ).pipe(
        Effect.provide(
          TokenSessions.layer().pipe(
            Layer.provide(NodeTokenStore.layerFile(settings.storePath)),
            Layer.provide(refresherLayer(settings))
          )
        )
      )
      if (revocable) {
        yield* Console.log(
          `Logged out: the refresh token was revoked at ${settings.provider.name}, and the tokens were removed from ${settings.storePath}`
        )
      } else {
        yield* Console.log(`Logged out: the tokens were removed from ${settings.storePath}.`)
        yield* Console.log(
          settings.provider.name === "spotify"
            ? `  Spotify has no way for an app to revoke a token: to end the app's access too, remove it at ${Spotify.appsPageUrl}`
            : `  ${settings.provider.name} has no revocation endpoint: to end the app's access too, remove it in your account's settings there`
        )
      }
      // a seed still in the environment would fill the empty store again at the next command
      const seed = `${settings.envPrefix}_REFRESH_TOKEN`
      const stillSet = yield* Config.option(Config.redacted(seed))
      if (Option.isSome(stillSet) && Redacted.value(stillSet.value).length > 0) {
        yield* Console.error(
          `token-refresher: ${seed} is still set, and the next command will seed the store from it again: run \`unset ${seed}\``
        )
      }
    })
  )
).pipe(
  Command.withDescription(
    "Log out: revoke the refresh token at the provider when it can (RFC 7009), then forget the tokens"
  )
)

/** One line per session, or one JSON object per line: never a token. */
const sessionLine = (status: TokenSessions.SessionStatus): string => {
  const at = (label: string, time: DateTime.Utc | undefined) =>
    time === undefined ? [] : [`${label} ${DateTime.formatIso(time)}`]
  const parts = [
    ...at("expires", status.expiresAt),
    ...at("refresh token ends", status.refreshTokenExpiresAt),
    ...at("seeded", status.seededAt),
    ...at("rejected", status.rejectedAt)
  ]
  const why = status.error === undefined ? "" : ` (${providerAnswer(status.error)})`
  return `${status.key}  ${status.state}${parts.length === 0 ? "" : `  ${parts.join(", ")}`}${why}`
}

const sessionJson = (status: TokenSessions.SessionStatus): string =>
  JSON.stringify({
    key: status.key,
    state: status.state,
    ...(status.expiresAt === undefined ? {} : { expiresAt: DateTime.formatIso(status.expiresAt) }),
    ...(status.issuedAt === undefined ? {} : { issuedAt: DateTime.formatIso(status.issuedAt) }),
    ...(status.refreshTokenExpiresAt === undefined
      ? {}
      : { refreshTokenExpiresAt: DateTime.formatIso(status.refreshTokenExpiresAt) }),
    ...(status.seededAt === undefined ? {} : { seededAt: DateTime.formatIso(status.seededAt) }),
    ...(status.rejectedAt === undefined ? {} : { rejectedAt: DateTime.formatIso(status.rejectedAt) }),
    ...(status.error === undefined ? {} : { error: { description: status.error.description ?? null } })
  })

const stateOption = Options.choice("state", ["seeded", "active", "rejected"]).pipe(
  Options.withDescription("Only the sessions in this state"),
  Options.optional
)

const jsonOption = Options.boolean("json").pipe(Options.withDescription("One JSON object per line"))

const sessions = Command.make("sessions", { state: stateOption, json: jsonOption, ...clientFlags }, (flags) =>
  within(locate(flags), (settings) =>
    Effect.gen(function* () {
      const names = { seeded: "Seeded", active: "Active", rejected: "Rejected" } as const
      const state = Option.map(flags.state, (name) => names[name])
      yield* TokenStore.allKeys().pipe(
        Stream.mapEffect((key) =>
          Effect.map(
            TokenStore.get(key),
            Option.map((session) => TokenSessions.statusOf(key, session))
          )
        ),
        Stream.filterMap((status) => Option.filter(status, (s) => Option.isNone(state) || s.state === state.value)),
        Stream.runForEach((status) => Console.log(flags.json ? sessionJson(status) : sessionLine(status)))
      )
    }).pipe(Effect.provide(NodeTokenStore.layerFile(settings.storePath)))
  )
).pipe(
  Command.withDescription(
    "List the sessions of the store: key, state, expiry, the refresh token's end, rejected since and why (never the tokens)"
  )
)

const keepAlive = Command.make(
  "keep-alive",
  {
    afterDays: integerOption("after-days").pipe(
      Options.withDescription(
        "Refresh the sessions last refreshed more than this many days ago. Default: half the provider's refresh-token idle timeout (none known: nothing is refreshed)"
      ),
      Options.optional
    ),
    json: jsonOption,
    ...clientFlags
  },
  (flags) =>
    within(settings(flags), (settings) =>
      Effect.gen(function* () {
        const report = yield* SessionKeeper.sweep({
          keepAliveAfter: Option.getOrUndefined(Option.map(flags.afterDays, Duration.days))
        }).pipe(
          Effect.provide(
            TokenSessions.layer().pipe(
              Layer.provideMerge(NodeTokenStore.layerFile(settings.storePath)),
              Layer.provideMerge(refresherLayer(settings))
            )
          )
        )
        yield* Console.log(
          flags.json
            ? JSON.stringify(report)
            : `Swept ${report.scanned} sessions in ${report.durationMillis} ms: ${report.keptAlive} kept alive, ` +
                `${report.ending} ending soon, ${report.rejected} rejected, ${report.failed} failed, ${report.skipped} skipped`
        )
        if (report.rejected > 0) return yield* new SessionsRejected({ count: report.rejected })
      })
    )
).pipe(
  Command.withDescription(
    "One keep-alive sweep (for a cron job): refresh the sessions idle for half the provider's refresh-token idle timeout, report those ending; exit 3 when the provider refused one"
  )
)

const fakeServer = Command.make(
  "fake-server",
  {
    port: integerOption("port").pipe(
      Options.withDescription("Port on 127.0.0.1; 0 picks a free one. Default: 0"),
      Options.withDefault(0)
    ),
    rotate: Options.boolean("rotate").pipe(
      Options.withDescription("Return a new refresh token on every refresh and reject the old one")
    ),
    lifetime: integerOption("lifetime").pipe(
      Options.withDescription("Access-token lifetime in seconds. Default: 3600"),
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
    [
      "Keep a Spotify (or any OAuth 2.0 provider's) access token fresh: log in once, then get a valid token whenever you need one.",
      "",
      "Environment: SPOTIFY_CLIENT_ID, SPOTIFY_CLIENT_SECRET, SPOTIFY_REFRESH_TOKEN (seeds an empty store), SPOTIFY_ACCOUNTS_URL;",
      "with --provider NAME the same as NAME_CLIENT_ID, NAME_CLIENT_SECRET, NAME_REFRESH_TOKEN; with --issuer, OAUTH_CLIENT_ID,",
      "OAUTH_CLIENT_SECRET, OAUTH_REFRESH_TOKEN; XDG_CONFIG_HOME (where the token file goes); TOKEN_REFRESHER_DEBUG=1 (full causes).",
      "",
      "Exit codes: 0 done, 2 bad command line or configuration, 3 log in again (revoked, expired or nothing stored),",
      "4 client rejected, 5 network (try again), 6 unusable server answer, 7 token file, 8 login failed, 9 cannot listen,",
      "130 Ctrl-C, 143 SIGTERM, 1 a bug."
    ].join("\n")
  ),
  Command.withSubcommands([login_, token, refresh, status, sessions, keepAlive, logout, fakeServer])
)
