/**
 * The production `HttpClient` for token requests: undici with a shared keep-alive `Agent` and a connection cap, the
 * request sent as built, the body handed over once, and the attempt's deadline enforced by the client itself (see
 * `Deadline`). It is an ordinary `HttpClient.HttpClient`, so every layer stays swappable.
 *
 * @since 0.3.0
 */
import * as Cookies from "@effect/platform/Cookies"
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as IncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as UrlParams from "@effect/platform/UrlParams"
import * as NodeStream from "@effect/platform-node/NodeStream"
import { Deadline } from "@token-refresher/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberRef from "effect/FiberRef"
import * as Inspectable from "effect/Inspectable"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as Undici from "undici"

/**
 * The options of the client's undici `Agent`.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /** The most connections per origin. Default: 16. */
  readonly connections?: number | undefined
  /** How long an idle keep-alive connection is kept. Default: 4 seconds (below common servers' 5 s). */
  readonly keepAliveTimeout?: Duration.DurationInput | undefined
}

const noop = () => {}

class Response extends Inspectable.Class implements HttpClientResponse.HttpClientResponse {
  readonly [IncomingMessage.TypeId]: IncomingMessage.TypeId = IncomingMessage.TypeId
  readonly [HttpClientResponse.TypeId]: HttpClientResponse.TypeId = HttpClientResponse.TypeId

  constructor(
    readonly request: HttpClientRequest.HttpClientRequest,
    readonly source: Undici.Dispatcher.ResponseData
  ) {
    super()
    // an aborted or reset body must not become an unhandled error: its reader sees it
    source.body.on("error", noop)
  }

  get status(): number {
    return this.source.statusCode
  }

  get statusText(): string | undefined {
    return undefined
  }

  get headers(): Headers.Headers {
    return Headers.fromInput(this.source.headers as Record<string, string | ReadonlyArray<string> | undefined>)
  }

  get cookies(): Cookies.Cookies {
    const header = this.source.headers["set-cookie"]
    return header === undefined ? Cookies.empty : Cookies.fromSetCookie(Array.isArray(header) ? header : [header])
  }

  get remoteAddress(): Option.Option<string> {
    return Option.none()
  }

  private decodeError(cause: unknown) {
    return new HttpClientError.ResponseError({ request: this.request, response: this, reason: "Decode", cause })
  }

  /** The body as text in one pass, stopping (and discarding the rest) past `maxBytes`: see `Deadline.ReadText`. */
  async [Deadline.ReadText](maxBytes: number): Promise<string | undefined> {
    const chunks: Array<Buffer> = []
    let size = 0
    for await (const chunk of this.source.body as AsyncIterable<Buffer>) {
      size += chunk.length
      if (size > maxBytes) {
        this.source.body.destroy()
        return undefined
      }
      chunks.push(chunk)
    }
    return (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)).toString("utf8")
  }

  get stream(): Stream.Stream<Uint8Array, HttpClientError.ResponseError> {
    return NodeStream.fromReadable(
      () => this.source.body,
      (cause) => this.decodeError(cause)
    )
  }

  get text(): Effect.Effect<string, HttpClientError.ResponseError> {
    return Effect.tryPromise({ try: () => this.source.body.text(), catch: (cause) => this.decodeError(cause) })
  }

  get json(): Effect.Effect<unknown, HttpClientError.ResponseError> {
    return Effect.flatMap(this.text, (text) =>
      Effect.try({
        try: () => (text === "" ? null : (JSON.parse(text) as unknown)),
        catch: (cause) => this.decodeError(cause)
      })
    )
  }

  get urlParamsBody(): Effect.Effect<UrlParams.UrlParams, HttpClientError.ResponseError> {
    return Effect.map(this.text, (text) => UrlParams.fromInput(new URLSearchParams(text)))
  }

  get formData(): Effect.Effect<FormData, HttpClientError.ResponseError> {
    return Effect.tryPromise({
      try: () => this.source.body.formData() as Promise<FormData>,
      catch: (cause) => this.decodeError(cause)
    })
  }

  get arrayBuffer(): Effect.Effect<ArrayBuffer, HttpClientError.ResponseError> {
    return Effect.tryPromise({ try: () => this.source.body.arrayBuffer(), catch: (cause) => this.decodeError(cause) })
  }

  toJSON(): unknown {
    return IncomingMessage.inspect(this, {
      _id: "@effect/platform/HttpClientResponse",
      request: this.request.toJSON(),
      status: this.status
    })
  }
}

const bodyOf = (
  body: HttpClientRequest.HttpClientRequest["body"]
): Either.Either<Uint8Array | string | null, string> => {
  switch (body._tag) {
    case "Empty":
      return Either.right(null)
    case "Uint8Array":
      return Either.right(body.body)
    case "Raw":
      return typeof body.body === "string" || body.body instanceof Uint8Array
        ? Either.right(body.body)
        : Either.left("a raw body that is neither a string nor bytes")
    default:
      return Either.left(`a ${body._tag} body (NodeTokenClient sends bytes and strings only)`)
  }
}

/**
 * The client over `agent`. A request whose fiber carries a `Deadline.current` is aborted when it passes, whether the
 * answer has not come or its body is still arriving; the failure's cause is a `Deadline.DeadlineExceeded`.
 *
 * @since 0.3.0
 * @category constructors
 */
export const makeWith = (agent: Undici.Dispatcher): HttpClient.HttpClient =>
  HttpClient.makeWith<never, never, HttpClientError.HttpClientError, never>(
    (requestEffect) =>
      Effect.flatMap(requestEffect, (request) =>
        Effect.flatMap(FiberRef.get(Deadline.current), (deadline) => {
          const url = UrlParams.makeUrl(request.url, request.urlParams, request.hash)
          if (Either.isLeft(url)) {
            return Effect.fail(new HttpClientError.RequestError({ request, reason: "InvalidUrl", cause: url.left }))
          }
          const body = bodyOf(request.body)
          if (Either.isLeft(body)) {
            return Effect.fail(new HttpClientError.RequestError({ request, reason: "Encode", description: body.left }))
          }
          return Effect.async<HttpClientResponse.HttpClientResponse, HttpClientError.RequestError>((resume) => {
            const controller = new AbortController()
            const millis = Option.match(deadline, { onNone: () => undefined, onSome: Duration.toMillis })
            const timer =
              millis === undefined
                ? undefined
                : setTimeout(() => controller.abort(new Deadline.DeadlineExceeded(millis)), millis)
            const done = () => {
              if (timer !== undefined) clearTimeout(timer)
            }
            agent
              .request({
                origin: url.right.origin,
                path: url.right.pathname + url.right.search,
                method: request.method,
                headers: request.headers,
                body: body.right,
                signal: controller.signal,
                // the deadline above covers the whole attempt; these only bound a client without one
                headersTimeout: millis === undefined ? 300_000 : 0,
                bodyTimeout: millis === undefined ? 300_000 : 0
              })
              .then(
                (response) => {
                  if (timer !== undefined) {
                    response.body.once("end", done)
                    response.body.once("close", done)
                    response.body.once("error", done)
                  }
                  resume(Effect.succeed(new Response(request, response)))
                },
                (cause) => {
                  done()
                  resume(Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause })))
                }
              )
            return Effect.sync(() => {
              done()
              controller.abort()
            })
          })
        })
      ),
    Effect.succeed
  )

/**
 * A keep-alive undici `Agent` with a connection cap, closed with the scope.
 *
 * @since 0.3.0
 * @category constructors
 */
export const makeAgent = (options?: Options): Effect.Effect<Undici.Agent, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(
      () =>
        new Undici.Agent({
          connections: options?.connections ?? 16,
          keepAliveTimeout: Duration.toMillis(Duration.decode(options?.keepAliveTimeout ?? "4 seconds")),
          pipelining: 1
        })
    ),
    (agent) => Effect.promise(() => agent.destroy())
  )

/**
 * The client over its own keep-alive `Agent`, closed with the scope.
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (options?: Options): Effect.Effect<HttpClient.HttpClient, never, Scope.Scope> =>
  Effect.map(makeAgent(options), makeWith)

/**
 * The `HttpClient`, and `Deadline.Enforced` so that the `TokenRefresher` leaves the per-attempt deadline to it.
 *
 * @example
 * ```ts
 * import { TokenRefresher } from "@token-refresher/core"
 * import { NodeTokenClient } from "@token-refresher/node"
 * import { Layer, Redacted } from "effect"
 *
 * // at most 4 connections to the token endpoint, idle ones kept for 2 seconds
 * const Refresher = TokenRefresher.layer({
 *   tokenUrl: "https://auth.example.com/token",
 *   clientId: "my-app",
 *   clientSecret: Redacted.make("secret")
 * }).pipe(Layer.provide(NodeTokenClient.layer({ connections: 4, keepAliveTimeout: "2 seconds" })))
 * ```
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<HttpClient.HttpClient | Deadline.Enforced> =>
  Layer.merge(Layer.scoped(HttpClient.HttpClient, make(options)), Layer.succeed(Deadline.Enforced, true))
