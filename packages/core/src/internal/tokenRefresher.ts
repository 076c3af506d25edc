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
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Errors from "../Errors.js"
import type * as TokenRefresher from "../TokenRefresher.js"
import { TokenSet } from "../TokenSet.js"
import * as Options from "./options.js"
import { parseErrorResponse, parseTokenResponse, splitScope } from "./tokenResponse.js"

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

/** RFC 6749 §2.3.1: the id and secret are form-url-encoded before they are joined. */
const formEncode = (value: string): string => new URLSearchParams([["", value]]).toString().slice(1)

export const basicAuthorization = (clientId: string, clientSecret: Redacted.Redacted<string>): string =>
  `Basic ${Encoding.encodeBase64(`${formEncode(clientId)}:${formEncode(Redacted.value(clientSecret))}`)}`

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

const neverSent = (error: unknown): boolean => {
  let current: unknown = error
  for (let depth = 0; depth < 4 && typeof current === "object" && current !== null; depth++) {
    const { code, message } = current as { readonly code?: unknown; readonly message?: unknown }
    if (typeof code === "string" && notSentCodes.has(code)) return true
    if (typeof message === "string" && notSentMessage.test(message)) return true
    current = (current as { readonly cause?: unknown }).cause
  }
  return false
}

const transportDetail = (error: HttpClientError.HttpClientError): string =>
  error._tag === "RequestError"
    ? describeCause(error.cause ?? error.description ?? error.reason)
    : `the response body could not be read (${describeCause(error.cause ?? error.reason)})`

/** `Retry-After` is either delay-seconds or an HTTP-date (RFC 9110 §10.2.3). */
export const parseRetryAfter = (value: string | undefined, nowMillis: number): Duration.Duration | undefined => {
  if (value === undefined) return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Duration.seconds(Number(trimmed))
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Duration.millis(Math.max(0, date - nowMillis))
}

const contentTypeOf = (headers: Readonly<Record<string, string | undefined>>): string =>
  headers["content-type"]?.split(";")[0]?.trim() || "no content type"

const parseJson = (text: string): Either.Either<unknown, void> => {
  try {
    return Either.right(JSON.parse(text))
  } catch {
    return Either.left(undefined)
  }
}

const interpret = (
  status: number,
  headers: Readonly<Record<string, string | undefined>>,
  body: string,
  sentRefreshToken: Redacted.Redacted<string> | undefined,
  now: DateTime.Utc,
  possiblyConsumed: boolean
): Effect.Effect<
  TokenSet,
  Errors.InvalidGrant | Errors.InvalidClient | Errors.OAuthError | Errors.DecodeError | Unanswered
> => {
  if (status >= 200 && status < 300) {
    const json = parseJson(body)
    if (Either.isLeft(json)) {
      return Effect.fail(
        new Errors.DecodeError({
          status,
          reason: "NotJson",
          detail: `expected a JSON token response, got ${
            body.length === 0 ? "an empty body" : `${body.length} characters of ${contentTypeOf(headers)}`
          }`
        })
      )
    }
    return Either.match(parseTokenResponse(json.right), {
      onLeft: (detail) => Effect.fail(new Errors.DecodeError({ status, reason: "Schema", detail })),
      onRight: (response) => {
        const refreshToken =
          response.refresh_token === undefined ? sentRefreshToken : Redacted.make(response.refresh_token)
        if (refreshToken === undefined) {
          // a code exchange that grants no refresh token leaves nothing to keep the session alive with
          return Effect.fail(new Errors.DecodeError({ status, reason: "Schema", detail: "refresh_token is missing" }))
        }
        return Effect.succeed(
          new TokenSet(
            {
              accessToken: Redacted.make(response.access_token),
              refreshToken,
              tokenType: response.token_type,
              expiresAt: DateTime.addDuration(now, Duration.seconds(response.expires_in)),
              scope: splitScope(response.scope),
              issuedAt: now
            },
            // built from values the response schema has just decoded
            true
          )
        )
      }
    })
  }
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
  const oauth = Either.match(parseJson(body), { onLeft: Option.none, onRight: parseErrorResponse })
  if (Option.isNone(oauth)) {
    return status === 401
      ? Effect.fail(new Errors.InvalidClient({ status }))
      : Effect.fail(
          new Errors.DecodeError({
            status,
            reason: "NotOAuthError",
            detail: `expected an OAuth error object, got ${
              body.length === 0 ? "an empty body" : `${body.length} characters of ${contentTypeOf(headers)}`
            }`
          })
        )
  }
  const { error, error_description: description, error_uri: errorUri } = oauth.value
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

/** Exponential backoff with ±20% jitter (as `Schedule.jittered`), capped by `maxDelay`. */
const backoff = (options: Options.Resolved, retry: number): Effect.Effect<Duration.Duration> =>
  Effect.map(Random.nextRange(0.8, 1.2), (jitter) =>
    Duration.min(
      options.maxDelay,
      Duration.millis(Math.round(Duration.toMillis(options.baseDelay) * 2 ** (retry - 1) * jitter))
    )
  )

export const make = (
  input: TokenRefresher.Options
): Effect.Effect<TokenRefresher.Service, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const options = yield* Options.resolve(input)
    const host = options.tokenUrl.host
    const authorization =
      options.authMethod === "client_secret_basic" && options.clientSecret !== undefined
        ? basicAuthorization(options.clientId, options.clientSecret)
        : undefined
    const client = (yield* HttpClient.HttpClient).pipe(
      HttpClient.mapRequest((request) => {
        const json = HttpClientRequest.acceptJson(request)
        return authorization === undefined ? json : HttpClientRequest.setHeader(json, "authorization", authorization)
      }),
      // the authorization server is a third party: our trace ids are of no use to it
      HttpClient.withTracerPropagation(false)
    )
    const url = options.tokenUrl.toString()

    /** The grant's own fields, then the client's (RFC 6749 §2.3.1 for `client_secret_post`, §3.2.1 for public clients). */
    const tokenRequest = (grant: ReadonlyArray<readonly [string, string]>) => {
      const params: Array<readonly [string, string]> = [...grant]
      if (options.authMethod !== "client_secret_basic") params.push(["client_id", options.clientId])
      if (options.authMethod === "client_secret_post" && options.clientSecret !== undefined) {
        params.push(["client_secret", Redacted.value(options.clientSecret)])
      }
      return HttpClientRequest.post(url).pipe(HttpClientRequest.bodyUrlParams(params))
    }

    /** `possiblyConsumed`: an earlier attempt of this grant may have reached the server without an answer. */
    const attempt = (
      request: HttpClientRequest.HttpClientRequest,
      refreshToken: Redacted.Redacted<string> | undefined,
      possiblyConsumed: boolean
    ) =>
      // expiry counts from when the request was sent: the server started the token's life no earlier, so a slow
      // answer (or a busy event loop) can only make the client refresh early, never use an expired token
      Effect.flatMap(DateTime.now, (sentAt) =>
        client.execute(request).pipe(
          Effect.flatMap((response) => Effect.map(response.text, (body) => ({ response, body }))),
          Effect.timeoutFail({
            duration: options.timeout,
            onTimeout: () =>
              unanswered({
                reason: "Timeout",
                retryable: true,
                maybeDelivered: true,
                detail: `no answer within ${Duration.format(options.timeout)}`
              })
          }),
          Effect.catchTags({
            RequestError: (error) =>
              Effect.fail(
                unanswered({
                  reason: "Transport",
                  retryable: true,
                  maybeDelivered: !neverSent(error.cause),
                  detail: transportDetail(error)
                })
              ),
            // the server answered: it has acted on the request, whatever the body would have said
            ResponseError: (error) =>
              Effect.fail(
                unanswered({
                  reason: "Transport",
                  retryable: true,
                  maybeDelivered: true,
                  detail: transportDetail(error)
                })
              )
          }),
          Effect.flatMap(({ body, response }) =>
            interpret(response.status, response.headers, body, refreshToken, sentAt, possiblyConsumed)
          )
        )
      )

    /**
     * Until when the token endpoint asked this client to wait (`Retry-After`, epoch millis): grants that start before
     * then fail at once, so thousands of sessions do not hammer an endpoint that rate-limits per client.
     */
    const heldBack = yield* Ref.make<{ readonly until: number; readonly status: number | undefined }>({
      until: 0,
      status: undefined
    })
    const holdBack = (failure: Unanswered): Effect.Effect<void> =>
      failure.retryAfter === undefined
        ? Effect.void
        : Effect.flatMap(Clock.currentTimeMillis, (now) =>
            Ref.update(heldBack, (held) => {
              const until = now + Duration.toMillis(failure.retryAfter!)
              return until > held.until ? { until, status: failure.status } : held
            })
          )
    const checkHeldBack: Effect.Effect<void, Errors.NetworkError> = Effect.flatMap(Ref.get(heldBack), (held) =>
      held.until === 0
        ? Effect.void
        : Effect.flatMap(Clock.currentTimeMillis, (now) =>
            now >= held.until
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
          )
    )

    /** One grant, with the retry policy, a span and debug logs. */
    const grant = (
      span: string,
      params: ReadonlyArray<readonly [string, string]>,
      refreshToken: Redacted.Redacted<string> | undefined
    ) =>
      Effect.suspend(() => {
        const request = tokenRequest(params)
        let attempts = 0
        // an earlier attempt may have reached the server and used the grant without our seeing the answer
        let possiblyConsumed = false
        const loop: Effect.Effect<TokenSet, Errors.RefreshError> = Effect.suspend(() => {
          attempts++
          return attempt(request, refreshToken, possiblyConsumed)
        }).pipe(
          Effect.catchIf(isUnanswered, (failure) => {
            possiblyConsumed ||= failure.maybeDelivered
            const giveUp = new Errors.NetworkError({
              reason: failure.reason,
              attempts,
              ...(failure.status === undefined ? {} : { status: failure.status }),
              ...(failure.retryAfter === undefined ? {} : { retryAfter: failure.retryAfter }),
              ...(failure.detail === undefined ? {} : { detail: failure.detail })
            })
            const retry = (): Effect.Effect<TokenSet, Errors.RefreshError> => {
              if (!failure.retryable || attempts > options.maxRetries) return Effect.fail(giveUp)
              if (failure.retryAfter !== undefined && Duration.greaterThan(failure.retryAfter, options.maxRetryAfter)) {
                return Effect.fail(giveUp)
              }
              return Effect.flatMap(
                failure.retryAfter === undefined ? backoff(options, attempts) : Effect.succeed(failure.retryAfter),
                (delay) =>
                  Effect.logDebug("token request attempt failed; retrying").pipe(
                    Effect.annotateLogs({
                      attempt: attempts,
                      reason: failure.reason,
                      status: failure.status ?? "none",
                      delay: Duration.format(delay)
                    }),
                    Effect.zipRight(Effect.sleep(delay)),
                    Effect.zipRight(loop)
                  )
              )
            }
            return Effect.zipRight(holdBack(failure), Effect.suspend(retry))
          })
        )
        return Effect.zipRight(checkHeldBack, loop).pipe(
          Effect.tapBoth({
            onSuccess: (tokens) =>
              Effect.annotateCurrentSpan({
                "token_refresher.attempts": attempts,
                "token_refresher.outcome": "success"
              }).pipe(
                Effect.zipRight(
                  Effect.logDebug("token request succeeded").pipe(
                    Effect.annotateLogs({
                      attempts,
                      rotated: tokens.refreshToken !== refreshToken,
                      expiresAt: DateTime.formatIso(tokens.expiresAt)
                    })
                  )
                )
              ),
            onFailure: (error) =>
              Effect.annotateCurrentSpan({
                "token_refresher.attempts": attempts,
                "token_refresher.outcome": error._tag
              }).pipe(
                Effect.zipRight(
                  Effect.logDebug("token request failed").pipe(
                    Effect.annotateLogs({ attempts, error: error._tag, message: error.message })
                  )
                )
              )
          }),
          Effect.annotateLogs({ "token_refresher.host": host }),
          Effect.withSpan(span, {
            kind: "client",
            captureStackTrace: false,
            attributes: { "token_refresher.host": host, "token_refresher.auth_method": options.authMethod }
          })
        )
      })

    const refresh = (refreshToken: Redacted.Redacted<string>, refreshOptions?: TokenRefresher.RefreshOptions) => {
      const params: Array<readonly [string, string]> = [
        ["grant_type", "refresh_token"],
        ["refresh_token", Redacted.value(refreshToken)]
      ]
      const scope = refreshOptions?.scope
      if (scope !== undefined && scope.length > 0) params.push(["scope", scope.join(" ")])
      return grant("TokenRefresher.refresh", params, refreshToken)
    }

    const exchangeCode = (code: TokenRefresher.CodeExchange) =>
      grant(
        "TokenRefresher.exchangeCode",
        [
          ["grant_type", "authorization_code"],
          ["code", Redacted.value(code.code)],
          ["redirect_uri", code.redirectUri],
          ...(code.codeVerifier === undefined ? [] : [["code_verifier", Redacted.value(code.codeVerifier)] as const])
        ],
        undefined
      )

    return { refresh, exchangeCode } satisfies TokenRefresher.Service
  })
