/**
 * The fake authorization server's state: one immutable value, and the pure functions that answer a request with it,
 * `(state, request, now) => [answer, state]`. The HTTP layer keeps the value in one `Ref`; these rules need no socket
 * and no clock of their own to be tested.
 */
import * as UrlParams from "@effect/platform/UrlParams"
import * as Chunk from "effect/Chunk"
import * as Either from "effect/Either"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Crypto from "node:crypto"
import type { Client, Fault, IssuedTokens, RecordedRequest, Stats } from "../../FakeAuthorizationServer.js"
import * as Profiles from "./profiles.js"

/** What the server was started with, and what its service methods change while it runs. */
export interface Settings {
  /** The server's own URL (the discovery document and the device page name it). */
  readonly url: string
  readonly clients: ReadonlyArray<Client>
  readonly defaultScope: string
  readonly profile: Profiles.Spec
  readonly rotate: boolean
  readonly keepOldRefreshTokens: boolean
  readonly revokeFamilyOnReuse: boolean
  /** Seconds. */
  readonly accessTokenLifetime: number
  /** Millis; `Infinity` for none. */
  readonly refreshTokenLifetime: number
  /** Millis. */
  readonly tokenDelay: number
  /** Whole seconds. */
  readonly deviceInterval: number
  /** Whole seconds. */
  readonly deviceCodeLifetime: number
  /** Served instead of the real discovery documents. */
  readonly discoveryDocument: Option.Option<unknown>
  readonly faultRate: number
  readonly rateFaults: ReadonlyArray<Fault>
}

interface RefreshRecord {
  readonly clientId: string
  readonly scope: string
  /** Epoch millis; `Infinity` without `refreshTokenLifetime`. */
  readonly expiresAt: number
  /** The login this token descends from. */
  readonly family: number
  readonly state: "active" | "used" | "revoked"
}

interface AccessRecord {
  readonly clientId: string
  readonly family: number
  readonly expiresAt: number
}

interface CodeRecord {
  readonly clientId: string
  readonly redirectUri: string
  readonly scope: string
  readonly challenge: string | undefined
  readonly expiresAt: number
  readonly used: boolean
}

interface DeviceRecord {
  readonly clientId: string
  readonly userCode: string
  readonly scope: string
  readonly expiresAt: number
  readonly state: "pending" | "approved" | "denied" | "used"
  readonly lastPoll: number
}

type Tokens<A> = HashMap.HashMap<Redacted.Redacted<string>, A>

/**
 * Everything the server knows.
 */
export interface State {
  readonly settings: Settings
  /** Token strings are derived from this secret (drawn from `Random` at start) and a counter. */
  readonly secret: string
  readonly minted: number
  readonly families: number
  readonly refreshTokens: Tokens<RefreshRecord>
  readonly accessTokens: Tokens<AccessRecord>
  readonly codes: Tokens<CodeRecord>
  /** Device logins by device code (RFC 8628). */
  readonly devices: Tokens<DeviceRecord>
  /** Scripted faults, for the next token requests in order. */
  readonly faults: Chunk.Chunk<Fault>
  readonly recorded: Chunk.Chunk<RecordedRequest>
  readonly stats: Stats
}

/** A new server's state. */
export const make = (settings: Settings, secret: string): State => ({
  settings,
  secret,
  minted: 0,
  families: 0,
  refreshTokens: HashMap.empty(),
  accessTokens: HashMap.empty(),
  codes: HashMap.empty(),
  devices: HashMap.empty(),
  faults: Chunk.empty(),
  recorded: Chunk.empty(),
  stats: {
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
})

/** The user `GET /v1/me` answers with. */
export const user = {
  id: "fake-user",
  display_name: "Fake User",
  email: "fake-user@example.com",
  country: "SE",
  product: "premium",
  type: "user",
  uri: "spotify:user:fake-user"
} as const

/** How long an authorization code lives. */
export const codeLifetimeMillis = 10 * 60 * 1000

export const deviceCodeGrantType = "urn:ietf:params:oauth:grant-type:device_code"

// -----------------------------------------------------------------------------
// answers
// -----------------------------------------------------------------------------

/** An HTTP answer, as data. */
export interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string | Uint8Array
  /** The OAuth `error` answered, for the record. */
  readonly error: string | undefined
}

export type ClientAuth = "basic" | "post" | "none"

/** An answer, and what the record says of the request it answers. */
export interface Handled {
  readonly answer: Answer
  readonly clientId?: string | undefined
  readonly clientAuth?: ClientAuth | undefined
  readonly grantType?: string | undefined
}

export const json = (status: number, body: unknown, headers?: Readonly<Record<string, string>>): Answer => ({
  status,
  headers: { "content-type": "application/json", "cache-control": "no-store", ...headers },
  body: JSON.stringify(body),
  error:
    typeof body === "object" && body !== null && "error" in body && typeof body.error === "string"
      ? body.error
      : undefined
})

const plain = (status: number, text: string): Answer => ({
  status,
  headers: { "content-type": "text/plain; charset=utf-8" },
  body: text,
  error: undefined
})

const redirect = (location: URL): Answer => ({
  status: 302,
  headers: { location: location.toString() },
  body: "",
  error: undefined
})

export const notFound: Answer = json(404, { error: { status: 404, message: "Service not found" } })

/** An error answer in the shape of the profile's provider; `refused` tells which kind of token was refused. */
const fail = (state: State, error: string, description: string, refused: Profiles.Refused = "other"): Answer => {
  const { body, status } = Profiles.errorAnswer(state.settings.profile, { error, description, refused })
  return { ...json(status, body), error }
}

/** An RFC 6749 §5.1 answer in the shape of the profile's provider. */
const success = (
  state: State,
  now: number,
  fields: { readonly accessToken: string; readonly refreshToken: string | undefined; readonly scope: string }
): Answer =>
  json(
    200,
    state.settings.profile.success({
      ...fields,
      expiresIn: state.settings.accessTokenLifetime,
      now,
      refreshTokenLifetime: state.settings.refreshTokenLifetime
    })
  )

// -----------------------------------------------------------------------------
// small steps
// -----------------------------------------------------------------------------

const param = (params: UrlParams.UrlParams, name: string): string | undefined =>
  Option.getOrUndefined(UrlParams.getFirst(params, name))

const count = (state: State, key: keyof Stats, by = 1): State => ({
  ...state,
  stats: { ...state.stats, [key]: state.stats[key] + by }
})

/** 24 bytes no one outside can guess, and the state that will not give them again. */
const mintBytes = (state: State): readonly [Buffer, State] => [
  Crypto.createHash("sha256").update(`${state.secret}:${state.minted}`).digest().subarray(0, 24),
  { ...state, minted: state.minted + 1 }
]

const mint = (state: State, prefix: string): readonly [string, State] => {
  const [bytes, next] = mintBytes(state)
  return [`${prefix}-${bytes.toString("base64url")}`, next]
}

const userCodeLetters = "BCDFGHJKLMNPQRSTVWXZ"

const mintUserCode = (state: State): readonly [string, State] => {
  const [bytes, next] = mintBytes(state)
  const letters = Array.from(bytes.subarray(0, 8), (byte) => userCodeLetters[byte % userCodeLetters.length])
  return [`${letters.slice(0, 4).join("")}-${letters.slice(4).join("")}`, next]
}

const lookup = <A>(tokens: Tokens<A>, token: string): Option.Option<A> => HashMap.get(tokens, Redacted.make(token))

/** Tokens for `clientId`, of a new login (`family`) unless one is given; a refresh token too with `withRefresh`. */
const issue = (
  state: State,
  options: {
    readonly clientId: string
    readonly scope: string
    readonly withRefresh: boolean
    readonly family?: number | undefined
  },
  now: number
): readonly [{ readonly accessToken: string; readonly refreshToken: string | undefined }, State] => {
  const family = options.family ?? state.families + 1
  const [accessToken, afterAccess] = mint({ ...state, families: Math.max(state.families, family) }, "fake-access")
  const withAccess: State = {
    ...afterAccess,
    accessTokens: HashMap.set(afterAccess.accessTokens, Redacted.make(accessToken), {
      clientId: options.clientId,
      family,
      expiresAt: now + afterAccess.settings.accessTokenLifetime * 1000
    })
  }
  if (!options.withRefresh) return [{ accessToken, refreshToken: undefined }, withAccess]
  const [refreshToken, afterRefresh] = mint(withAccess, "fake-refresh")
  return [
    { accessToken, refreshToken },
    {
      ...afterRefresh,
      refreshTokens: HashMap.set(afterRefresh.refreshTokens, Redacted.make(refreshToken), {
        clientId: options.clientId,
        scope: options.scope,
        family,
        expiresAt: now + afterRefresh.settings.refreshTokenLifetime,
        state: "active"
      })
    }
  ]
}

const tokenAnswer = (
  state: State,
  options: {
    readonly clientId: string
    readonly scope: string
    readonly withRefresh: boolean
    readonly family?: number
  },
  now: number
): readonly [Answer, State] => {
  const [tokens, next] = issue(state, options, now)
  return [success(next, now, { ...tokens, scope: options.scope }), next]
}

/** Every token of `family` stops working: its refresh tokens are revoked and its access tokens expire. */
const endFamily = (state: State, family: number): State => ({
  ...state,
  refreshTokens: HashMap.map(state.refreshTokens, (record) =>
    record.family === family ? { ...record, state: "revoked" as const } : record
  ),
  accessTokens: HashMap.map(state.accessTokens, (record) =>
    record.family === family ? { ...record, expiresAt: 0 } : record
  )
})

// -----------------------------------------------------------------------------
// the token endpoint
// -----------------------------------------------------------------------------

/** A client as it authenticated. */
export interface Authenticated {
  readonly client: Client
  readonly auth: ClientAuth
}

/** What a client sends to the token, revocation and device endpoints. */
export interface FormRequest {
  /** The `Authorization` header. */
  readonly authorization: string | undefined
  readonly form: UrlParams.UrlParams
}

const formDecode = (text: string): string | null => new URLSearchParams(`a=${text}`).get("a")

/** RFC 6749 §2.3.1, as Spotify does it: Basic first, else `client_id` (and `client_secret`) in the body. */
export const authenticate = (state: State, request: FormRequest): Either.Either<Authenticated, Answer> => {
  const header = request.authorization
  let clientId: string | null | undefined
  let secret: string | null | undefined
  let auth: ClientAuth
  if (header !== undefined && header.startsWith("Basic ")) {
    const decoded = Buffer.from(header.slice(6), "base64").toString("utf8")
    const colon = decoded.indexOf(":")
    if (colon < 0) return Either.left(fail(state, "invalid_client", "Invalid client"))
    clientId = formDecode(decoded.slice(0, colon))
    secret = formDecode(decoded.slice(colon + 1))
    auth = "basic"
  } else {
    clientId = param(request.form, "client_id")
    secret = param(request.form, "client_secret")
    auth = secret === undefined ? "none" : "post"
  }
  const client = state.settings.clients.find((c) => c.clientId === clientId)
  if (clientId == null || client === undefined) return Either.left(fail(state, "invalid_client", "Invalid client"))
  if (client.clientSecret !== undefined && secret !== client.clientSecret) {
    return Either.left(fail(state, "invalid_client", "Invalid client secret"))
  }
  return Either.right({ client, auth })
}

/** RFC 6749 §6: a refresh, with rotation, reuse detection and scope narrowing. Counts served and rejected refreshes. */
export const refreshGrant = (
  state: State,
  client: Client,
  form: UrlParams.UrlParams,
  now: number
): readonly [Answer, State] => {
  const token = param(form, "refresh_token")
  if (token === undefined || token === "") {
    return [fail(state, "invalid_request", "refresh_token must be supplied"), count(state, "refreshesRejected")]
  }
  const { settings } = state
  const reused = Option.filter(lookup(state.refreshTokens, token), (record) => record.state === "used")
  // a used token that comes back ends its whole family, itself included (RFC 9700 §4.14.2)
  const checked =
    Option.isSome(reused) && settings.revokeFamilyOnReuse
      ? count(endFamily(state, reused.value.family), "familiesRevoked")
      : state
  const refuse = (error: string, description: string, refused: Profiles.Refused = "refresh_token") =>
    [fail(state, error, description, refused), count(checked, "refreshesRejected")] as const
  const found = lookup(checked.refreshTokens, token)
  if (Option.isNone(found) || found.value.clientId !== client.clientId || found.value.state === "used") {
    return refuse("invalid_grant", "Invalid refresh token")
  }
  const record = found.value
  if (record.state === "revoked") return refuse("invalid_grant", "Refresh token revoked")
  if (record.expiresAt <= now) return refuse("invalid_grant", "Refresh token expired")
  const requested = param(form, "scope")
  if (requested !== undefined) {
    const granted = new Set(record.scope.split(" "))
    if (!requested.split(" ").every((s) => granted.has(s))) return refuse("invalid_scope", "Invalid scope", "other")
  }
  const spent: State =
    settings.rotate && !settings.keepOldRefreshTokens
      ? {
          ...checked,
          refreshTokens: HashMap.set(checked.refreshTokens, Redacted.make(token), { ...record, state: "used" as const })
        }
      : checked
  const scope = requested ?? record.scope
  const [answer, next] = tokenAnswer(
    spent,
    { clientId: client.clientId, scope, withRefresh: settings.rotate, family: record.family },
    now
  )
  return [answer, count(next, "refreshesServed")]
}

/** RFC 6749 §4.1.3 with RFC 7636: a code is used once, by its client, with its redirect URI and PKCE verifier. */
export const exchangeCode = (
  state: State,
  client: Client,
  form: UrlParams.UrlParams,
  now: number
): readonly [Answer, State] => {
  const key = param(form, "code") ?? ""
  const found = lookup(state.codes, key)
  if (
    Option.isNone(found) ||
    found.value.used ||
    found.value.expiresAt < now ||
    found.value.clientId !== client.clientId
  ) {
    return [fail(state, "invalid_grant", "Invalid authorization code", "authorization_code"), state]
  }
  const code = found.value
  if (param(form, "redirect_uri") !== code.redirectUri) {
    return [fail(state, "invalid_grant", "Invalid redirect URI", "authorization_code"), state]
  }
  if (code.challenge !== undefined && challengeOf(param(form, "code_verifier") ?? "") !== code.challenge) {
    return [fail(state, "invalid_grant", "code_verifier was incorrect", "authorization_code"), state]
  }
  const used: State = { ...state, codes: HashMap.set(state.codes, Redacted.make(key), { ...code, used: true }) }
  const [answer, next] = tokenAnswer(used, { clientId: client.clientId, scope: code.scope, withRefresh: true }, now)
  return [answer, count(next, "codesExchanged")]
}

/** RFC 7636 §4.2, S256. */
export const challengeOf = (verifier: string): string =>
  Crypto.createHash("sha256").update(verifier).digest("base64url")

/** RFC 6749 §4.4: confidential clients only; an app token, no refresh token. */
export const clientCredentials = (
  state: State,
  client: Client,
  form: UrlParams.UrlParams,
  now: number
): readonly [Answer, State] => {
  if (client.clientSecret === undefined) {
    return [fail(state, "unauthorized_client", "The client credentials grant needs a confidential client"), state]
  }
  return tokenAnswer(
    count(state, "clientCredentialsIssued"),
    { clientId: client.clientId, scope: param(form, "scope") ?? "", withRefresh: false },
    now
  )
}

/** RFC 8628 §3.4 and §3.5: a device's poll. */
export const devicePoll = (
  state: State,
  client: Client,
  form: UrlParams.UrlParams,
  now: number
): readonly [Answer, State] => {
  const key = param(form, "device_code") ?? ""
  const found = lookup(state.devices, key)
  if (Option.isNone(found) || found.value.clientId !== client.clientId || found.value.state === "used") {
    return [fail(state, "invalid_grant", "Invalid device code"), state]
  }
  const device = found.value
  if (now >= device.expiresAt) return [fail(state, "expired_token", "The device code expired"), state]
  const tooSoon = now - device.lastPoll < state.settings.deviceInterval * 1000
  const polled = (update: Partial<DeviceRecord> = {}): State => ({
    ...state,
    devices: HashMap.set(state.devices, Redacted.make(key), { ...device, lastPoll: now, ...update })
  })
  if (device.state === "approved") {
    return tokenAnswer(
      polled({ state: "used" }),
      { clientId: client.clientId, scope: device.scope, withRefresh: true },
      now
    )
  }
  if (device.state === "denied") return [fail(state, "access_denied", "The user denied the request"), polled()]
  return [
    tooSoon
      ? fail(state, "slow_down", "Polling too fast")
      : fail(state, "authorization_pending", "The user has not approved the request yet"),
    polled()
  ]
}

type Grant = (state: State, client: Client, form: UrlParams.UrlParams, now: number) => readonly [Answer, State]

/** The grants of the token endpoint, by `grant_type`. */
const grants: { readonly [grantType: string]: Grant } = {
  refresh_token: refreshGrant,
  authorization_code: exchangeCode,
  client_credentials: clientCredentials,
  [deviceCodeGrantType]: devicePoll
}

/** `POST /api/token`. */
export const tokenRequest = (state: State, request: FormRequest, now: number): readonly [Handled, State] => {
  const grantType = param(request.form, "grant_type")
  const authenticated = authenticate(state, request)
  if (Either.isLeft(authenticated)) {
    const next = grantType === "refresh_token" ? count(state, "refreshesRejected") : state
    return [{ answer: authenticated.left, grantType }, next]
  }
  const { auth, client } = authenticated.right
  const who = { clientId: client.clientId, clientAuth: auth }
  if (grantType === undefined) {
    return [{ answer: fail(state, "unsupported_grant_type", "grant_type parameter is missing"), ...who }, state]
  }
  const grant = Object.hasOwn(grants, grantType) ? grants[grantType] : undefined
  if (grant === undefined) {
    return [{ answer: fail(state, "unsupported_grant_type", "Unsupported grant type"), ...who, grantType }, state]
  }
  const [answer, next] = grant(state, client, request.form, now)
  return [{ answer, ...who, grantType }, next]
}

// -----------------------------------------------------------------------------
// the other endpoints
// -----------------------------------------------------------------------------

/** `POST /revoke`, RFC 7009 §2: the client that the token was issued to revokes it; unknown tokens get 200 too. */
export const revoke = (state: State, request: FormRequest): readonly [Handled, State] => {
  const authenticated = authenticate(state, request)
  if (Either.isLeft(authenticated)) return [{ answer: authenticated.left }, state]
  const clientId = authenticated.right.client.clientId
  const who = { clientId, clientAuth: authenticated.right.auth }
  const token = param(request.form, "token")
  if (token === undefined || token === "") {
    return [{ answer: fail(state, "invalid_request", "token must be supplied"), ...who }, state]
  }
  const hint = param(request.form, "token_type_hint")
  if (hint !== undefined && hint !== "refresh_token" && hint !== "access_token") {
    return [{ answer: fail(state, "unsupported_token_type", "Unsupported token type hint"), ...who }, state]
  }
  const refresh = Option.filter(lookup(state.refreshTokens, token), (record) => record.clientId === clientId)
  const access = Option.filter(lookup(state.accessTokens, token), (record) => record.clientId === clientId)
  const next = Option.isSome(refresh)
    ? // revoking a refresh token ends its whole grant, access tokens included (RFC 7009 §2.1)
      count(endFamily(state, refresh.value.family), "tokensRevoked")
    : Option.isSome(access)
      ? count(
          {
            ...state,
            accessTokens: HashMap.set(state.accessTokens, Redacted.make(token), { ...access.value, expiresAt: 0 })
          },
          "tokensRevoked"
        )
      : state
  const answer: Answer = { status: 200, headers: { "cache-control": "no-store" }, body: "", error: undefined }
  return [{ answer, ...who }, next]
}

/** `POST /device/code`, RFC 8628 §3.2: a device login starts; the user approves it elsewhere (`approveDevice`). */
export const deviceAuthorize = (state: State, request: FormRequest, now: number): readonly [Handled, State] => {
  const authenticated = authenticate(state, request)
  if (Either.isLeft(authenticated)) return [{ answer: authenticated.left }, state]
  const { auth, client } = authenticated.right
  const { settings } = state
  const [deviceCode, afterDevice] = mint(state, "fake-device")
  const [userCode, afterUser] = mintUserCode(afterDevice)
  const next: State = {
    ...afterUser,
    devices: HashMap.set(afterUser.devices, Redacted.make(deviceCode), {
      clientId: client.clientId,
      userCode,
      scope: param(request.form, "scope") ?? settings.defaultScope,
      expiresAt: now + settings.deviceCodeLifetime * 1000,
      state: "pending",
      lastPoll: 0
    })
  }
  const answer = json(200, {
    device_code: deviceCode,
    user_code: userCode,
    verification_uri: `${settings.url}/device`,
    verification_uri_complete: `${settings.url}/device?user_code=${userCode}`,
    expires_in: settings.deviceCodeLifetime,
    interval: settings.deviceInterval
  })
  return [{ answer, clientId: client.clientId, clientAuth: auth }, next]
}

/** The user approves (or denies) the pending device login of `userCode`; `false` when there is none. */
export const approveDevice = (state: State, userCode: string, approve: boolean): readonly [boolean, State] => {
  const pending = HashMap.findFirst(
    state.devices,
    (device) => device.userCode === userCode && device.state === "pending"
  )
  if (Option.isNone(pending)) return [false, state]
  const [key, device] = pending.value
  const decided = { ...device, state: approve ? ("approved" as const) : ("denied" as const) }
  return [true, { ...state, devices: HashMap.set(state.devices, key, decided) }]
}

const isLoopbackRedirect = (uri: string): boolean => {
  try {
    const url = new URL(uri)
    return url.protocol === "http:" && (url.hostname === "127.0.0.1" || url.hostname === "[::1]")
  } catch {
    return false
  }
}

/** `GET /authorize`: the user logs in at once and is sent back with a code (or an error) for the client. */
export const authorize = (state: State, query: UrlParams.UrlParams, now: number): readonly [Answer, State] => {
  const { settings } = state
  const clientId = param(query, "client_id")
  const client = settings.clients.find((c) => c.clientId === clientId)
  if (client === undefined) return [plain(400, "INVALID_CLIENT: Invalid client"), state]
  const redirectUri = param(query, "redirect_uri") ?? ""
  const allowed =
    client.redirectUris === undefined ? isLoopbackRedirect(redirectUri) : client.redirectUris.includes(redirectUri)
  if (!allowed) return [plain(400, "INVALID_CLIENT: Invalid redirect URI"), state]
  const location = new URL(redirectUri)
  const clientState = param(query, "state")
  if (clientState !== undefined) location.searchParams.set("state", clientState)
  const refuse = (error: string, description: string): readonly [Answer, State] => {
    location.searchParams.set("error", error)
    location.searchParams.set("error_description", description)
    return [redirect(location), state]
  }
  const challenge = param(query, "code_challenge")
  if (param(query, "response_type") !== "code") {
    return refuse("unsupported_response_type", "response_type must be code")
  }
  if (challenge !== undefined && param(query, "code_challenge_method") !== "S256") {
    return refuse("invalid_request", "code_challenge_method must be S256")
  }
  if (client.clientSecret === undefined && challenge === undefined) {
    return refuse("invalid_request", "code_challenge is required for public clients")
  }
  const [code, minted] = mint(state, "fake-code")
  const next: State = {
    ...minted,
    codes: HashMap.set(minted.codes, Redacted.make(code), {
      clientId: client.clientId,
      redirectUri,
      scope: param(query, "scope") ?? settings.defaultScope,
      challenge,
      expiresAt: now + codeLifetimeMillis,
      used: false
    })
  }
  location.searchParams.set("code", code)
  return [redirect(location), count(next, "codesIssued")]
}

/** `GET /v1/me` with `Authorization: Bearer …`. */
export const me = (state: State, authorization: string | undefined, now: number): readonly [Answer, State] => {
  const called = count(state, "apiCalls")
  const token = authorization?.startsWith("Bearer ") ? authorization.slice(7) : ""
  const record = lookup(state.accessTokens, token)
  if (Option.isNone(record)) {
    return [json(401, { error: { status: 401, message: "Invalid access token" } }), count(called, "apiRejected")]
  }
  if (record.value.expiresAt <= now) {
    return [json(401, { error: { status: 401, message: "The access token expired" } }), count(called, "apiRejected")]
  }
  return [json(200, user), called]
}

/** The discovery document (OpenID Connect's and RFC 8414's are the same here), unless one was set instead. */
export const discoveryDocument = (state: State): Answer => {
  const { url } = state.settings
  return json(
    200,
    Option.getOrElse(state.settings.discoveryDocument, () => ({
      issuer: url,
      authorization_endpoint: `${url}/authorize`,
      token_endpoint: `${url}/api/token`,
      revocation_endpoint: `${url}/revoke`,
      device_authorization_endpoint: `${url}/device/code`,
      token_endpoint_auth_methods_supported: ["private_key_jwt", "client_secret_basic", "client_secret_post"],
      grant_types_supported: ["authorization_code", "refresh_token", "client_credentials", deviceCodeGrantType],
      response_types_supported: ["code"],
      code_challenge_methods_supported: ["S256"]
    }))
  )
}

// -----------------------------------------------------------------------------
// the service's own changes
// -----------------------------------------------------------------------------

/** Tokens as if the user had logged in (a new login). */
export const issueTokens = (
  state: State,
  options: { readonly clientId: string; readonly scope: string },
  now: number
): readonly [IssuedTokens, State] => {
  const [tokens, next] = issue(state, { ...options, withRefresh: true }, now)
  return [{ accessToken: Redacted.make(tokens.accessToken), refreshToken: Redacted.make(tokens.refreshToken!) }, next]
}

export const configure = (state: State, settings: Partial<Settings>): State => ({
  ...state,
  settings: { ...state.settings, ...settings }
})

/** Every access token issued so far is expired from now on. */
export const expireAccessTokens = (state: State): State => ({
  ...state,
  accessTokens: HashMap.map(state.accessTokens, (record) => ({ ...record, expiresAt: 0 }))
})

/** Every refresh token issued so far that still works is revoked. */
export const revokeRefreshTokens = (state: State): State => ({
  ...state,
  refreshTokens: HashMap.map(state.refreshTokens, (record) =>
    record.state === "active" ? { ...record, state: "revoked" as const } : record
  )
})

export const inject = (state: State, faults: ReadonlyArray<Fault>): State => ({
  ...state,
  faults: Chunk.appendAll(state.faults, Chunk.fromIterable(faults))
})

/**
 * The fault for the next token request: the next scripted one, else one of the rate's faults when `roll` (in [0, 1))
 * is under the rate, picked by `pick` (in [0, 1)). Counts the faults injected.
 */
export const takeFault = (state: State, roll: number, pick: number): readonly [Fault | undefined, State] => {
  const scripted = Chunk.head(state.faults)
  if (Option.isSome(scripted)) {
    return [scripted.value, count({ ...state, faults: Chunk.drop(state.faults, 1) }, "faultsInjected")]
  }
  const { faultRate, rateFaults } = state.settings
  if (rateFaults.length === 0 || roll >= faultRate) return [undefined, state]
  return [rateFaults[Math.floor(pick * rateFaults.length)], count(state, "faultsInjected")]
}

// -----------------------------------------------------------------------------
// the record
// -----------------------------------------------------------------------------

/** A request as it arrived: counted then, recorded once answered. */
export interface Arrival {
  readonly method: string
  /** Without the query. */
  readonly path: string
  readonly at: number
}

export const arrive = (state: State): State => count(state, "requests")

/** What the record says of an answer: its status (0 for none), its OAuth error, and who asked. */
export interface Outcome {
  readonly status: number
  readonly error?: string | undefined
  readonly clientId?: string | undefined
  readonly clientAuth?: ClientAuth | undefined
  readonly grantType?: string | undefined
}

export const outcomeOf = (handled: Handled): Outcome => ({
  status: handled.answer.status,
  error: handled.answer.error,
  clientId: handled.clientId,
  clientAuth: handled.clientAuth,
  grantType: handled.grantType
})

export const record = (state: State, arrival: Arrival, outcome: Outcome, fault?: Fault): State => ({
  ...state,
  recorded: Chunk.append(state.recorded, {
    method: arrival.method,
    path: arrival.path,
    grantType: outcome.grantType,
    clientId: outcome.clientId,
    clientAuth: outcome.clientAuth,
    status: outcome.status,
    error: outcome.error,
    fault: fault?._tag,
    at: arrival.at
  })
})
