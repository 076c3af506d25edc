/**
 * A scripted token endpoint behind a mock `HttpClient`: the layer our own unit tests use, and the one to use in yours.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"

/**
 * A request as the endpoint received it.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordedRequest {
  /** 1 for the first request the endpoint received. */
  readonly index: number
  readonly method: string
  readonly url: string
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>
  /** The body's content type, if it had a body. */
  readonly contentType: string | undefined
  /** The raw body text. */
  readonly body: string
  /** The form fields of an `application/x-www-form-urlencoded` body (empty otherwise). */
  readonly form: Readonly<Record<string, string>>
  /** When it arrived, by the Effect `Clock` (so `TestClock` time in tests). */
  readonly at: number
}

/**
 * One scripted answer.
 *
 * @since 0.1.0
 * @category models
 */
export type Reply =
  | {
      readonly _tag: "Response"
      readonly status: number
      readonly headers: Readonly<Record<string, string>>
      readonly body: string | ((request: RecordedRequest) => string)
    }
  | { readonly _tag: "TransportError"; readonly message: string }
  | { readonly _tag: "Hang" }
  | { readonly _tag: "Delayed"; readonly delay: Duration.Duration; readonly reply: Reply }

/**
 * The status and headers of a scripted reply.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResponseOptions {
  /** Default: 200. */
  readonly status?: number | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
}

/**
 * A JSON answer. `body` may be a function of the request, e.g. to echo a field back.
 *
 * @since 0.1.0
 * @category replies
 */
export const json = (body: unknown | ((request: RecordedRequest) => unknown), options?: ResponseOptions): Reply => ({
  _tag: "Response",
  status: options?.status ?? 200,
  headers: { "content-type": "application/json", ...options?.headers },
  body:
    typeof body === "function"
      ? (request) => JSON.stringify((body as (request: RecordedRequest) => unknown)(request))
      : JSON.stringify(body)
})

/**
 * A raw text answer (any content type, malformed JSON, an empty body).
 *
 * @since 0.1.0
 * @category replies
 */
export const text = (
  body: string,
  options?: ResponseOptions & { readonly contentType?: string | undefined }
): Reply => ({
  _tag: "Response",
  status: options?.status ?? 200,
  headers: { "content-type": options?.contentType ?? "text/plain; charset=utf-8", ...options?.headers },
  body
})

/**
 * The request fails before any answer (connection refused or reset).
 *
 * @since 0.1.0
 * @category replies
 */
export const transportError = (message = "connect ECONNREFUSED 127.0.0.1:443"): Reply => ({
  _tag: "TransportError",
  message
})

/**
 * The request never gets an answer (until it is interrupted, e.g. by a timeout).
 *
 * @since 0.1.0
 * @category replies
 */
export const hang: Reply = { _tag: "Hang" }

/**
 * Answers with `reply` after `delay` (by the Effect `Clock`).
 *
 * @since 0.1.0
 * @category replies
 */
export const delayed = (delay: Duration.DurationInput, reply: Reply): Reply => ({
  _tag: "Delayed",
  delay: Duration.decode(delay),
  reply
})

/**
 * The fields of a scripted success (`ok`).
 *
 * @since 0.1.0
 * @category models
 */
export interface OkOptions {
  /** Return a new refresh token (`mock-refresh-token-<request index>`). Default: false (none returned). */
  readonly rotate?: boolean | undefined
  /** Default: `mock-access-token-<request index>`. */
  readonly accessToken?: string | undefined
  /** The rotated refresh token, when `rotate` is true. Default: `mock-refresh-token-<request index>`. */
  readonly refreshToken?: string | undefined
  /** Default: 3600. */
  readonly expiresIn?: number | undefined
  /** Default: the `scope` the request asked for, else `"user-read-private user-read-email"`. */
  readonly scope?: string | undefined
  /** Default: `"Bearer"`. */
  readonly tokenType?: string | undefined
}

/**
 * Spotify's 200 answer to a refresh.
 *
 * @since 0.1.0
 * @category Spotify replies
 */
export const ok = (options?: OkOptions): Reply =>
  json((request: RecordedRequest) => ({
    access_token: options?.accessToken ?? `mock-access-token-${request.index}`,
    token_type: options?.tokenType ?? "Bearer",
    scope: options?.scope ?? request.form.scope ?? "user-read-private user-read-email",
    expires_in: options?.expiresIn ?? 3600,
    ...(options?.rotate === true
      ? { refresh_token: options.refreshToken ?? `mock-refresh-token-${request.index}` }
      : {})
  }))

/**
 * Spotify's answer to a revoked, expired, reused or unknown refresh token.
 *
 * @since 0.1.0
 * @category Spotify replies
 */
export const invalidGrant = (description = "Invalid refresh token"): Reply =>
  json({ error: "invalid_grant", error_description: description }, { status: 400 })

/**
 * Spotify's answer to a wrong client id or secret.
 *
 * @since 0.1.0
 * @category Spotify replies
 */
export const invalidClient = (description = "Invalid client secret", status = 400): Reply =>
  json({ error: "invalid_client", error_description: description }, { status })

/**
 * HTTP 429 with `Retry-After: <seconds>`.
 *
 * @since 0.1.0
 * @category Spotify replies
 */
export const rateLimited = (seconds: number): Reply =>
  text("", { status: 429, headers: { "retry-after": String(seconds) } })

/**
 * A server failure (default 500).
 *
 * @since 0.1.0
 * @category Spotify replies
 */
export const serverError = (status = 500): Reply => text("", { status })

/**
 * An HTML page, as a proxy or an outage page sends (default 502).
 *
 * @since 0.1.0
 * @category Spotify replies
 */
export const html = (status = 502): Reply =>
  text(`<html><head><title>${status}</title></head><body><h1>Error ${status}</h1></body></html>`, {
    status,
    contentType: "text/html; charset=utf-8"
  })

/**
 * Reads what the mock endpoint received.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Every request received so far, in order. */
  readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
  /** How many requests were received. */
  readonly count: Effect.Effect<number>
  /** How many scripted replies are still unused. */
  readonly remaining: Effect.Effect<number>
  /** Appends replies to the script. */
  readonly enqueue: (...replies: ReadonlyArray<Reply>) => Effect.Effect<void>
}

/**
 * The tag of the `MockTokenEndpoint` service.
 *
 * @since 0.1.0
 * @category tags
 */
export class MockTokenEndpoint extends Context.Tag("@token-refresher/testing/MockTokenEndpoint")<
  MockTokenEndpoint,
  Service
>() {}

/**
 * Decides the reply from the request, instead of a fixed script.
 *
 * @since 0.1.0
 * @category models
 */
export type Handler = (request: RecordedRequest) => Reply

const nullBodyStatuses = new Set([101, 204, 205, 304])

const decoder = new TextDecoder()

const bodyText = (request: HttpClientRequest.HttpClientRequest): string => {
  switch (request.body._tag) {
    case "Uint8Array":
      return decoder.decode(request.body.body)
    case "Raw":
      return typeof request.body.body === "string" ? request.body.body : ""
    default:
      return ""
  }
}

const contentTypeOf = (request: HttpClientRequest.HttpClientRequest): string | undefined =>
  request.headers["content-type"] ?? ("contentType" in request.body ? request.body.contentType : undefined)

const answer = (
  request: HttpClientRequest.HttpClientRequest,
  recorded: RecordedRequest,
  reply: Reply
): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError> => {
  switch (reply._tag) {
    case "Hang":
      return Effect.never
    case "Delayed":
      return Effect.zipRight(Effect.sleep(reply.delay), answer(request, recorded, reply.reply))
    case "TransportError":
      return Effect.fail(
        new HttpClientError.RequestError({ request, reason: "Transport", cause: new Error(reply.message) })
      )
    case "Response": {
      const body = typeof reply.body === "function" ? reply.body(recorded) : reply.body
      return Effect.succeed(
        HttpClientResponse.fromWeb(
          request,
          new Response(nullBodyStatuses.has(reply.status) ? null : body, {
            status: reply.status,
            headers: reply.headers
          })
        )
      )
    }
  }
}

/**
 * Provides an `HttpClient` that answers every request from `replies`, in order (or from a handler), and a
 * `MockTokenEndpoint` to read what it received. A request beyond the script is a defect that names the request, so a
 * test that sends more requests than it expects fails loudly.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (replies: Iterable<Reply> | Handler): Layer.Layer<HttpClient.HttpClient | MockTokenEndpoint> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const script = yield* Ref.make<ReadonlyArray<Reply>>(typeof replies === "function" ? [] : Array.from(replies))
      // appended in place: copying the record on every request would make long runs quadratic
      const received: Array<RecordedRequest> = []

      const record = (request: HttpClientRequest.HttpClientRequest, url: URL) =>
        Effect.map(Clock.currentTimeMillis, (at) => {
          const contentType = contentTypeOf(request)
          const body = bodyText(request)
          const recorded: RecordedRequest = {
            index: received.length + 1,
            method: request.method,
            url: url.toString(),
            headers: { ...request.headers },
            contentType,
            body,
            form: contentType?.startsWith("application/x-www-form-urlencoded")
              ? Object.fromEntries(new URLSearchParams(body))
              : {},
            at
          }
          received.push(recorded)
          return recorded
        })

      const next = (recorded: RecordedRequest): Effect.Effect<Reply> =>
        typeof replies === "function"
          ? Effect.sync(() => replies(recorded))
          : Effect.flatMap(
              Ref.modify(script, ([first, ...rest]) => [first, rest] as const),
              (reply) =>
                reply === undefined
                  ? Effect.dieMessage(
                      `MockTokenEndpoint: request #${recorded.index} (${recorded.method} ${recorded.url}) arrived, ` +
                        `but the script has no reply left for it`
                    )
                  : Effect.succeed(reply)
            )

      const client = HttpClient.make((request, url) =>
        Effect.flatMap(record(request, url), (recorded) =>
          Effect.flatMap(next(recorded), (reply) => answer(request, recorded, reply))
        )
      )

      const service: Service = {
        requests: Effect.sync(() => received.slice()),
        count: Effect.sync(() => received.length),
        remaining: Effect.map(Ref.get(script), (all) => all.length),
        enqueue: (...more) => Ref.update(script, (all) => [...all, ...more])
      }
      return Context.make(MockTokenEndpoint, service).pipe(Context.add(HttpClient.HttpClient, client))
    })
  )
