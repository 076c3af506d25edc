/**
 * The Spotify preset: the token endpoint, layers that read the usual environment variables, and the session the
 * `token-refresher` CLI keeps.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { Provider, TokenManager, TokenRefresher, TokenStore } from "@token-refresher/core"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

/**
 * Spotify's accounts service.
 *
 * @since 0.1.0
 * @category constants
 */
export const accountsUrl = "https://accounts.spotify.com"

/**
 * Spotify's token endpoint.
 *
 * @since 0.1.0
 * @category constants
 */
export const tokenUrl = "https://accounts.spotify.com/api/token"

/**
 * Spotify's accounts service as a `Provider`, at `accountsUrl` (default `https://accounts.spotify.com`; a local fake
 * server in tests).
 *
 * From Spotify's documentation (tutorials/refreshing-tokens, tutorials/code-pkce-flow):
 * - a confidential client authenticates with HTTP Basic; a public (PKCE) client sends `client_id` in the body;
 * - a refresh may return a new refresh token, which replaces the old one (PKCE refresh tokens are single-use);
 * - since 2026 a refresh token ends six months after the user authorised the app, whatever the refreshes;
 * - there is no token revocation endpoint: users remove an app's access on their account's Apps page.
 *
 * @since 0.3.0
 * @category constructors
 */
export const providerAt = (url: string = accountsUrl): Provider.Provider => {
  const base = url.replace(/\/+$/, "")
  return Provider.make({
    name: "spotify",
    tokenUrl: `${base}/api/token`,
    authorizeUrl: `${base}/authorize`,
    authMethod: "client_secret_basic",
    rotatesRefreshTokens: true,
    refreshTokenLifetime: { from: "authorization", length: { months: 6 } }
  })
}

/**
 * Spotify's accounts service as a `Provider` (see {@link providerAt}).
 *
 * @since 0.3.0
 * @category constants
 */
export const provider: Provider.Provider = providerAt()

/**
 * Where users remove an app's access (Spotify has no revocation endpoint).
 *
 * @since 0.3.0
 * @category constants
 */
export const appsPageUrl = "https://www.spotify.com/account/apps/"

/**
 * The options of `Spotify.layer` and `Spotify.make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Your app's client id (Spotify dashboard). */
  readonly clientId: string
  /** Your app's client secret. Omit it for the PKCE (public client) flow. */
  readonly clientSecret?: Redacted.Redacted<string> | undefined
  /** Where the accounts service is; a local fake server in tests. Default: `https://accounts.spotify.com`. */
  readonly accountsUrl?: string | undefined
  /** The limit for one attempt. Default: 10 seconds. */
  readonly timeout?: TokenRefresher.Options["timeout"]
  /** Backoff for transient failures. Defaults as in `TokenRefresher.RetryOptions`. */
  readonly retry?: TokenRefresher.RetryOptions | undefined
}

/**
 * The `TokenRefresher` options for Spotify: Basic authentication with a secret, the public-client form without.
 *
 * @since 0.1.0
 * @category constructors
 */
export const options = (options: Options): TokenRefresher.Options => ({
  provider: providerAt(options.accountsUrl),
  clientId: options.clientId,
  clientSecret: options.clientSecret,
  timeout: options.timeout,
  retry: options.retry
})

/**
 * The options from the environment: `SPOTIFY_CLIENT_ID`, optional `SPOTIFY_CLIENT_SECRET` (an empty one counts as
 * absent) and optional `SPOTIFY_ACCOUNTS_URL`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  clientId: Config.nonEmptyString("SPOTIFY_CLIENT_ID"),
  clientSecret: Config.redacted("SPOTIFY_CLIENT_SECRET").pipe(
    Config.option,
    Config.map(Option.filter((secret) => Redacted.value(secret).length > 0)),
    Config.map(Option.getOrUndefined)
  ),
  accountsUrl: Config.string("SPOTIFY_ACCOUNTS_URL").pipe(Config.withDefault(accountsUrl))
})

/**
 * `TokenRefresher` for Spotify. Needs an `HttpClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  spotify: Options
): Layer.Layer<TokenRefresher.TokenRefresher, ConfigError.ConfigError, HttpClient.HttpClient> =>
  TokenRefresher.layer(options(spotify))

/**
 * `TokenRefresher` for Spotify, configured from the environment (see {@link config}); `overrides` set the timeout and
 * the retry policy. Needs an `HttpClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  overrides?: Pick<Options, "timeout" | "retry">
): Layer.Layer<TokenRefresher.TokenRefresher, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.effect(
    TokenRefresher.TokenRefresher,
    Effect.flatMap(config, (spotify) => TokenRefresher.make(options({ ...spotify, ...overrides })))
  )

/**
 * What `authorizeUrl` puts in the login URL.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuthorizeUrlOptions {
  readonly clientId: string
  /** Must be registered for the app; Spotify rejects `localhost`, use `http://127.0.0.1:<port>/…`. */
  readonly redirectUri: string
  /** Echoed back in the redirect: check it to reject redirects this login did not start. */
  readonly state: string
  readonly scope?: ReadonlyArray<string> | undefined
  /** The PKCE S256 challenge (`Pkce.make`). */
  readonly codeChallenge?: string | undefined
  /** Default: `https://accounts.spotify.com`. */
  readonly accountsUrl?: string | undefined
  /** Ask the user to approve again even if they already did. Default: false. */
  readonly showDialog?: boolean | undefined
}

/**
 * The URL that starts a login (authorization code flow, with PKCE when a challenge is given).
 *
 * @since 0.1.0
 * @category constructors
 */
export const authorizeUrl = (options: AuthorizeUrlOptions): string => {
  const params = new URLSearchParams({
    client_id: options.clientId,
    response_type: "code",
    redirect_uri: options.redirectUri,
    state: options.state
  })
  if (options.scope !== undefined && options.scope.length > 0) params.set("scope", options.scope.join(" "))
  if (options.codeChallenge !== undefined) {
    params.set("code_challenge_method", "S256")
    params.set("code_challenge", options.codeChallenge)
  }
  if (options.showDialog === true) params.set("show_dialog", "true")
  return `${(options.accountsUrl ?? accountsUrl).replace(/\/+$/, "")}/authorize?${params.toString()}`
}

/**
 * The options of `clientCredentials`.
 *
 * @since 0.3.0
 * @category models
 */
export interface ClientCredentialsOptions extends TokenManager.ClientCredentialsOptions {
  /** The app's client id and secret (a secret is required). Default: from the environment, as `layerConfig`. */
  readonly client?: Options | undefined
}

/**
 * App tokens (Spotify's client-credentials flow, for the catalogue without a user): a `TokenManager` that gets a token
 * on first use and a new one on expiry, kept in memory. `SpotifyApi.layer()` works on it as on a user's manager.
 * Needs an `HttpClient`.
 *
 * @since 0.3.0
 * @category layers
 */
export const clientCredentials = (
  options?: ClientCredentialsOptions
): Layer.Layer<TokenManager.TokenManager, ConfigError.ConfigError, HttpClient.HttpClient> =>
  TokenManager.layerClientCredentials(options).pipe(
    Layer.provide(options?.client === undefined ? layerConfig() : layer(options.client))
  )

/**
 * The key of the Spotify session that `token-refresher login` saves in its file
 * (`NodeTokenStore.configFile("spotify.json")`): use `TokenManager.layer({ key: Spotify.sessionKey })` to share the
 * CLI's session.
 *
 * @since 0.4.0
 * @category constants
 */
export const sessionKey = "spotify"

/**
 * A store set up as the CLI's Spotify session: a session that 0.2 kept under `TokenStore.defaultKey` is moved to
 * {@link sessionKey}, then {@link sessionKey} is seeded from `SPOTIFY_REFRESH_TOKEN` when it holds nothing and that
 * variable is set (non-empty). A stored session is never replaced by the variable.
 *
 * @example
 * ```ts
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { BearerAuth, TokenManager } from "@token-refresher/core"
 * import { NodeTokenClient, NodeTokenStore } from "@token-refresher/node"
 * import { Spotify } from "@token-refresher/spotify"
 * import { Layer } from "effect"
 *
 * // the session `token-refresher login` saved, or one seeded from SPOTIFY_REFRESH_TOKEN
 * const Authenticated = BearerAuth.layer.pipe(
 *   Layer.provideMerge(TokenManager.layer({ key: Spotify.sessionKey })),
 *   Layer.provide(Spotify.layerConfig().pipe(Layer.provide(NodeTokenClient.layer()))),
 *   Layer.provide(NodeTokenStore.layerFile(NodeTokenStore.configFile("spotify.json")).pipe(Spotify.seedFromEnv)),
 *   Layer.provide(NodeHttpClient.layerUndici)
 * )
 * ```
 *
 * @since 0.4.0
 * @category combinators
 */
export const seedFromEnv = <E, R>(
  self: Layer.Layer<TokenStore.TokenStore, E, R>
): Layer.Layer<TokenStore.TokenStore, E | ConfigError.ConfigError | TokenStore.TokenStoreError, R> =>
  self.pipe(
    TokenStore.moved(TokenStore.defaultKey, sessionKey),
    TokenStore.seeded(Config.redacted("SPOTIFY_REFRESH_TOKEN"), { key: sessionKey })
  )
