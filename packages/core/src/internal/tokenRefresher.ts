import * as Headers from "@effect/platform/Headers"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as ConfigError from "effect/ConfigError"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as ParseResult from "effect/ParseResult"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Deadline from "../Deadline.js"
import * as Errors from "../Errors.js"
import type * as Grant from "../Grant.js"
import * as GrantModule from "../Grant.js"
import type * as Provider from "../Provider.js"
import type * as TokenRefresher from "../TokenRefresher.js"
import { TokenSet } from "../TokenSet.js"
import { boundedText, sanitize } from "./body.js"
import { someCause } from "./causes.js"
import { nowMillis } from "./fiberClock.js"
import * as Jose from "./jose.js"
import * as Options from "./options.js"
import {
  isCommonTokenResponse,
  parseErrorResponse,
  parseTokenResponse,
  splitScope,
  type TokenResponse
} from "./tokenResponse.js"

/** The statuses that say "try again later" (RFC 9110 and common practice for token endpoints). */
const retryableStatuses: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504])

/** An attempt that got no usable answer; becomes a `NetworkError` unless it is retried. */
interface Unanswered {
  readonly _tag: "Unanswered"
  readonly reason: "Transport" | "Timeout" | "Status"
  readonly retryable: boolean
  /** The request may have reached the server, which may have acted on it (used a refresh token) before failing. */
  readonly maybeDelivered: boolean
  readonly status?: number
  readonly retryAfter?: Duration.Duration
  readonly detail?: string
}

const unanswered = (fields: Omit<Unanswered, "_tag">): Unanswered => ({ _tag: "Unanswered", ...fields })

const isUnanswered = (u: unknown): u is Unanswered =>
  typeof u === "object" && u !== null && "_tag" in u && u._tag === "Unanswered"

/** The characters that `application/x-www-form-urlencoded` leaves as they are (WHATWG URL §5.2). */
const formSafe = /^[A-Za-z0-9*\-._]*$/

/**
 * `value` form-url-encoded as `URLSearchParams` encodes it (a space is `+`; `!'()~` are escaped), without building
 * one: most values (ids, tokens, grant types) need no escaping at all.
 */
const formEncode = (value: string): string => {
  if (formSafe.test(value)) return value
  try {
    return encodeURIComponent(value)
      .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
      .replace(/%20/g, "+")
  } catch {
    // a lone surrogate: `URLSearchParams` writes U+FFFD for it
    return new URLSearchParams([["", value]]).toString().slice(1)
  }
}

/** A form body: every field's name and value encoded, joined with `&`. */
export const formOf = (...parts: ReadonlyArray<ReadonlyArray<readonly [string, string]>>): string => {
  let form = ""
  for (const fields of parts) {
    for (const [name, value] of fields) form += `${form === "" ? "" : "&"}${formEncode(name)}=${formEncode(value)}`
  }
  return form
}

export const basicAuthorization = (clientId: string, clientSecret: Redacted.Redacted<string>): string =>
  `Basic ${Encoding.encodeBase64(`${formEncode(clientId)}:${formEncode(Redacted.value(clientSecret))}`)}`

/** A 2xx answer that is not a token response this client can use. */
const schemaError = (status: number, detail: string): Effect.Effect<never, Errors.DecodeError> =>
  Effect.fail(new Errors.DecodeError({ status, reason: "Schema", detail }))

/** The messages along an error's cause chain (bounded), e.g. "fetch failed: connect ECONNREFUSED 127.0.0.1:443". */
const describeCause = (error: unknown): string => {
  if (typeof error === "string" && error !== "") return error
  const messages: Array<string> = []
  let current: unknown = error
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    if (current.message !== "" && !messages.includes(current.message)) messages.push(current.message)
    current = current.cause
  }
  return messages.length === 0 ? "transport failure" : messages.join(": ")
}

/** Errors that mean the request never left: the server cannot have seen it. */
const notSentCodes: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_INVALID_ARG"
])

/** The same codes, as they appear in a message when the error carries no `code`. */
const notSentMessage = new RegExp(`\\b(${[...notSentCodes].join("|")})\\b`)

const neverSent = (error: unknown): boolean =>
  someCause(error, (cause) => {
    const { code, message } = cause as { readonly code?: unknown; readonly message?: unknown }
    return (
      (typeof code === "string" && notSentCodes.has(code)) ||
      (typeof message === "string" && notSentMessage.test(message))
    )
  })

const transportDetail = (error: HttpClientError.HttpClientError): string =>
  error._tag === "RequestError"
    ? describeCause(error.cause ?? error.description ?? error.reason)
    : `the response body could not be read (${describeCause(error.cause ?? error.reason)})`

/** The longest `Retry-After` taken as it is: a longer one (400 digits, a date in 2300) counts as a day. */
export const maxRetryAfterHonoured = Duration.days(1)

const imfFixdate =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/

/**
 * `Retry-After` as RFC 9110 §10.2.3 defines it: delay-seconds (digits only) or an IMF-fixdate. Anything else ("-5",
 * "1.5", another date format) is ignored, so the usual backoff applies; a delay above a day counts as a day.
 */
export const parseRetryAfter = (value: string | undefined, nowMillis: number): Duration.Duration | undefined => {
  if (value === undefined) return undefined
  const trimmed = value.trim()
  const cap = Duration.toMillis(maxRetryAfterHonoured)
  if (/^\d+$/.test(trimmed)) {
    // 400 digits parse to Infinity: compare lengths first
    return Duration.millis(trimmed.length > 8 ? cap : Math.min(cap, Number(trimmed) * 1000))
  }
  if (!imfFixdate.test(trimmed)) return undefined
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Duration.millis(Math.min(cap, Math.max(0, date - nowMillis)))
}

const contentTypeOf = (headers: Readonly<Record<string, string | undefined>>): string =>
  headers["content-type"]?.split(";")[0]?.trim() || "no content type"

/** The JSON in `text`, or `text` itself when it is not JSON. */
const jsonOrText = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/**
 * An answer as the decoding sees it when no `normalize` rewrites it: its headers are the answer's, read only when asked
 * for (a successful refresh reads none, and a client such as `NodeTokenClient` parses them only then).
 */
class AnswerResponse implements Provider.RawResponse {
  constructor(
    private readonly answer: Deadline.Answer,
    readonly body: unknown
  ) {}
  get status(): number {
    return this.answer.status
  }
  get headers(): Readonly<Record<string, string | undefined>> {
    return this.answer.headers
  }
}

/** The answer, its JSON parsed (the text when it is not JSON), through the provider's `normalize`. */
const rawResponse = (
  answer: Deadline.Answer,
  text: string,
  normalize: ((response: Provider.RawResponse) => Provider.RawResponse) | undefined
): Provider.RawResponse => {
  const body = jsonOrText(text)
  // `normalize` is given a plain object: it may spread it, which would drop getters
  return normalize === undefined
    ? new AnswerResponse(answer, body)
    : normalize({ status: answer.status, headers: answer.headers, body })
}

const describeBody = (text: string, headers: Readonly<Record<string, string | undefined>>): string =>
  text.length === 0 ? "an empty body" : `${text.length} characters of ${contentTypeOf(headers)}`

type FailureError = Errors.InvalidGrant | Errors.InvalidClient | Errors.OAuthError | Errors.DecodeError

/** An error answer (any status but 2xx), after `normalize`: a retryable status, an OAuth error, or a `DecodeError`. */
const failure = (
  raw: Provider.RawResponse,
  text: string,
  now: DateTime.Utc,
  possiblyConsumed: boolean
): Effect.Effect<
  never,
  Errors.InvalidGrant | Errors.InvalidClient | Errors.OAuthError | Errors.DecodeError | Unanswered
> => {
  const { headers, status } = raw
  const retryAfter = parseRetryAfter(headers["retry-after"], DateTime.toEpochMillis(now))
  if (retryableStatuses.has(status) || status >= 500) {
    return Effect.fail(
      unanswered({
        reason: "Status",
        retryable: retryableStatuses.has(status),
        maybeDelivered: false,
        status,
        ...(retryAfter === undefined ? {} : { retryAfter })
      })
    )
  }
  const oauth = parseErrorResponse(raw.body)
  if (Option.isNone(oauth)) {
    return status === 401
      ? Effect.fail(new Errors.InvalidClient({ status }))
      : Effect.fail(
          new Errors.DecodeError({
            status,
            reason: "NotOAuthError",
            detail: `expected an OAuth error object, got ${describeBody(text, headers)}`
          })
        )
  }
  // the server's words go into messages and terminals: no control characters, no megabytes
  const error = sanitize(oauth.value.error, 100)
  const description = oauth.value.error_description === undefined ? undefined : sanitize(oauth.value.error_description)
  const errorUri = oauth.value.error_uri === undefined ? undefined : sanitize(oauth.value.error_uri)
  const optional = description === undefined ? {} : { description }
  switch (error) {
    case "invalid_grant":
      return Effect.fail(new Errors.InvalidGrant({ status, ...optional, possiblyConsumed }))
    case "invalid_client":
      return Effect.fail(new Errors.InvalidClient({ status, ...optional }))
    default:
      return Effect.fail(
        new Errors.OAuthError({ status, error, ...optional, ...(errorUri === undefined ? {} : { errorUri }) })
      )
  }
}

const tenYearsMillis = 10 * 365 * 86_400_000

const epoch = DateTime.unsafeMake(0)

/**
 * `Utc` values at a millisecond, the last one kept: a `DateTime` is immutable, so refreshes that end within the same
 * millisecond (a busy server makes a dozen) share theirs. A value is made without the `Date` that
 * `DateTime.unsafeMake` would build and check first, which a clock's reading does not need. Each use (when a request
 * was sent, when its token expires) has its own, as the two alternate.
 */
class UtcAt {
  private last: DateTime.Utc = epoch
  at(millis: number): DateTime.Utc {
    if (this.last.epochMillis !== millis) this.last = DateTime.mapEpochMillis(epoch, () => millis)
    return this.last
  }
}
const sentAtUtc = new UtcAt()
const expiresAtUtc = new UtcAt()

/**
 * A `TokenSet` of values the response schema has just decoded, every field given. The class's constructor would copy
 * them, merge the defaults of the missing ones and assign them; with nothing to check or default, the instance is made
 * as the constructor ends up making it (the same own fields on the same prototype), at a sixth of the cost.
 */
const decodedTokenSet = (fields: { readonly [K in keyof typeof TokenSet.fields]: TokenSet[K] }): TokenSet =>
  Object.assign(Object.create(TokenSet.prototype) as TokenSet, fields)

const addLifetime = (start: DateTime.Utc, lifetime: Provider.RefreshTokenLifetime): DateTime.Utc =>
  DateTime.add(start, lifetime.length)

/** The refresh token's end of life by the provider's policy: from the grant's issue, or from the authorization. */
const policyEnd = (
  grant: Grant.Grant,
  lifetime: Provider.RefreshTokenLifetime | undefined,
  now: DateTime.Utc,
  authorizedAt: Option.Option<DateTime.Utc>
): Option.Option<DateTime.Utc> =>
  lifetime === undefined
    ? Option.none()
    : lifetime.from === "issue" || grant._tag === "AuthorizationCode"
      ? Option.some(addLifetime(now, lifetime))
      : Option.map(authorizedAt, (at) => addLifetime(at, lifetime))

/**
 * The `TokenSet` of a decoded answer to `grant`: the refresh token kept when none came back, `authorizedAt` carried
 * over a refresh, and the refresh token's end of life from the answer, else from the provider's policy.
 */
const tokenSetOf = (
  grant: Grant.Grant,
  response: TokenResponse,
  now: DateTime.Utc,
  provider: Provider.Provider,
  defaultExpiresIn: Duration.Duration | undefined
): Either.Either<TokenSet, string> => {
  const expiresAt =
    response.expires_at !== undefined
      ? Option.getOrUndefined(DateTime.make(response.expires_at * 1000))
      : response.expires_in !== undefined
        ? expiresAtUtc.at(now.epochMillis + response.expires_in * 1000)
        : defaultExpiresIn !== undefined
          ? DateTime.addDuration(now, defaultExpiresIn)
          : undefined
  if (expiresAt === undefined) {
    return Either.left(response.expires_at === undefined ? "expires_in is missing" : "expires_at: out of range")
  }
  if (DateTime.toEpochMillis(expiresAt) - DateTime.toEpochMillis(now) > tenYearsMillis) {
    return Either.left("expires_at: more than ten years ahead")
  }
  const previous = grant._tag === "RefreshToken" ? grant.previous : Option.none<TokenSet>()
  const issued =
    response.refresh_token === undefined
      ? Option.none()
      : // the same refresh token back (no rotation): the one sent is kept, without a second `Redacted` for it
        Option.some(
          // (the answer's token is a plain string until it is wrapped; comparing it with the sent one's value spares
          // that wrap, and keeps nothing unwrapped)
          grant._tag === "RefreshToken" && Redacted.value(grant.refreshToken) === response.refresh_token
            ? grant.refreshToken
            : Redacted.make(response.refresh_token)
        )
  const refreshToken = grant._tag === "RefreshToken" && Option.isNone(issued) ? Option.some(grant.refreshToken) : issued
  const authorizedAt =
    grant._tag !== "RefreshToken"
      ? Option.some(now)
      : Option.isSome(previous)
        ? previous.value.authorizedAt
        : Option.none<DateTime.Utc>()
  const lifetime = provider.refreshTokenLifetime
  const refreshTokenExpiresAt = Option.isNone(refreshToken)
    ? Option.none()
    : response.refresh_token_expires_in !== undefined
      ? Option.some(DateTime.addDuration(now, Duration.seconds(response.refresh_token_expires_in)))
      : Option.isSome(issued) || lifetime?.from === "authorization"
        ? Option.orElse(policyEnd(grant, lifetime, now, authorizedAt), () =>
            Option.isSome(issued) ? Option.none() : Option.flatMap(previous, (p) => p.refreshTokenExpiresAt)
          )
        : Option.flatMap(previous, (p) => p.refreshTokenExpiresAt)
  return Either.right(
    decodedTokenSet({
      accessToken: Redacted.make(response.access_token),
      refreshToken,
      tokenType: response.token_type,
      expiresAt,
      scope: splitScope(response.scope),
      issuedAt: now,
      authorizedAt,
      refreshTokenExpiresAt,
      dpopKey: Option.none()
    })
  )
}

/**
 * RFC 8628 §3.2's answer. Google names the page `verification_url`. The lifetimes are bounded: a day at most for the
 * codes, five minutes between polls, so a hostile answer cannot make a poll loop last for ever or never poll.
 */
const DeviceAnswer = Schema.Struct({
  device_code: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(4096)),
  user_code: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(256)),
  verification_uri: Schema.optional(Schema.String.pipe(Schema.maxLength(2048))),
  verification_url: Schema.optional(Schema.String.pipe(Schema.maxLength(2048))),
  verification_uri_complete: Schema.optional(Schema.String.pipe(Schema.maxLength(2048))),
  expires_in: Schema.Number.pipe(Schema.int(), Schema.between(1, 86_400)),
  interval: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.between(1, 300)))
}).pipe(
  Schema.filter((answer) =>
    answer.verification_uri !== undefined || answer.verification_url !== undefined
      ? undefined
      : "verification_uri is missing"
  )
)
const decodeDeviceAnswerSchema = Schema.decodeUnknownEither(DeviceAnswer, { errors: "all" })
const decodeDeviceAnswer = (body: unknown): Either.Either<Schema.Schema.Type<typeof DeviceAnswer>, string> =>
  Either.mapLeft(decodeDeviceAnswerSchema(body), (error) =>
    // by path only: the formatter's messages quote the values, and the device code is a secret
    [
      ...new Set(
        ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) =>
          issue.path.length === 0 ? "the device authorization answer is invalid" : `${issue.path.join(".")} is invalid`
        )
      )
    ].join("; ")
  )

/** RFC 9449 §8: the server wants a proof with its nonce. */
const isNonceError = (error: unknown): boolean =>
  typeof error === "object" &&
  error !== null &&
  (error as { readonly _tag?: unknown })._tag === "OAuthError" &&
  (error as Errors.OAuthError).error === "use_dpop_nonce"

/** The tracer a fiber has unless a layer installs another (`Layer.setTracer`): nothing reads its spans. */
const nativeTracer = Effect.runSync(Effect.tracer)

const spanNames: { readonly [K in Grant.Grant["_tag"]]: string } = {
  RefreshToken: "TokenRefresher.refresh",
  AuthorizationCode: "TokenRefresher.exchangeCode",
  ClientCredentials: "TokenRefresher.clientCredentials",
  DeviceCode: "TokenRefresher.pollDeviceToken"
}

/** RFC 8628 §3.4. */
export const deviceCodeGrantType = "urn:ietf:params:oauth:grant-type:device_code"

const scopeParam = (scope: ReadonlyArray<string>): ReadonlyArray<readonly [string, string]> =>
  scope.length === 0 ? [] : [["scope", scope.join(" ")]]

/** `&scope=…`, or nothing for no scope. */
const scopeForm = (scope: ReadonlyArray<string>): string => (scope.length === 0 ? "" : `&${formOf(scopeParam(scope))}`)

const deviceCodeGrantTypeForm = `grant_type=${formEncode(deviceCodeGrantType)}`

/**
 * The grant's own form fields (RFC 6749 §4.1.3, §4.4.2, §6), encoded: the same string as `formOf` makes of them, with
 * the fixed names and values written out, so that only the grant's own values are encoded per request.
 */
export const grantForm = (grant: Grant.Grant): string => {
  switch (grant._tag) {
    case "RefreshToken":
      return `grant_type=refresh_token&refresh_token=${formEncode(Redacted.value(grant.refreshToken))}${scopeForm(
        grant.scope
      )}`
    case "AuthorizationCode":
      return (
        `grant_type=authorization_code&code=${formEncode(Redacted.value(grant.code))}` +
        `&redirect_uri=${formEncode(grant.redirectUri)}` +
        (Option.isSome(grant.codeVerifier)
          ? `&code_verifier=${formEncode(Redacted.value(grant.codeVerifier.value))}`
          : "")
      )
    case "ClientCredentials":
      return `grant_type=client_credentials${scopeForm(grant.scope)}`
    case "DeviceCode":
      return `${deviceCodeGrantTypeForm}&device_code=${formEncode(Redacted.value(grant.deviceCode))}`
  }
}

/** Encoded forms joined with `&`, the empty ones left out. */
const joinForms = (a: string, b: string): string => (a === "" ? b : b === "" ? a : `${a}&${b}`)

/** A request to send: built already, or an effect that builds one for each attempt (a client assertion, a proof). */
type RequestPlan = HttpClientRequest.HttpClientRequest | Effect.Effect<HttpClientRequest.HttpClientRequest>

const planned = (plan: RequestPlan): Effect.Effect<HttpClientRequest.HttpClientRequest> =>
  Effect.isEffect(plan) ? plan : Effect.succeed(plan)

export const make = (
  input: TokenRefresher.Options
): Effect.Effect<TokenRefresher.Service, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const options = yield* Options.resolve(input)
    const provider = options.provider
    const normalize = provider.normalize
    const host = options.tokenUrl.host
    const authorization =
      options.authMethod === "client_secret_basic" && options.clientSecret !== undefined
        ? basicAuthorization(options.clientId, options.clientSecret)
        : undefined
    const clientEnforcesDeadline = yield* Deadline.Enforced
    const base = yield* HttpClient.HttpClient
    // the authorization server is a third party: our trace ids are of no use to it (a client that enforces the
    // deadline, `NodeTokenClient`, never sends them, so it is spared the wrapper)
    const client = clientEnforcesDeadline ? base : HttpClient.withTracerPropagation(base, false)
    const tokenUrl = options.tokenUrl.toString()
    const deadline = Option.some(options.timeout)
    /** Every token request carries these: built once. */
    const headers = Headers.fromInput({
      accept: "application/json",
      ...(authorization === undefined ? {} : { authorization })
    })
    const timedOut = () =>
      unanswered({
        reason: "Timeout",
        retryable: true,
        maybeDelivered: true,
        detail: `no answer within ${Duration.format(options.timeout)}`
      })

    /** A request or response that failed: the deadline passing, or the transport. */
    const transportFailure = (error: HttpClientError.HttpClientError, maybeDelivered: boolean): Unanswered =>
      Deadline.isTimeout(error.cause)
        ? timedOut()
        : unanswered({ reason: "Transport", retryable: true, maybeDelivered, detail: transportDetail(error) })

    /**
     * The client's fields that never change, encoded once: `client_id` (but with Basic), and the secret of
     * `client_secret_post`.
     */
    const clientFields: Array<readonly [string, string]> = []
    if (options.authMethod !== "client_secret_basic") clientFields.push(["client_id", options.clientId])
    if (options.authMethod === "client_secret_post" && options.clientSecret !== undefined) {
      clientFields.push(["client_secret", Redacted.value(options.clientSecret)])
    }
    const clientForm = formOf(clientFields)
    const assertionKey = options.assertionKey

    /**
     * The request to each endpoint without its body but with the headers of a form body of each length seen (a
     * refresh's form has the same length each time): its URL parsed and its headers merged once, not per request. At
     * most 16 lengths are kept per endpoint.
     */
    const baseRequests = new Map<string, Map<number, HttpClientRequest.HttpClientRequest>>()
    const baseRequestOf = (url: string, contentLength: number): HttpClientRequest.HttpClientRequest => {
      let byLength = baseRequests.get(url)
      if (byLength === undefined) {
        byLength = new Map()
        baseRequests.set(url, byLength)
      }
      let base = byLength.get(contentLength)
      if (base === undefined) {
        if (byLength.size >= 16) byLength.clear()
        base = HttpClientRequest.post(url, {
          headers: Headers.merge(
            headers,
            Headers.fromInput({
              "content-type": "application/x-www-form-urlencoded",
              "content-length": String(contentLength)
            })
          )
        })
        byLength.set(contentLength, base)
      }
      return base
    }

    /**
     * One request to `url`: its own fields, then the client's (RFC 6749 §2.3.1 for `client_secret_post`, §3.2.1 for
     * public clients, RFC 7523 §2.2 for a client assertion), and a DPoP proof with `dpopKey`. An assertion and a proof
     * are made anew for every attempt (each has its own `jti`): the plan is then an effect that builds the request; a
     * request with neither is built once, here.
     */
    const requestOf = (url: string, ownForm: string, dpopKey: Redacted.Redacted<string> | undefined): RequestPlan => {
      const build = (assertion: ReadonlyArray<readonly [string, string]>, proof: string | undefined) => {
        // the form as a string: no encoding pass here, and a client that can send a string sends it as it is
        const form = joinForms(joinForms(ownForm, clientForm), assertion.length === 0 ? "" : formOf(assertion))
        // URL-encoded: ASCII only, so one character is one byte. The base request carries `Content-Type` and
        // `Content-Length` already: a body that named them would make `setBody` copy the headers twice.
        const request = HttpClientRequest.setBody(baseRequestOf(url, form.length), HttpBody.raw(form))
        return proof === undefined ? request : HttpClientRequest.setHeader(request, "dpop", proof)
      }
      if (assertionKey === undefined && dpopKey === undefined) return build([], undefined)
      return Effect.zipWith(
        assertionKey === undefined
          ? Effect.succeed([])
          : Jose.assertionFields(assertionKey, options.clientId, options.audience),
        dpopKey === undefined
          ? Effect.succeed(undefined)
          : Effect.suspend(() => Jose.dpopProof(dpopKey, { method: "POST", url, nonce: Jose.nonces.get(url) })),
        build
      )
    }

    /** What the attempts of one request have seen: how many were sent, and whether one may have been consumed. */
    interface Seen {
      attempts: number
      /** An attempt may have reached the server, which may have used the grant, without our seeing the answer. */
      possiblyConsumed: boolean
    }

    /** A failed request or body read, as the retry policy sees it. */
    const failureOf = (error: HttpClientError.HttpClientError): Unanswered => {
      switch (error._tag) {
        case "RequestError":
          return transportFailure(error, !neverSent(error.cause))
        case "ResponseError":
          // the server answered: it has acted on the request, whatever the body would have said
          return transportFailure(error, true)
      }
    }

    /**
     * An attempt that got no usable answer: remembered for the next attempt, and its `Retry-After` for every grant;
     * then `next`, which fails with it (an attempt the retry schedule drives) or starts the retries (the first one).
     */
    const unansweredAttempt = <A, E>(
      seen: Seen,
      failure: Unanswered,
      next: (failure: Unanswered) => Effect.Effect<A, E>
    ): Effect.Effect<A, E> => {
      seen.possiblyConsumed ||= failure.maybeDelivered
      return failure.retryAfter === undefined ? next(failure) : Effect.zipRight(holdBack(failure), next(failure))
    }

    const maxBytes = options.maxResponseBytes
    const exchangeOptions = { maxBytes, timeout: options.timeout }
    /** A client that carries out a whole exchange itself (`NodeTokenClient`), given the deadline and the limit. */
    const exchange = Deadline.Exchange in base ? (base as unknown as Deadline.Exchanges)[Deadline.Exchange] : undefined

    /**
     * The answer to `request` and its body as text (`undefined` past `maxResponseBytes`); with a client that does not
     * enforce the deadline, timed here.
     */
    const answerTo = (
      request: HttpClientRequest.HttpClientRequest
    ): Effect.Effect<Deadline.Answer, HttpClientError.HttpClientError | Unanswered> => {
      if (exchange !== undefined) return exchange(request, exchangeOptions)
      const answered = Effect.flatMap(client.execute(request), (response) =>
        Effect.map(boundedText(response, maxBytes), (text): Deadline.Answer => ({
          status: response.status,
          headers: response.headers,
          text
        }))
      )
      // a client that enforces the deadline itself (see `send`) saves the two fibers of `Effect.timeout` per attempt
      return clientEnforcesDeadline
        ? answered
        : Effect.timeoutFail(answered, { duration: options.timeout, onTimeout: timedOut })
    }

    /**
     * One attempt, sent from `fiber`: the answer, normalized, handed to `onSuccess` when it is a 2xx. Expiry counts from
     * when the request was sent (by the Effect `Clock`): the server started the token's life no earlier, so a slow
     * answer (or a busy event loop) can only make the client refresh early, never use an expired token. An attempt
     * that gets no usable answer goes on with `next` (see `unansweredAttempt`).
     */
    const attempt = <A, E, A2, E2>(
      fiber: Fiber.RuntimeFiber<unknown, unknown>,
      request: HttpClientRequest.HttpClientRequest,
      seen: Seen,
      onSuccess: (raw: Provider.RawResponse, text: string, sentAt: DateTime.Utc) => Effect.Effect<A, E>,
      next: (failure: Unanswered) => Effect.Effect<A2, E2>
    ): Effect.Effect<A | A2, E | E2 | FailureError> => {
      seen.attempts++
      const sentAtMillis = nowMillis(fiber)
      return Effect.matchEffect(answerTo(request), {
        onFailure: (error) => unansweredAttempt(seen, error._tag === "Unanswered" ? error : failureOf(error), next),
        onSuccess: (answer): Effect.Effect<A | A2, E | E2 | FailureError> => {
          // DPoP: the server's latest nonce for its origin, for the next proof (RFC 9449 §8)
          if (options.dpop !== undefined) Jose.nonces.set(request.url, answer.headers["dpop-nonce"])
          const text = answer.text
          if (text === undefined) {
            return Effect.fail(
              new Errors.DecodeError({
                status: answer.status,
                reason: "TooLarge",
                detail: `the body is longer than ${maxBytes} bytes (maxResponseBytes); reading stopped there`
              })
            )
          }
          const raw = rawResponse(answer, text, normalize)
          const sentAt = sentAtUtc.at(sentAtMillis)
          if (raw.status >= 200 && raw.status < 300) return onSuccess(raw, text, sentAt)
          return Effect.catchIf(failure(raw, text, sentAt, seen.possiblyConsumed), isUnanswered, (unanswered) =>
            unansweredAttempt(seen, unanswered, next)
          )
        }
      })
    }

    /** A 2xx answer to a grant: a token response, decoded. */
    const tokensOf =
      (grant: Grant.Grant) =>
      (raw: Provider.RawResponse, text: string, sentAt: DateTime.Utc): Effect.Effect<TokenSet, Errors.DecodeError> => {
        if (typeof raw.body === "string") {
          return Effect.fail(
            new Errors.DecodeError({
              status: raw.status,
              reason: "NotJson",
              detail: `expected a JSON token response, got ${describeBody(text, raw.headers)}`
            })
          )
        }
        // the common good answer is read as it is; anything else goes through the Schema, which says what is wrong
        let response: TokenResponse
        if (isCommonTokenResponse(raw.body)) {
          response = raw.body
        } else {
          const parsed = parseTokenResponse(raw.body)
          if (Either.isLeft(parsed)) return schemaError(raw.status, parsed.left)
          response = parsed.right
        }
        // a DPoP-bound token is of no use to a client without the key
        if (
          options.dpop === undefined &&
          response.token_type.length === 4 &&
          response.token_type.toLowerCase() === "dpop"
        ) {
          return schemaError(
            raw.status,
            "token_type is DPoP, but this client has no DPoP key (the TokenRefresher option dpop is off)"
          )
        }
        const tokens = tokenSetOf(grant, response, sentAt, provider, options.defaultExpiresIn)
        return Either.isRight(tokens) ? Effect.succeed(tokens.right) : schemaError(raw.status, tokens.left)
      }

    /**
     * Until when the token endpoint asked this client to wait (`Retry-After`, epoch millis): grants that start before
     * then fail at once, so thousands of sessions do not hammer an endpoint that rate-limits per client.
     */
    let heldBack: { readonly until: number; readonly status: number | undefined } = { until: 0, status: undefined }
    const holdBack = (failure: Unanswered): Effect.Effect<void> =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const until = now + Duration.toMillis(failure.retryAfter!)
        if (until > heldBack.until) heldBack = { until, status: failure.status }
      })
    /** Whether a `Retry-After` is in force; one that has passed is forgotten. */
    const isHeldBack = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean => {
      if (heldBack.until === 0) return false
      if (nowMillis(fiber) < heldBack.until) return true
      heldBack = { until: 0, status: undefined }
      return false
    }
    const checkHeldBack: Effect.Effect<void, Errors.NetworkError> = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const held = heldBack
      return now >= held.until
        ? Effect.void
        : Effect.fail(
            new Errors.NetworkError({
              reason: "Status",
              attempts: 0,
              retryAfter: Duration.millis(held.until - now),
              ...(held.status === undefined ? {} : { status: held.status }),
              detail: "not sent: the token endpoint asked this client to wait (Retry-After)"
            })
          )
    })

    /**
     * The retry policy, built once: exponential from `baseDelay`, jittered (±20%), capped by `maxDelay`, bounded by
     * `maxRetries`; a `Retry-After` replaces the delay, and one above `maxRetryAfter` (or a failure that is not
     * transient) stops it.
     */
    const retryPolicy = Schedule.identity<unknown>().pipe(
      Schedule.intersect(
        Schedule.exponential(options.baseDelay).pipe(
          Schedule.jittered,
          Schedule.modifyDelay((_, delay) => Duration.min(delay, options.maxDelay)),
          Schedule.intersect(Schedule.recurs(options.maxRetries))
        )
      ),
      Schedule.whileInput(
        (failure: unknown) =>
          isUnanswered(failure) &&
          failure.retryable &&
          (failure.retryAfter === undefined || Duration.lessThanOrEqualTo(failure.retryAfter, options.maxRetryAfter))
      ),
      Schedule.modifyDelayEffect(([input, [, retry]], backoff) => {
        // only an `Unanswered` gets here (see `whileInput`)
        const failure = input as Unanswered
        const delay = failure.retryAfter ?? backoff
        return Effect.as(
          Effect.whenLogLevel(
            Effect.logDebug("token request attempt failed; retrying").pipe(
              Effect.annotateLogs({
                "token_refresher.host": host,
                attempt: retry + 1,
                reason: failure.reason,
                status: failure.status ?? "none",
                delay: Duration.format(delay)
              })
            ),
            "Debug"
          ),
          delay
        )
      })
    )

    const networkError = (failure: Unanswered, attempts: number) =>
      new Errors.NetworkError({
        reason: failure.reason,
        attempts,
        ...(failure.status === undefined ? {} : { status: failure.status }),
        ...(failure.retryAfter === undefined ? {} : { retryAfter: failure.retryAfter }),
        ...(failure.detail === undefined ? {} : { detail: failure.detail })
      })

    const spanOptions = {
      kind: "client",
      captureStackTrace: false,
      attributes: { "token_refresher.host": host, "token_refresher.auth_method": options.authMethod }
    } as const

    /** The span's and the debug log's account of a request that ended. */
    const report = <A, E extends { readonly _tag: string; readonly message: string }>(
      effect: Effect.Effect<A, E>,
      seen: Seen,
      describeSuccess: (a: A) => Record<string, unknown>
    ): Effect.Effect<A, E> => {
      /** The outcome on the span, and a debug line with `fields` (made only when it is written). */
      const account = (outcome: string, message: string, fields: () => Record<string, unknown>) =>
        Effect.zipRight(
          Effect.annotateCurrentSpan({ "token_refresher.attempts": seen.attempts, "token_refresher.outcome": outcome }),
          Effect.whenLogLevel(
            Effect.suspend(() =>
              Effect.logDebug(message).pipe(
                Effect.annotateLogs({ "token_refresher.host": host, attempts: seen.attempts, ...fields() })
              )
            ),
            "Debug"
          )
        )
      return Effect.tapBoth(effect, {
        onSuccess: (a: A) => account("success", "token request succeeded", () => describeSuccess(a)),
        onFailure: (error: E) =>
          account(error._tag, "token request failed", () => ({ error: error._tag, message: error.message }))
      })
    }

    /**
     * One request to the authorization server, with the retry policy, a span and debug logs.
     *
     * The first attempt runs on its own: the retry schedule is started only after a failure, which it is handed as its
     * first input. The span is made, and the account written, only for a tracer that records them (not Effect's
     * built-in one, whose spans nothing reads) and at the `Debug` log level.
     */
    const send = <A, E extends { readonly _tag: string; readonly message: string }>(
      span: string,
      plan: RequestPlan,
      onSuccess: (raw: Provider.RawResponse, text: string, sentAt: DateTime.Utc) => Effect.Effect<A, E>,
      describeSuccess: (a: A) => Record<string, unknown>
    ): Effect.Effect<A, E | Errors.RefreshError> =>
      Effect.withFiberRuntime((fiber) => {
        const seen: Seen = { attempts: 0, possiblyConsumed: false }
        /**
         * One attempt that fails when it gets no usable answer, as the retry schedule drives it (made when first
         * needed: most requests never retry).
         */
        const onceOf = (): Effect.Effect<A, E | FailureError | Unanswered> => {
          const sent: Effect.Effect<A, E | FailureError | Unanswered> = Effect.withFiberRuntime((current) =>
            Effect.isEffect(plan)
              ? Effect.flatMap(plan, (built) => attempt(current, built, seen, onSuccess, Effect.fail))
              : attempt(current, plan, seen, onSuccess, Effect.fail)
          )
          // DPoP: a server that asks for a nonce (RFC 9449 §8) refused the proof before it looked at the grant, so
          // the request goes again at once with the nonce it sent: not a retry, and nothing was consumed
          return options.dpop === undefined ? sent : Effect.catchIf(sent, isNonceError, () => sent)
        }
        const retried = (first: Unanswered) => {
          const once = onceOf()
          let replayed = false
          // the schedule sees the first failure again, without a second request, then drives the retries
          const replay = Effect.suspend(() => (replayed ? once : ((replayed = true), Effect.fail(first))))
          return Effect.catchAll(
            Effect.retry(replay, { schedule: retryPolicy, while: isUnanswered }),
            (failure): Effect.Effect<never, E | Errors.RefreshError> =>
              Effect.fail(isUnanswered(failure) ? networkError(failure, seen.attempts) : failure)
          )
        }
        // Two ways to the same outcome. The usual case, a request built already (no assertion, no proof) and no
        // `Retry-After` in force: the first attempt is sent from here, and one that gets no usable answer starts the
        // retries itself. Otherwise: the hold-back is checked, and the first attempt fails into the retries.
        const run =
          !Effect.isEffect(plan) && options.dpop === undefined && !isHeldBack(fiber)
            ? attempt(fiber, plan, seen, onSuccess, retried)
            : Effect.zipRight(
                checkHeldBack,
                Effect.catchAll(onceOf(), (failure) =>
                  isUnanswered(failure) ? retried(failure) : Effect.fail(failure)
                )
              )
        const traced = fiber.currentTracer !== nativeTracer && fiber.getFiberRef(FiberRef.currentTracerEnabled)
        const debug = !LogLevel.greaterThan(fiber.getFiberRef(FiberRef.currentMinimumLogLevel), LogLevel.Debug)
        const reported = traced || debug ? report(run, seen, describeSuccess) : run
        const spanned = traced ? Effect.withSpan(reported, span, spanOptions) : reported
        // the client reads the deadline of each attempt from the fiber (see `Deadline`); an exchange is given it
        return clientEnforcesDeadline && exchange === undefined
          ? Effect.locally(spanned, Deadline.current, deadline)
          : spanned
      })

    /** After its known end of life, an `invalid_grant` says so. */
    const endOfLife = (grant: Grant.Grant) => (error: Errors.InvalidGrant) =>
      grant._tag !== "RefreshToken"
        ? Effect.fail(error)
        : Effect.flatMap(DateTime.now, (now) => {
            const end = Option.flatMap(grant.previous, (previous) => previous.refreshTokenExpiresAt)
            return Option.isSome(end) && DateTime.lessThanOrEqualTo(end.value, now)
              ? Effect.fail(new Errors.InvalidGrant({ ...error, refreshTokenExpiredAt: end.value }))
              : Effect.fail(error)
          })

    /** With DPoP on: `known`, or a new key where there is none; without DPoP: no key. */
    const dpopKeyOr = (known: Redacted.Redacted<string> | undefined) =>
      options.dpop === undefined
        ? Effect.succeed(undefined)
        : known === undefined
          ? Jose.generateDpopKey(options.dpop)
          : Effect.succeed(known)
    /** The DPoP key of a grant: the refreshed set's, a seeded token's, a device login's, or a new one. */
    const dpopKeyOf = (grant: Grant.Grant) =>
      dpopKeyOr(
        grant._tag === "RefreshToken"
          ? (Option.getOrUndefined(Option.flatMap(grant.previous, (previous) => previous.dpopKey)) ?? grant.dpopKey)
          : grant._tag === "DeviceCode"
            ? grant.dpopKey
            : undefined
      )
    /** RFC 9449 §5: a server may answer a DPoP request with a Bearer token. Said once per refresher. */
    let warnedBearer = false
    const keepKey = (key: Redacted.Redacted<string>) => (tokens: TokenSet) => {
      const bound = new TokenSet({ ...tokens, dpopKey: Option.some(key) }, { disableValidation: true })
      if (tokens.tokenType.toLowerCase() === "dpop" || warnedBearer) return Effect.succeed(bound)
      warnedBearer = true
      return Effect.as(
        Effect.logWarning("the token endpoint answered a DPoP request with a Bearer token: it is used as Bearer").pipe(
          Effect.annotateLogs({ "token_refresher.host": host, tokenType: tokens.tokenType })
        ),
        bound
      )
    }

    const grant = (grant: Grant.Grant): Effect.Effect<TokenSet, Errors.RefreshError> => {
      // a refresh token whose end of life is known: an `invalid_grant` after it says so
      const ends =
        grant._tag === "RefreshToken" &&
        Option.isSome(Option.flatMap(grant.previous, (previous) => previous.refreshTokenExpiresAt))
      const granted = (dpopKey: Redacted.Redacted<string> | undefined) => {
        const tokens = send(
          spanNames[grant._tag],
          requestOf(tokenUrl, grantForm(grant), dpopKey),
          tokensOf(grant),
          (tokens) => ({
            rotated: grant._tag === "RefreshToken" && !Option.contains(tokens.refreshToken, grant.refreshToken),
            expiresAt: DateTime.formatIso(tokens.expiresAt)
          })
        )
        const checked = ends ? Effect.catchTag(tokens, "InvalidGrant", endOfLife(grant)) : tokens
        return dpopKey === undefined ? checked : Effect.flatMap(checked, keepKey(dpopKey))
      }
      return options.dpop === undefined ? granted(undefined) : Effect.flatMap(dpopKeyOf(grant), granted)
    }

    const refresh = (refreshToken: Redacted.Redacted<string>, refreshOptions?: TokenRefresher.RefreshOptions) =>
      grant(
        GrantModule.RefreshToken({
          refreshToken,
          scope: refreshOptions?.scope ?? [],
          previous: Option.fromNullable(refreshOptions?.previous),
          dpopKey: refreshOptions?.dpopKey
        })
      )

    const exchangeCode = (code: TokenRefresher.CodeExchange) =>
      grant(
        GrantModule.AuthorizationCode({
          code: code.code,
          redirectUri: code.redirectUri,
          codeVerifier: Option.fromNullable(code.codeVerifier)
        })
      )

    const clientCredentials = (ccOptions?: TokenRefresher.ClientCredentialsOptions) =>
      grant(GrantModule.ClientCredentials({ scope: ccOptions?.scope ?? [] }))

    const revocationUrl = options.revocationUrl?.toString()
    const revoked = () => Effect.void
    const revoke = (
      token: Redacted.Redacted<string>,
      revokeOptions?: TokenRefresher.RevokeOptions
    ): Effect.Effect<void, Errors.RevokeError> =>
      revocationUrl === undefined
        ? Effect.fail(new Errors.RevocationUnsupported({ provider: provider.name }))
        : send(
            "TokenRefresher.revoke",
            // RFC 7009 §2.1
            Effect.flatMap(dpopKeyOr(revokeOptions?.dpopKey), (dpopKey) =>
              planned(
                requestOf(
                  revocationUrl,
                  formOf([
                    ["token", Redacted.value(token)],
                    ...(revokeOptions?.hint === undefined ? [] : [["token_type_hint", revokeOptions.hint] as const])
                  ]),
                  dpopKey
                )
              )
            ),
            revoked,
            () => ({})
          ).pipe(
            // RFC 7009 answers no grant: an invalid_grant here is just the server's way of saying "unknown token"
            Effect.catchTag("InvalidGrant", () => Effect.void)
          )

    const deviceUrl = Option.getOrUndefined(provider.deviceAuthorizationUrl)
    const deviceError = (reason: Errors.DeviceAuthorizationError["reason"], description?: string | undefined) =>
      new Errors.DeviceAuthorizationError({
        reason,
        provider: provider.name,
        ...(description === undefined ? {} : { description })
      })

    const deviceAuthorization = (
      deviceOptions?: TokenRefresher.DeviceAuthorizationOptions
    ): Effect.Effect<TokenRefresher.DeviceAuthorization, Errors.RefreshError | Errors.DeviceAuthorizationError> =>
      deviceUrl === undefined
        ? Effect.fail(deviceError("Unsupported"))
        : Effect.flatMap(dpopKeyOr(undefined), (dpopKey) =>
            send(
              "TokenRefresher.deviceAuthorization",
              requestOf(deviceUrl, formOf(scopeParam(deviceOptions?.scope ?? [])), dpopKey),
              (raw, _text, sentAt) =>
                Either.match(decodeDeviceAnswer(raw.body), {
                  onLeft: (detail) => schemaError(raw.status, detail),
                  onRight: (answer): Effect.Effect<TokenRefresher.DeviceAuthorization> =>
                    Effect.succeed({
                      deviceCode: Redacted.make(answer.device_code),
                      userCode: answer.user_code,
                      verificationUri: answer.verification_uri ?? answer.verification_url!,
                      verificationUriComplete: Option.fromNullable(answer.verification_uri_complete),
                      expiresIn: Duration.seconds(answer.expires_in),
                      interval: Duration.seconds(answer.interval ?? 5),
                      expiresAt: DateTime.addDuration(sentAt, Duration.seconds(answer.expires_in)),
                      dpopKey: Option.fromNullable(dpopKey)
                    })
                }),
              (authorization) => ({ expiresIn: Duration.format(authorization.expiresIn) })
            )
          )

    /** RFC 8628 §3.5: how long `slow_down` adds to the interval. */
    const slowDownMillis = 5000
    const pollDeviceToken = (
      authorization: TokenRefresher.DeviceAuthorization
    ): Effect.Effect<TokenSet, Errors.RefreshError | Errors.DeviceAuthorizationError> => {
      const poll = grant(
        GrantModule.DeviceCode({
          deviceCode: authorization.deviceCode,
          dpopKey: Option.getOrUndefined(authorization.dpopKey)
        })
      )
      const loop = (
        intervalMillis: number
      ): Effect.Effect<TokenSet, Errors.RefreshError | Errors.DeviceAuthorizationError> =>
        Effect.zipRight(
          Effect.sleep(Duration.millis(intervalMillis)),
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            now >= authorization.expiresAt.epochMillis
              ? Effect.fail(deviceError("Expired"))
              : Effect.catchTag(poll, "OAuthError", (error) => {
                  switch (error.error) {
                    case "authorization_pending":
                      return loop(intervalMillis)
                    case "slow_down":
                      return loop(intervalMillis + slowDownMillis)
                    case "expired_token":
                      return Effect.fail(deviceError("Expired", error.description))
                    case "access_denied":
                      return Effect.fail(deviceError("Denied", error.description))
                    default:
                      return Effect.fail(error)
                  }
                })
          )
        )
      return loop(Math.max(1000, Duration.toMillis(authorization.interval))).pipe(
        Effect.withSpan("TokenRefresher.pollDeviceToken", spanOptions)
      )
    }

    return {
      refresh,
      exchangeCode,
      clientCredentials,
      grant,
      revoke,
      deviceAuthorization,
      pollDeviceToken,
      provider
    } satisfies TokenRefresher.Service
  })
