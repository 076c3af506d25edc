/**
 * A real HTTP server on 127.0.0.1 that behaves like Spotify's accounts service (and `GET /v1/me`), for demos,
 * end-to-end tests and trying an app without credentials.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Crypto from "node:crypto"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

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
   * Every token answer is processed and sent after this long (real time). A request whose client has gone by then is
   * not processed, as a server that had not committed it yet. Default: 0.
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

const profileRotation: { readonly [P in Profile]: { readonly rotate: boolean; readonly keepOld: boolean } } = {
  rfc6749: { rotate: true, keepOld: false },
  github: { rotate: true, keepOld: false },
  twitch: { rotate: true, keepOld: false },
  slack: { rotate: true, keepOld: false },
  salesforce: { rotate: false, keepOld: false },
  strava: { rotate: true, keepOld: false },
  auth0: { rotate: true, keepOld: false },
  microsoft: { rotate: true, keepOld: true },
  google: { rotate: false, keepOld: false },
  dropbox: { rotate: false, keepOld: false },
  discord: { rotate: true, keepOld: false }
}

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
 * Sends the headers and then one byte of body every `everyMillis`, for ever.
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
 * Answers normally, after `delay` (real time).
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
export const user = {
  id: "fake-user",
  display_name: "Fake User",
  email: "fake-user@example.com",
  country: "SE",
  product: "premium",
  type: "user",
  uri: "spotify:user:fake-user"
} as const

interface RefreshRecord {
  readonly clientId: string
  readonly scope: string
  /** When it stops working (epoch millis); `Infinity` without `refreshTokenLifetime`. */
  readonly expiresAt: number
  /** The login this token descends from. */
  readonly family: number
  state: "active" | "used" | "revoked"
}

interface AccessRecord {
  readonly clientId: string
  readonly family: number
  expiresAt: number
}

interface CodeRecord {
  readonly clientId: string
  readonly redirectUri: string
  readonly scope: string
  readonly challenge: string | undefined
  readonly expiresAt: number
  used: boolean
}

const CODE_LIFETIME_MS = 10 * 60 * 1000
const MAX_BODY_BYTES = 64 * 1024

const randomToken = (prefix: string) => `${prefix}-${Crypto.randomBytes(24).toString("base64url")}`

const deviceCodeGrantType = "urn:ietf:params:oauth:grant-type:device_code"

const isLoopbackRedirect = (uri: string): boolean => {
  try {
    const url = new URL(uri)
    return url.protocol === "http:" && (url.hostname === "127.0.0.1" || url.hostname === "[::1]")
  } catch {
    return false
  }
}

interface Answer {
  readonly status: number
  readonly headers?: Record<string, string>
  readonly body: string
  readonly error?: string | undefined
}

const json = (status: number, body: unknown, headers?: Record<string, string>): Answer => ({
  status,
  headers: { "content-type": "application/json", "cache-control": "no-store", ...headers },
  body: JSON.stringify(body),
  error:
    typeof body === "object" && body !== null && "error" in body && typeof body.error === "string"
      ? body.error
      : undefined
})

const htmlPage = (status: number): Answer => ({
  status,
  headers: { "content-type": "text/html; charset=utf-8" },
  body: `<html><head><title>${status}</title></head><body><h1>Error ${status}</h1><p>upstream unavailable</p></body></html>`
})

/**
 * Starts the server; it stops when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): Effect.Effect<Service, ListenError, Scope.Scope> =>
  Effect.gen(function* () {
    // the server's time is the Effect `Clock` of the fiber that made it: under `TestClock`, `TestClock.adjust` ages
    // its tokens, codes and device logins as it ages the client's
    const clock = yield* Effect.clock
    const currentTime = () => clock.unsafeCurrentTimeMillis()
    const clients = options?.clients ?? [confidentialClient, publicClient]
    const defaultScope = options?.scope ?? "user-read-private user-read-email"
    const profile: Profile = options?.profile ?? "rfc6749"
    const refreshLifetimeMillis =
      options?.refreshTokenLifetime === undefined
        ? Number.POSITIVE_INFINITY
        : Duration.toMillis(Duration.decode(options.refreshTokenLifetime))
    let discoveryOverride: { readonly document: unknown } | undefined
    const config = {
      rotate: options?.rotate ?? profileRotation[profile].rotate,
      keepOld: options?.keepOldRefreshTokens ?? profileRotation[profile].keepOld,
      lifetimeSeconds: Duration.toSeconds(Duration.decode(options?.accessTokenLifetime ?? "3600 seconds")),
      revokeFamilyOnReuse: options?.revokeFamilyOnReuse ?? false,
      tokenDelayMillis: Duration.toMillis(Duration.decode(options?.tokenDelay ?? 0)),
      faultRate: 0,
      rateFault: undefined as ReadonlyArray<Fault> | undefined
    }
    const refreshTokens = new Map<string, RefreshRecord>()
    const accessTokens = new Map<string, AccessRecord>()
    const codes = new Map<string, CodeRecord>()
    /** Device logins by device code (RFC 8628). */
    const devices = new Map<
      string,
      {
        readonly clientId: string
        readonly userCode: string
        readonly scope: string
        readonly expiresAt: number
        state: "pending" | "approved" | "denied" | "used"
        lastPoll: number
      }
    >()
    const deviceIntervalSeconds = Math.max(
      1,
      Math.round(Duration.toSeconds(Duration.decode(options?.deviceInterval ?? "5 seconds")))
    )
    const deviceLifetimeSeconds = Math.round(
      Duration.toSeconds(Duration.decode(options?.deviceCodeLifetime ?? "10 minutes"))
    )
    const faults: Array<Fault> = []
    const recorded: Array<RecordedRequest> = []
    const stats = {
      requests: 0,
      refreshesServed: 0,
      refreshesRejected: 0,
      codesIssued: 0,
      codesExchanged: 0,
      apiCalls: 0,
      apiRejected: 0,
      faultsInjected: 0,
      familiesRevoked: 0,
      clientCredentialsIssued: 0,
      tokensRevoked: 0
    }
    let families = 0
    const timers = new Set<NodeJS.Timeout>()
    /** The server's own URL, once it listens (the discovery document names it). */
    let publicUrl = ""

    const issue = (clientId: string, scope: string, withRefresh: boolean, family = ++families) => {
      const accessToken = randomToken("fake-access")
      accessTokens.set(accessToken, { clientId, family, expiresAt: currentTime() + config.lifetimeSeconds * 1000 })
      const refreshToken = withRefresh ? randomToken("fake-refresh") : undefined
      if (refreshToken !== undefined) {
        refreshTokens.set(refreshToken, {
          clientId,
          scope,
          family,
          expiresAt: currentTime() + refreshLifetimeMillis,
          state: "active"
        })
      }
      return { accessToken, refreshToken }
    }

    const revokeFamily = (family: number) => {
      stats.familiesRevoked++
      for (const record of refreshTokens.values()) if (record.family === family) record.state = "revoked"
      for (const record of accessTokens.values()) if (record.family === family) record.expiresAt = 0
    }

    /** An RFC 6749 §5.1 answer, in the shape of the profile's provider. */
    const success = (fields: {
      readonly accessToken: string
      readonly refreshToken: string | undefined
      readonly scope: string
    }): Answer => {
      const now = currentTime()
      const standard = {
        access_token: fields.accessToken,
        token_type: "Bearer",
        scope: fields.scope,
        expires_in: config.lifetimeSeconds,
        ...(fields.refreshToken === undefined ? {} : { refresh_token: fields.refreshToken })
      }
      switch (profile) {
        case "github":
          return json(200, {
            ...standard,
            token_type: "bearer",
            ...(fields.refreshToken === undefined
              ? {}
              : {
                  refresh_token_expires_in: Number.isFinite(refreshLifetimeMillis)
                    ? Math.round(refreshLifetimeMillis / 1000)
                    : 15_897_600
                })
          })
        case "twitch":
          return json(200, {
            ...standard,
            token_type: "bearer",
            scope: fields.scope.split(" ").filter((s) => s !== "")
          })
        case "slack":
          return json(200, { ok: true, app_id: "A0FAKE", ...standard, token_type: "bot", team: { id: "T0FAKE" } })
        case "salesforce": {
          const { expires_in: _, ...rest } = standard
          return json(200, {
            ...rest,
            instance_url: "https://fake.my.salesforce.com",
            id: "https://login.salesforce.com/id/00Dfake/005fake",
            issued_at: String(now),
            signature: "fake-signature"
          })
        }
        case "strava":
          return json(200, {
            ...standard,
            expires_at: Math.floor(now / 1000) + config.lifetimeSeconds,
            athlete: { id: 1 }
          })
        default:
          return json(200, standard)
      }
    }

    /** An error answer in the shape of the profile's provider; `grant` tells which kind of token was refused. */
    const fail = (
      error: string,
      description: string,
      grant: "refresh_token" | "authorization_code" | "other" = "other",
      status = 400
    ): Answer => {
      const answer = (httpStatus: number, body: unknown): Answer => ({ ...json(httpStatus, body), error })
      switch (profile) {
        case "github": {
          const code =
            error === "invalid_grant"
              ? grant === "authorization_code"
                ? "bad_verification_code"
                : "bad_refresh_token"
              : error === "invalid_client"
                ? "incorrect_client_credentials"
                : error
          return answer(200, {
            error: code,
            error_description: description,
            error_uri:
              "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"
          })
        }
        case "twitch":
          return error === "invalid_client"
            ? answer(403, { status: 403, message: "invalid client secret" })
            : answer(400, {
                status: 400,
                message: error === "invalid_grant" && grant === "refresh_token" ? "Invalid refresh token" : description
              })
        case "slack": {
          const code =
            error === "invalid_grant"
              ? grant === "authorization_code"
                ? "invalid_code"
                : "invalid_refresh_token"
              : error === "invalid_client"
                ? "bad_client_secret"
                : error
          return answer(200, { ok: false, error: code })
        }
        case "strava": {
          const fault =
            error === "invalid_grant"
              ? grant === "authorization_code"
                ? { resource: "AuthorizationCode", field: "code", code: "invalid" }
                : { resource: "RefreshToken", field: "refresh_token", code: "invalid" }
              : error === "invalid_client"
                ? { resource: "Application", field: "client_id", code: "invalid" }
                : { resource: "Request", field: error, code: "invalid" }
          return answer(400, { message: "Bad Request", errors: [fault] })
        }
        case "auth0":
          return answer(error === "invalid_grant" ? 403 : error === "invalid_client" ? 401 : status, {
            error,
            error_description: description
          })
        default:
          return answer(status, { error, error_description: description })
      }
    }

    const tokenAnswer = (clientId: string, scope: string, withRefresh: boolean, family?: number): Answer => {
      const { accessToken, refreshToken } = issue(clientId, scope, withRefresh, family)
      return success({ accessToken, refreshToken, scope })
    }

    /** RFC 6749 §2.3.1, as Spotify does it: Basic first, else `client_id` (and `client_secret`) in the body. */
    const authenticate = (
      headers: Http.IncomingHttpHeaders,
      form: URLSearchParams
    ): { readonly client: Client; readonly auth: "basic" | "post" | "none" } | Answer => {
      const header = headers.authorization
      let clientId: string | null
      let secret: string | null
      let auth: "basic" | "post" | "none"
      if (header !== undefined && header.startsWith("Basic ")) {
        const decoded = Buffer.from(header.slice(6), "base64").toString("utf8")
        const colon = decoded.indexOf(":")
        if (colon < 0) return fail("invalid_client", "Invalid client")
        clientId = new URLSearchParams(`a=${decoded.slice(0, colon)}`).get("a")
        secret = new URLSearchParams(`a=${decoded.slice(colon + 1)}`).get("a")
        auth = "basic"
      } else {
        clientId = form.get("client_id")
        secret = form.get("client_secret")
        auth = secret === null ? "none" : "post"
      }
      const client = clients.find((c) => c.clientId === clientId)
      if (clientId === null || client === undefined) return fail("invalid_client", "Invalid client")
      if (client.clientSecret !== undefined && secret !== client.clientSecret) {
        return fail("invalid_client", "Invalid client secret")
      }
      return { client, auth }
    }

    const refreshGrant = (client: Client, form: URLSearchParams): Answer => {
      const token = form.get("refresh_token")
      if (token === null || token === "") return fail("invalid_request", "refresh_token must be supplied")
      const record = refreshTokens.get(token)
      if (record !== undefined && record.state === "used" && config.revokeFamilyOnReuse) revokeFamily(record.family)
      if (record === undefined || record.clientId !== client.clientId || record.state === "used") {
        return fail("invalid_grant", "Invalid refresh token", "refresh_token")
      }
      if (record.state === "revoked") return fail("invalid_grant", "Refresh token revoked", "refresh_token")
      if (record.expiresAt <= currentTime()) return fail("invalid_grant", "Refresh token expired", "refresh_token")
      const requested = form.get("scope")
      if (requested !== null) {
        const granted = new Set(record.scope.split(" "))
        if (!requested.split(" ").every((s) => granted.has(s))) return fail("invalid_scope", "Invalid scope")
      }
      if (config.rotate && !config.keepOld) record.state = "used"
      const scope = requested ?? record.scope
      if (config.rotate) return tokenAnswer(client.clientId, scope, true, record.family)
      const { accessToken } = issue(client.clientId, scope, false, record.family)
      return success({ accessToken, refreshToken: undefined, scope })
    }

    const codeGrant = (client: Client, form: URLSearchParams): Answer => {
      const code = codes.get(form.get("code") ?? "")
      if (code === undefined || code.used || code.expiresAt < currentTime() || code.clientId !== client.clientId) {
        return fail("invalid_grant", "Invalid authorization code", "authorization_code")
      }
      if (form.get("redirect_uri") !== code.redirectUri) {
        return fail("invalid_grant", "Invalid redirect URI", "authorization_code")
      }
      if (code.challenge !== undefined) {
        const verifier = form.get("code_verifier") ?? ""
        const challenge = Crypto.createHash("sha256").update(verifier).digest("base64url")
        if (challenge !== code.challenge)
          return fail("invalid_grant", "code_verifier was incorrect", "authorization_code")
      }
      code.used = true
      return tokenAnswer(client.clientId, code.scope, true)
    }

    /** RFC 6749 §4.4: confidential clients only; an app token, no refresh token. */
    const clientCredentialsGrant = (client: Client, form: URLSearchParams): Answer => {
      if (client.clientSecret === undefined) {
        return fail("unauthorized_client", "The client credentials grant needs a confidential client")
      }
      stats.clientCredentialsIssued++
      return tokenAnswer(client.clientId, form.get("scope") ?? "", false)
    }

    /** RFC 7009 §2: the client that the token was issued to revokes it; unknown tokens are answered 200 too. */
    const revocationEndpoint = (headers: Http.IncomingHttpHeaders, body: string) => {
      const form = new URLSearchParams(body)
      const authenticated = authenticate(headers, form)
      if ("status" in authenticated) return authenticated
      const who = { clientId: authenticated.client.clientId, auth: authenticated.auth }
      const token = form.get("token")
      if (token === null || token === "") return { ...fail("invalid_request", "token must be supplied"), ...who }
      const hint = form.get("token_type_hint")
      if (hint !== null && hint !== "refresh_token" && hint !== "access_token") {
        return { ...fail("unsupported_token_type", "Unsupported token type hint"), ...who }
      }
      const refresh = refreshTokens.get(token)
      const access = accessTokens.get(token)
      if (refresh !== undefined && refresh.clientId === authenticated.client.clientId) {
        // revoking a refresh token ends its whole grant, access tokens included (RFC 7009 §2.1)
        stats.tokensRevoked++
        for (const record of refreshTokens.values()) if (record.family === refresh.family) record.state = "revoked"
        for (const record of accessTokens.values()) if (record.family === refresh.family) record.expiresAt = 0
      } else if (access !== undefined && access.clientId === authenticated.client.clientId) {
        stats.tokensRevoked++
        access.expiresAt = 0
      }
      return { status: 200, headers: { "cache-control": "no-store" }, body: "", ...who }
    }

    const discoveryDocument = (): Answer =>
      json(
        200,
        discoveryOverride !== undefined
          ? discoveryOverride.document
          : {
              issuer: publicUrl,
              authorization_endpoint: `${publicUrl}/authorize`,
              token_endpoint: `${publicUrl}/api/token`,
              revocation_endpoint: `${publicUrl}/revoke`,
              device_authorization_endpoint: `${publicUrl}/device/code`,
              token_endpoint_auth_methods_supported: ["private_key_jwt", "client_secret_basic", "client_secret_post"],
              grant_types_supported: [
                "authorization_code",
                "refresh_token",
                "client_credentials",
                "urn:ietf:params:oauth:grant-type:device_code"
              ],
              response_types_supported: ["code"],
              code_challenge_methods_supported: ["S256"]
            }
      )

    const tokenEndpoint = (
      headers: Http.IncomingHttpHeaders,
      body: string
    ): Answer & { clientId?: string; auth?: "basic" | "post" | "none"; grantType?: string } => {
      const form = new URLSearchParams(body)
      const grantType = form.get("grant_type") ?? undefined
      const authenticated = authenticate(headers, form)
      if ("status" in authenticated) {
        if (grantType === "refresh_token") stats.refreshesRejected++
        return { ...authenticated, ...(grantType === undefined ? {} : { grantType }) }
      }
      const who = { clientId: authenticated.client.clientId, auth: authenticated.auth }
      switch (grantType) {
        case "refresh_token": {
          const answer = refreshGrant(authenticated.client, form)
          if (answer.status === 200 && answer.error === undefined) stats.refreshesServed++
          else stats.refreshesRejected++
          return { ...answer, ...who, grantType }
        }
        case "authorization_code": {
          const answer = codeGrant(authenticated.client, form)
          if (answer.status === 200 && answer.error === undefined) stats.codesExchanged++
          return { ...answer, ...who, grantType }
        }
        case "client_credentials":
          return { ...clientCredentialsGrant(authenticated.client, form), ...who, grantType }
        case deviceCodeGrantType:
          return { ...deviceGrant(authenticated.client, form), ...who, grantType }
        case undefined:
          return { ...fail("unsupported_grant_type", "grant_type parameter is missing"), ...who }
        default:
          return { ...fail("unsupported_grant_type", "Unsupported grant type"), ...who, grantType }
      }
    }

    /** RFC 8628 §3.2: a device login starts; the user approves it elsewhere (`approveDevice`). */
    const deviceAuthorization = (
      headers: Http.IncomingHttpHeaders,
      body: string
    ): Answer & { clientId?: string; auth?: "basic" | "post" | "none" } => {
      const form = new URLSearchParams(body)
      const authenticated = authenticate(headers, form)
      if ("status" in authenticated) return authenticated
      const deviceCode = randomToken("fake-device")
      const letters = "BCDFGHJKLMNPQRSTVWXZ"
      const pick = () => letters[Math.floor(Math.random() * letters.length)]
      const userCode = `${Array.from({ length: 4 }, pick).join("")}-${Array.from({ length: 4 }, pick).join("")}`
      devices.set(deviceCode, {
        clientId: authenticated.client.clientId,
        userCode,
        scope: form.get("scope") ?? defaultScope,
        expiresAt: currentTime() + deviceLifetimeSeconds * 1000,
        state: "pending",
        lastPoll: 0
      })
      return {
        ...json(200, {
          device_code: deviceCode,
          user_code: userCode,
          verification_uri: `${publicUrl}/device`,
          verification_uri_complete: `${publicUrl}/device?user_code=${userCode}`,
          expires_in: deviceLifetimeSeconds,
          interval: deviceIntervalSeconds
        }),
        clientId: authenticated.client.clientId,
        auth: authenticated.auth
      }
    }

    /** RFC 8628 §3.4 and §3.5: a device's poll. */
    const deviceGrant = (client: Client, form: URLSearchParams): Answer => {
      const device = devices.get(form.get("device_code") ?? "")
      if (device === undefined || device.clientId !== client.clientId || device.state === "used") {
        return fail("invalid_grant", "Invalid device code")
      }
      const now = currentTime()
      if (now >= device.expiresAt) return fail("expired_token", "The device code expired")
      const tooSoon = now - device.lastPoll < deviceIntervalSeconds * 1000
      device.lastPoll = now
      switch (device.state) {
        case "denied":
          return fail("access_denied", "The user denied the request")
        case "pending":
          return tooSoon
            ? fail("slow_down", "Polling too fast")
            : fail("authorization_pending", "The user has not approved the request yet")
        case "approved":
          device.state = "used"
          return tokenAnswer(client.clientId, device.scope, true)
      }
    }

    const authorize = (query: URLSearchParams): Answer => {
      const client = clients.find((c) => c.clientId === query.get("client_id"))
      const plain = (status: number, text: string): Answer => ({
        status,
        headers: { "content-type": "text/plain; charset=utf-8" },
        body: text
      })
      if (client === undefined) return plain(400, "INVALID_CLIENT: Invalid client")
      const redirectUri = query.get("redirect_uri") ?? ""
      const allowed =
        client.redirectUris === undefined ? isLoopbackRedirect(redirectUri) : client.redirectUris.includes(redirectUri)
      if (!allowed) return plain(400, "INVALID_CLIENT: Invalid redirect URI")
      const redirect = new URL(redirectUri)
      const state = query.get("state")
      if (state !== null) redirect.searchParams.set("state", state)
      const challenge = query.get("code_challenge") ?? undefined
      const failWith = (error: string, description: string): Answer => {
        redirect.searchParams.set("error", error)
        redirect.searchParams.set("error_description", description)
        return { status: 302, headers: { location: redirect.toString() }, body: "" }
      }
      if (query.get("response_type") !== "code")
        return failWith("unsupported_response_type", "response_type must be code")
      if (challenge !== undefined && query.get("code_challenge_method") !== "S256") {
        return failWith("invalid_request", "code_challenge_method must be S256")
      }
      if (client.clientSecret === undefined && challenge === undefined) {
        return failWith("invalid_request", "code_challenge is required for public clients")
      }
      const code = randomToken("fake-code")
      codes.set(code, {
        clientId: client.clientId,
        redirectUri,
        scope: query.get("scope") ?? defaultScope,
        challenge,
        expiresAt: currentTime() + CODE_LIFETIME_MS,
        used: false
      })
      stats.codesIssued++
      redirect.searchParams.set("code", code)
      return { status: 302, headers: { location: redirect.toString() }, body: "" }
    }

    const me = (headers: Http.IncomingHttpHeaders): Answer => {
      stats.apiCalls++
      const token = headers.authorization?.startsWith("Bearer ") ? headers.authorization.slice(7) : ""
      const record = accessTokens.get(token)
      if (record === undefined) {
        stats.apiRejected++
        return json(401, { error: { status: 401, message: "Invalid access token" } })
      }
      if (record.expiresAt <= currentTime()) {
        stats.apiRejected++
        return json(401, { error: { status: 401, message: "The access token expired" } })
      }
      return json(200, user)
    }

    const nextFault = (): Fault | undefined => {
      const scripted = faults.shift()
      if (scripted !== undefined) return scripted
      return config.rateFault !== undefined && config.rateFault.length > 0 && Math.random() < config.faultRate
        ? config.rateFault[Math.floor(Math.random() * config.rateFault.length)]
        : undefined
    }

    const send = (response: Http.ServerResponse, answer: Answer) => {
      if (response.destroyed) return
      response.writeHead(answer.status, answer.headers)
      response.end(answer.body)
    }

    const handle = (request: Http.IncomingMessage, response: Http.ServerResponse, body: string) => {
      stats.requests++
      const at = currentTime()
      const url = new URL(request.url ?? "/", "http://fake")
      const record = (
        answer: Answer & { clientId?: string; auth?: "basic" | "post" | "none"; grantType?: string },
        fault?: Fault
      ) =>
        recorded.push({
          method: request.method ?? "",
          path: url.pathname,
          grantType: answer.grantType,
          clientId: answer.clientId,
          clientAuth: answer.auth,
          status: answer.status,
          error: answer.error,
          fault: fault?._tag,
          at
        })
      if (request.method === "POST" && url.pathname === "/api/token") {
        const fault = nextFault()
        if (fault !== undefined) stats.faultsInjected++
        switch (fault?._tag) {
          case "Drop":
            record({ status: 0, body: "" }, fault)
            request.socket.destroy()
            return
          case "DropAfterUse": {
            const answer = tokenEndpoint(request.headers, body)
            record({ ...answer, status: 0 }, fault)
            request.socket.destroy()
            return
          }
          case "Status": {
            const answer = json(
              fault.status,
              { error: "server_error", error_description: "injected fault" },
              fault.retryAfter === undefined ? {} : { "retry-after": String(fault.retryAfter) }
            )
            record(answer, fault)
            return send(response, answer)
          }
          case "Html": {
            const answer = htmlPage(fault.status)
            record(answer, fault)
            return send(response, answer)
          }
          case "Hang":
            record({ status: 0, body: "" }, fault)
            return
          case "Trickle": {
            record({ status: 200, body: "" }, fault)
            response.writeHead(200, { "content-type": "application/json" })
            response.write('{"access_token":')
            const timer = setInterval(() => {
              if (response.destroyed) clearInterval(timer)
              else response.write(" ")
            }, fault.everyMillis)
            response.on("close", () => clearInterval(timer))
            timers.add(timer as unknown as NodeJS.Timeout)
            return
          }
          case "ResetMidBody": {
            record({ status: 200, body: "" }, fault)
            response.writeHead(200, { "content-type": "application/json", "content-length": "200" })
            response.write('{"access_token":"fake-acc')
            setImmediate(() => request.socket.destroy())
            return
          }
          case "Raw": {
            const answer: Answer = {
              status: fault.status,
              headers: { ...fault.headers },
              body: typeof fault.body === "string" ? fault.body : Buffer.from(fault.body).toString("latin1")
            }
            record(answer, fault)
            if (response.destroyed) return
            response.writeHead(fault.status, fault.headers)
            response.end(typeof fault.body === "string" ? fault.body : Buffer.from(fault.body))
            return
          }
          case "MalformedJson": {
            const answer: Answer = {
              status: 200,
              headers: { "content-type": "application/json" },
              body: '{"access_token": "trunc'
            }
            record(answer, fault)
            return send(response, answer)
          }
          case "Delay": {
            const timer = setTimeout(() => {
              timers.delete(timer)
              const answer = tokenEndpoint(request.headers, body)
              record(answer, fault)
              send(response, answer)
            }, fault.millis)
            timers.add(timer)
            return
          }
          case undefined: {
            if (config.tokenDelayMillis > 0) {
              const timer = setTimeout(() => {
                timers.delete(timer)
                // a client that went away (killed, say) before the server got to it: nothing was committed
                if (request.socket.destroyed) return
                const answer = tokenEndpoint(request.headers, body)
                record(answer)
                send(response, answer)
              }, config.tokenDelayMillis)
              timers.add(timer)
              return
            }
            const answer = tokenEndpoint(request.headers, body)
            record(answer)
            return send(response, answer)
          }
        }
      }
      const discovery = options?.discovery ?? "openid"
      const answer =
        request.method === "GET" && url.pathname === "/authorize"
          ? authorize(url.searchParams)
          : request.method === "GET" && url.pathname === "/v1/me"
            ? me(request.headers)
            : request.method === "POST" && url.pathname === "/revoke"
              ? revocationEndpoint(request.headers, body)
              : request.method === "POST" && url.pathname === "/device/code"
                ? deviceAuthorization(request.headers, body)
                : request.method === "GET" &&
                    ((discovery === "openid" && url.pathname === "/.well-known/openid-configuration") ||
                      (discovery === "oauth" && url.pathname === "/.well-known/oauth-authorization-server"))
                  ? discoveryDocument()
                  : json(404, { error: { status: 404, message: "Service not found" } })
      record(answer)
      send(response, answer)
    }

    const corsOrigin = options?.cors ?? false
    /** Adds the CORS headers for an allowed `Origin`; answers a preflight, and says so. */
    const cors = (request: Http.IncomingMessage, response: Http.ServerResponse): boolean => {
      const origin = request.headers.origin
      if (corsOrigin === false || origin === undefined || (corsOrigin !== true && origin !== corsOrigin)) return false
      response.setHeader("access-control-allow-origin", origin)
      response.setHeader("vary", "Origin")
      response.setHeader("access-control-expose-headers", "retry-after, www-authenticate, dpop-nonce")
      if (request.method !== "OPTIONS" || request.headers["access-control-request-method"] === undefined) return false
      response.writeHead(204, {
        "access-control-allow-methods": "GET, POST",
        "access-control-allow-headers": request.headers["access-control-request-headers"] ?? "authorization",
        "access-control-max-age": "600"
      })
      response.end()
      return true
    }

    const server = Http.createServer((request, response) => {
      if (cors(request, response)) return
      const chunks: Array<Buffer> = []
      let size = 0
      request.on("data", (chunk: Buffer) => {
        size += chunk.length
        if (size > MAX_BODY_BYTES) {
          request.socket.destroy()
          return
        }
        chunks.push(chunk)
      })
      request.on("end", () => handle(request, response, Buffer.concat(chunks).toString("utf8")))
    })

    const address = yield* Effect.acquireRelease(
      Effect.async<AddressInfo, ListenError>((resume) => {
        server.once("error", (error) =>
          resume(
            Effect.fail(
              new ListenError({
                address: `${options?.host ?? "127.0.0.1"}:${options?.port ?? 0}`,
                detail: error.message
              })
            )
          )
        )
        server.listen(options?.port ?? 0, options?.host ?? "127.0.0.1", () =>
          resume(Effect.succeed(server.address() as AddressInfo))
        )
      }),
      () =>
        Effect.async<void>((resume) => {
          for (const timer of timers) clearTimeout(timer)
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )

    const host = address.family === "IPv6" ? `[${address.address}]` : address.address
    const url = `http://${host}:${address.port}`
    publicUrl = url

    return FakeAuthorizationServer.of({
      url,
      tokenUrl: `${url}/api/token`,
      authorizeUrl: `${url}/authorize`,
      revocationUrl: `${url}/revoke`,
      deviceAuthorizationUrl: `${url}/device/code`,
      approveDevice: (userCode, approveOptions) =>
        Effect.sync(() => {
          for (const device of devices.values()) {
            if (device.userCode === userCode && device.state === "pending") {
              device.state = approveOptions?.approve === false ? "denied" : "approved"
              return true
            }
          }
          return false
        }),
      issuer: url,
      apiUrl: `${url}/v1`,
      clients,
      issueTokens: (issueOptions) =>
        Effect.sync(() => {
          const { accessToken, refreshToken } = issue(
            issueOptions?.clientId ?? clients[0]!.clientId,
            issueOptions?.scope ?? defaultScope,
            true
          )
          return { accessToken: Redacted.make(accessToken), refreshToken: Redacted.make(refreshToken!) }
        }),
      inject: (...more) => Effect.sync(() => void faults.push(...more)),
      setFaultRate: (rate, fault) =>
        Effect.sync(() => {
          config.faultRate = Math.min(1, Math.max(0, rate))
          config.rateFault = Array.isArray(fault) ? (fault as ReadonlyArray<Fault>) : [fault as Fault]
        }),
      setRotation: (rotate) => Effect.sync(() => void (config.rotate = rotate)),
      setAccessTokenLifetime: (lifetime) =>
        Effect.sync(() => void (config.lifetimeSeconds = Duration.toSeconds(Duration.decode(lifetime)))),
      setRevokeFamilyOnReuse: (revoke) => Effect.sync(() => void (config.revokeFamilyOnReuse = revoke)),
      setDiscoveryDocument: (document) =>
        Effect.sync(() => {
          discoveryOverride = document === undefined ? undefined : { document }
        }),
      setTokenDelay: (delay) =>
        Effect.sync(() => void (config.tokenDelayMillis = Duration.toMillis(Duration.decode(delay)))),
      expireAccessTokens: Effect.sync(() => {
        for (const record of accessTokens.values()) record.expiresAt = 0
      }),
      revokeRefreshTokens: Effect.sync(() => {
        for (const record of refreshTokens.values()) if (record.state === "active") record.state = "revoked"
      }),
      requests: Effect.sync(() => [...recorded]),
      stats: Effect.sync(() => ({ ...stats }))
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
