/**
 * A real HTTP server on 127.0.0.1 that behaves like Spotify's accounts service (and `GET /v1/me`), for demos,
 * end-to-end tests and trying an app without credentials.
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import * as Profiles from "./internal/fakeServer/profiles.js"
import * as Router from "./internal/fakeServer/router.js"
import * as State from "./internal/fakeServer/state.js"

/**
 * A registered client. Without `clientSecret` it is a public (PKCE) client. Without `redirectUris`, any loopback
 * `http://127.0.0.1:<port>/…` redirect is accepted (RFC 8252 §7.3), which suits tests that pick a free port.
 *
 * @since 0.1.0
 * @category models
 */
export interface Client {
  readonly clientId: string
  readonly clientSecret?: string | undefined
  readonly redirectUris?: ReadonlyArray<string> | undefined
}

/**
 * How the fake server behaves.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Default: 0 (a free port). */
  readonly port?: number | undefined
  /** Default: `127.0.0.1`. */
  readonly host?: string | undefined
  /** Default: a confidential client `fake-client-id`/`fake-client-secret` and a public client `fake-public-client-id`. */
  readonly clients?: ReadonlyArray<Client> | undefined
  /** Every refresh returns a new refresh token and the old one becomes `invalid_grant`. Default: true. */
  readonly rotate?: boolean | undefined
  /**
   * A refresh token used a second time revokes its whole family (every refresh and access token descended from the
   * same login), as servers with refresh-token reuse detection do (RFC 9700 §4.14.2). Default: false.
   */
  readonly revokeFamilyOnReuse?: boolean | undefined
  /**
   * Every token answer is processed and sent after this long, in real time whatever the server's `Clock` (it paces
   * other processes, which live in real time). A request whose client has gone by then is not processed, as a server
   * that had not committed it yet. Default: 0.
   */
  readonly tokenDelay?: Duration.DurationInput | undefined
  /** Access-token lifetime (`expires_in`). Default: 3600 seconds. */
  readonly accessTokenLifetime?: Duration.DurationInput | undefined
  /** The scope granted when the request names none. Default: `user-read-private user-read-email`. */
  readonly scope?: string | undefined
  /**
   * Answer as this provider does: the shapes of its success and error bodies, its statuses, and (unless `rotate` or
   * `keepOldRefreshTokens` say otherwise) its rotation. Default: `rfc6749` (RFC 6749 to the letter, as Spotify).
   */
  readonly profile?: Profile | undefined
  /** A rotated refresh token stays valid (Microsoft). Default: per profile, else false. */
  readonly keepOldRefreshTokens?: boolean | undefined
  /** Refresh tokens stop working this long after they were issued (`invalid_grant`). Default: never. */
  readonly refreshTokenLifetime?: Duration.DurationInput | undefined
  /**
   * Which discovery document the server publishes: OpenID Connect's `/.well-known/openid-configuration`, RFC 8414's
   * `/.well-known/oauth-authorization-server`, or none. Default: `openid`.
   */
  readonly discovery?: "openid" | "oauth" | "none" | undefined
  /**
   * Answer pages of other origins (CORS), for tests in a browser: preflights get a 204, and every answer carries
   * `Access-Control-Allow-Origin` for the request's `Origin`. `true` allows any origin; a string allows that origin
   * only (`http://127.0.0.1:5173`, say). Preflights are not counted in `stats` or `requests`. Default: false.
   */
  readonly cors?: boolean | string | undefined
  /** The device flow's polling `interval` (whole seconds, RFC 8628 §3.2). Default: 5 seconds. */
  readonly deviceInterval?: Duration.DurationInput | undefined
  /** How long a device code lives (`expires_in`). Default: 10 minutes. */
  readonly deviceCodeLifetime?: Duration.DurationInput | undefined
}

/**
 * The providers whose answers the server can imitate.
 *
 * - `rfc6749`: RFC 6749 to the letter (Spotify).
 * - `github`: errors with HTTP 200 (`bad_refresh_token`, `incorrect_client_credentials`), `refresh_token_expires_in`.
 * - `twitch`: `scope` as an array; errors as `{"status":400,"message":"Invalid refresh token"}`.
 * - `slack`: `{"ok":true,…,"token_type":"bot"}`; errors as `{"ok":false,"error":"invalid_refresh_token"}` with 200.
 * - `salesforce`: no `expires_in` (`issued_at` and `instance_url` instead); no rotation.
 * - `strava`: an absolute `expires_at`; errors as Strava faults (`{"message":"Bad Request","errors":[…]}`).
 * - `auth0`: `invalid_grant` with HTTP 403.
 * - `microsoft`: rotation that keeps the old refresh token valid.
 * - `google`, `dropbox`: no rotation.
 * - `discord`: RFC 6749 errors, rotation.
 *
 * @since 0.3.0
 * @category models
 */
export type Profile =
  | "rfc6749"
  | "github"
  | "twitch"
  | "slack"
  | "salesforce"
  | "strava"
  | "auth0"
  | "microsoft"
  | "google"
  | "dropbox"
  | "discord"

/**
 * A fault injected into the next `POST /api/token` answers.
 *
 * @since 0.1.0
 * @category models
 */
export type Fault =
  | { readonly _tag: "Status"; readonly status: number; readonly retryAfter?: number | string | undefined }
  | { readonly _tag: "Delay"; readonly millis: number }
  | { readonly _tag: "Drop" }
  | { readonly _tag: "DropAfterUse" }
  | { readonly _tag: "MalformedJson" }
  | { readonly _tag: "Html"; readonly status: number }
  | { readonly _tag: "Hang" }
  | { readonly _tag: "Trickle"; readonly everyMillis: number }
  | { readonly _tag: "ResetMidBody" }
  | {
      readonly _tag: "Raw"
      readonly status: number
      readonly headers?: Readonly<Record<string, string>> | undefined
      readonly body: string | Uint8Array
    }

/**
 * Never answers (the connection stays open).
 *
 * @since 0.3.0
 * @category faults
 */
export const hang: Fault = { _tag: "Hang" }

/**
 * Sends the headers and then one byte of body every `everyMillis` (by the server's `Clock`), for ever.
 *
 * @since 0.3.0
 * @category faults
 */
export const trickle = (everyMillis = 100): Fault => ({ _tag: "Trickle", everyMillis })

/**
 * Sends the headers and half a token answer, then resets the connection.
 *
 * @since 0.3.0
 * @category faults
 */
export const resetMidBody: Fault = { _tag: "ResetMidBody" }

/**
 * Answers exactly this: any status, headers and bytes (the request is not processed).
 *
 * @since 0.3.0
 * @category faults
 */
export const raw = (status: number, body: string | Uint8Array, headers?: Readonly<Record<string, string>>): Fault => ({
  _tag: "Raw",
  status,
  body,
  headers
})

/**
 * Answers with this HTTP status (and an OAuth `server_error` body).
 *
 * @since 0.1.0
 * @category faults
 */
export const status = (code: number): Fault => ({ _tag: "Status", status: code })

/**
 * HTTP 429 with `Retry-After` (seconds, or any text, e.g. an HTTP date).
 *
 * @since 0.1.0
 * @category faults
 */
export const rateLimited = (retryAfterSeconds: number | string): Fault => ({
  _tag: "Status",
  status: 429,
  retryAfter: retryAfterSeconds
})

/**
 * Answers normally, after `delay` by the server's `Clock` (under `TestClock`, once the test adjusts it). A request
 * whose client has gone by then is not processed.
 *
 * @since 0.1.0
 * @category faults
 */
export const delay = (delay: Duration.DurationInput): Fault => ({
  _tag: "Delay",
  millis: Duration.toMillis(Duration.decode(delay))
})

/**
 * Closes the connection without an answer.
 *
 * @since 0.1.0
 * @category faults
 */
export const drop: Fault = { _tag: "Drop" }

/**
 * Processes the request (a refresh token is used, a rotated one issued), then closes the connection without the
 * answer: the client cannot know whether its token was used.
 *
 * @since 0.2.0
 * @category faults
 */
export const dropAfterUse: Fault = { _tag: "DropAfterUse" }

/**
 * HTTP 200 with a body that is not valid JSON.
 *
 * @since 0.1.0
 * @category faults
 */
export const malformedJson: Fault = { _tag: "MalformedJson" }

/**
 * An HTML page, as a proxy sends (default 502).
 *
 * @since 0.1.0
 * @category faults
 */
export const html = (code = 502): Fault => ({ _tag: "Html", status: code })

/**
 * One request as the server saw it: no secret, token or code is recorded.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordedRequest {
  readonly method: string
  /** The path, without the query. */
  readonly path: string
  readonly grantType: string | undefined
  readonly clientId: string | undefined
  /** How the client authenticated on the token endpoint. */
  readonly clientAuth: "basic" | "post" | "none" | undefined
  readonly status: number
  /** The OAuth `error` answered, if any. */
  readonly error: string | undefined
  /** The injected fault, if any. */
  readonly fault: Fault["_tag"] | undefined
  /** When the request arrived, by the server's `Clock` (milliseconds). */
  readonly at: number
}

/**
 * What the server has done so far.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly requests: number
  readonly refreshesServed: number
  readonly refreshesRejected: number
  readonly codesIssued: number
  readonly codesExchanged: number
  readonly apiCalls: number
  readonly apiRejected: number
  readonly faultsInjected: number
  /** Token families revoked because a used refresh token came back (`revokeFamilyOnReuse`). */
  readonly familiesRevoked: number
  /** App tokens issued with the client-credentials grant. */
  readonly clientCredentialsIssued: number
  /** Tokens revoked through the revocation endpoint (RFC 7009). */
  readonly tokensRevoked: number
}

/**
 * Tokens issued directly by `issueTokens`.
 *
 * @since 0.1.0
 * @category models
 */
export interface IssuedTokens {
  readonly accessToken: Redacted.Redacted<string>
  readonly refreshToken: Redacted.Redacted<string>
}

/**
 * The `FakeAuthorizationServer` service.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** `http://127.0.0.1:<port>`: use it as `SPOTIFY_ACCOUNTS_URL`. */
  readonly url: string
  readonly tokenUrl: string
  readonly authorizeUrl: string
  /** The RFC 7009 revocation endpoint, `<url>/revoke`. */
  readonly revocationUrl: string
  /** The RFC 8628 device authorization endpoint, `<url>/device/code`. */
  readonly deviceAuthorizationUrl: string
  /**
   * Approves the device login of `userCode` as the user would on the verification page (`approve: false` denies it):
   * the device's next poll gets tokens (or `access_denied`). `false` when no pending login has that code.
   */
  readonly approveDevice: (
    userCode: string,
    options?: { readonly approve?: boolean | undefined }
  ) => Effect.Effect<boolean>
  /** The issuer of the discovery documents: `url`. */
  readonly issuer: string
  /** `<url>/v1`: use it as the Web API URL. */
  readonly apiUrl: string
  readonly clients: ReadonlyArray<Client>
  /** Issues tokens directly (as if the user had logged in), e.g. to seed a store. */
  readonly issueTokens: (options?: {
    readonly clientId?: string | undefined
    readonly scope?: string | undefined
  }) => Effect.Effect<IssuedTokens>
  /** Queues faults for the next token requests, one per request. */
  readonly inject: (...faults: ReadonlyArray<Fault>) => Effect.Effect<void>
  /** Injects `fault` (one of `fault`, at random, for a list) into each token request with probability `rate` (0 turns it off). */
  readonly setFaultRate: (rate: number, fault: Fault | ReadonlyArray<Fault>) => Effect.Effect<void>
  readonly setRotation: (rotate: boolean) => Effect.Effect<void>
  readonly setAccessTokenLifetime: (lifetime: Duration.DurationInput) => Effect.Effect<void>
  readonly setRevokeFamilyOnReuse: (revoke: boolean) => Effect.Effect<void>
  readonly setTokenDelay: (delay: Duration.DurationInput) => Effect.Effect<void>
  /** Serves `document` (any JSON value) as both discovery documents, or the real ones again with `undefined`. */
  readonly setDiscoveryDocument: (document: unknown) => Effect.Effect<void>
  /** Every access token issued so far is expired from now on. */
  readonly expireAccessTokens: Effect.Effect<void>
  /** Every refresh token issued so far is revoked (`invalid_grant`, "Refresh token revoked"). */
  readonly revokeRefreshTokens: Effect.Effect<void>
  readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
  readonly stats: Effect.Effect<Stats>
}

/**
 * The tag of the `FakeAuthorizationServer` service.
 *
 * @since 0.1.0
 * @category tags
 */
export class FakeAuthorizationServer extends Context.Tag("@token-refresher/testing/FakeAuthorizationServer")<
  FakeAuthorizationServer,
  Service
>() {}

/**
 * The server could not listen (the port is taken, say).
 *
 * @since 0.1.0
 * @category errors
 */
export class ListenError extends Schema.TaggedError<ListenError>("@token-refresher/testing/ListenError")(
  "ListenError",
  {
    address: Schema.String,
    detail: Schema.String
  }
) {
  override get message(): string {
    return `The fake authorization server cannot listen on ${this.address}: ${this.detail}`
  }
}

/**
 * The default confidential client.
 *
 * @since 0.1.0
 * @category constants
 */
export const confidentialClient: Client = { clientId: "fake-client-id", clientSecret: "fake-client-secret" }

/**
 * The `TokenRefresher` options of {@link confidentialClient} at the fake server whose `url` is given (a child process
 * gets it as an argument): its token endpoint, client id and secret.
 *
 * @since 0.5.0
 * @category constants
 */
export const confidentialOptions = (
  url: string
): { readonly tokenUrl: string; readonly clientId: string; readonly clientSecret: Redacted.Redacted<string> } => ({
  tokenUrl: `${url}/api/token`,
  clientId: confidentialClient.clientId,
  clientSecret: Redacted.make(confidentialClient.clientSecret!)
})

/**
 * The default public (PKCE) client.
 *
 * @since 0.1.0
 * @category constants
 */
export const publicClient: Client = { clientId: "fake-public-client-id" }

/**
 * The user `GET /v1/me` answers with.
 *
 * @since 0.1.0
 * @category constants
 */
export const user: typeof State.user = State.user

/**
 * Starts the server; it stops when the scope closes. It is an `HttpRouter` served by `NodeHttpServer.layer`; its
 * state is one `Ref`, its time the `Clock` and its randomness (tokens, the fault rate's dice) the `Random` of the fiber
 * that makes it: under `TestClock`, `TestClock.adjust` ages its tokens, codes and device logins as it ages the
 * client's, and moves its `delay` and `trickle` faults.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): Effect.Effect<Service, ListenError, Scope.Scope> =>
  Effect.gen(function* () {
    const host = options?.host ?? "127.0.0.1"
    const port = options?.port ?? 0
    const server = Http.createServer()
    const context = yield* Layer.build(NodeHttpServer.layer(() => server, { host, port })).pipe(
      Effect.catchTag("ServeError", (error) =>
        Effect.fail(
          new ListenError({
            address: `${host}:${port}`,
            detail: error.cause instanceof Error ? error.cause.message : String(error.cause)
          })
        )
      )
    )
    // a hanging or trickling answer keeps its connection open: close them all, or the server never closes
    yield* Effect.addFinalizer(() => Effect.sync(() => server.closeAllConnections()))
    const address = Context.get(context, HttpServer.HttpServer).address
    const url =
      address._tag === "TcpAddress"
        ? `http://${address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname}:${address.port}`
        : `http://${host}:${port}`

    const clients = options?.clients ?? [confidentialClient, publicClient]
    const profile = Profiles.profiles[options?.profile ?? "rfc6749"]
    const seconds = (duration: Duration.DurationInput) => Duration.toSeconds(Duration.decode(duration))
    const settings: State.Settings = {
      url,
      clients,
      defaultScope: options?.scope ?? "user-read-private user-read-email",
      profile,
      rotate: options?.rotate ?? profile.rotate,
      keepOldRefreshTokens: options?.keepOldRefreshTokens ?? profile.keepOldRefreshTokens,
      revokeFamilyOnReuse: options?.revokeFamilyOnReuse ?? false,
      accessTokenLifetime: seconds(options?.accessTokenLifetime ?? "3600 seconds"),
      refreshTokenLifetime:
        options?.refreshTokenLifetime === undefined
          ? Number.POSITIVE_INFINITY
          : Duration.toMillis(Duration.decode(options.refreshTokenLifetime)),
      tokenDelay: Duration.toMillis(Duration.decode(options?.tokenDelay ?? 0)),
      deviceInterval: Math.max(1, Math.round(seconds(options?.deviceInterval ?? "5 seconds"))),
      deviceCodeLifetime: Math.round(seconds(options?.deviceCodeLifetime ?? "10 minutes")),
      discoveryDocument: Option.none(),
      faultRate: 0,
      rateFaults: []
    }
    const secret = (yield* Effect.all(Array.from({ length: 4 }, () => Random.nextInt))).join(".")
    const state = yield* Ref.make(State.make(settings, secret))

    const app = yield* HttpRouter.toHttpApp(Router.make(state, { discovery: options?.discovery ?? "openid" })).pipe(
      HttpRouter.withRouterConfig(Router.routerConfig)
    )
    yield* HttpServer.serveEffect(app, Router.cors(options?.cors ?? false)).pipe(
      // the fake is not the application under test: its requests make no spans in the test's tracer
      Effect.locally(HttpMiddleware.currentTracerDisabledWhen, () => true),
      Effect.provide(context)
    )

    const now = Clock.currentTimeMillis
    const configure = (settings: Partial<State.Settings>) =>
      Ref.update(state, (current) => State.configure(current, settings))
    return FakeAuthorizationServer.of({
      url,
      tokenUrl: `${url}/api/token`,
      authorizeUrl: `${url}/authorize`,
      revocationUrl: `${url}/revoke`,
      deviceAuthorizationUrl: `${url}/device/code`,
      approveDevice: (userCode, approveOptions) =>
        Ref.modify(state, (current) => State.approveDevice(current, userCode, approveOptions?.approve !== false)),
      issuer: url,
      apiUrl: `${url}/v1`,
      clients,
      issueTokens: (issueOptions) =>
        Effect.flatMap(now, (at) =>
          Ref.modify(state, (current) =>
            State.issueTokens(
              current,
              {
                clientId: issueOptions?.clientId ?? clients[0]!.clientId,
                scope: issueOptions?.scope ?? current.settings.defaultScope
              },
              at
            )
          )
        ),
      inject: (...faults) => Ref.update(state, (current) => State.inject(current, faults)),
      setFaultRate: (rate, fault) =>
        configure({
          faultRate: Math.min(1, Math.max(0, rate)),
          rateFaults: Array.isArray(fault) ? (fault as ReadonlyArray<Fault>) : [fault as Fault]
        }),
      setRotation: (rotate) => configure({ rotate }),
      setAccessTokenLifetime: (lifetime) => configure({ accessTokenLifetime: seconds(lifetime) }),
      setRevokeFamilyOnReuse: (revoke) => configure({ revokeFamilyOnReuse: revoke }),
      setTokenDelay: (delay) => configure({ tokenDelay: Duration.toMillis(Duration.decode(delay)) }),
      setDiscoveryDocument: (document) =>
        configure({ discoveryDocument: document === undefined ? Option.none() : Option.some(document) }),
      expireAccessTokens: Ref.update(state, State.expireAccessTokens),
      revokeRefreshTokens: Ref.update(state, State.revokeRefreshTokens),
      requests: Effect.map(Ref.get(state), (current) => Chunk.toArray(current.recorded)),
      stats: Effect.map(Ref.get(state), (current) => current.stats)
    })
  })

/**
 * The server as a scoped layer: started when the layer is built, closed with its scope.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<FakeAuthorizationServer, ListenError> =>
  Layer.scoped(FakeAuthorizationServer, make(options))
