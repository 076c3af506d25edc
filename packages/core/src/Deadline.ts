/**
 * How an `HttpClient` can enforce the token request's per-attempt deadline itself, instead of the `TokenRefresher`'s
 * `Effect.timeout` (which forks two fibers per attempt). A client that does provides `Deadline.Enforced` (`true`) next to
 * itself, reads the attempt's limit from `Deadline.current` when a request starts, covers the request and the whole
 * body with it, and fails with a cause for which `isTimeout` is true. Every other client, the mock included, leaves
 * the deadline to the `TokenRefresher`.
 *
 * @since 0.3.0
 */
import type * as Headers from "@effect/platform/Headers"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import { someCause } from "./internal/causes.js"

/**
 * Whether the `HttpClient` in context enforces `Deadline.current` itself. Default: `false`.
 *
 * @since 0.3.0
 * @category tags
 */
export class Enforced extends Context.Reference<Enforced>()("@token-refresher/core/Deadline/Enforced", {
  defaultValue: () => false
}) {}

/**
 * The limit of the current attempt (request, then the whole body), set by the `TokenRefresher` around each attempt
 * when the client enforces it.
 *
 * @since 0.3.0
 * @category fiber refs
 */
export const current: FiberRef.FiberRef<Option.Option<Duration.Duration>> = FiberRef.unsafeMake(
  Option.none<Duration.Duration>()
)

/**
 * The error a client fails with (as the `cause` of its `RequestError` or `ResponseError`) when the deadline passes.
 *
 * @since 0.3.0
 * @category errors
 */
export class DeadlineExceeded extends Error {
  /**
   * `TimeoutError`, as a DOM timeout is named.
   *
   * @since 0.3.0
   */
  override readonly name = "TimeoutError"
  constructor(readonly millis: number) {
    super(`no answer within ${millis} ms`)
  }
}

/**
 * Whether `cause` (or what it wraps) is a deadline that passed: a `DeadlineExceeded`, a DOM `TimeoutError`
 * (`AbortSignal.timeout`), or undici's headers and body timeouts.
 *
 * @since 0.3.0
 * @category guards
 */
export const isTimeout = (cause: unknown): boolean =>
  someCause(cause, (link) => {
    const { code, name } = link as { readonly name?: unknown; readonly code?: unknown }
    return name === "TimeoutError" || code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT"
  })

/**
 * A response may offer to read its own body as text, stopping at a byte limit, in one pass: the `TokenRefresher`
 * then skips the generic `Stream` read. The method succeeds with the text, or with `undefined` when the body was
 * longer than `maxBytes` (the rest is not read, and the body is discarded). Since 0.7.0 it returns an `Effect` (it
 * returned a `Promise`), so a body that has already arrived is read without a promise.
 *
 * @since 0.3.0
 * @category symbols
 */
export const ReadText: unique symbol = Symbol.for("@token-refresher/core/Deadline/ReadText")

/**
 * A response that can read its own body as text up to a limit (see `ReadText`).
 *
 * @since 0.3.0
 * @category models
 */
export interface ReadsText {
  readonly [ReadText]: (maxBytes: number) => Effect.Effect<string | undefined, HttpClientError.ResponseError>
}

/**
 * A client may offer to carry out a whole token request in one step: send it, wait for the answer and read its body
 * up to a byte limit, all within a time limit. The `TokenRefresher` then uses it instead of `execute` and the body's
 * `ReadText`, which saves a response object and a dozen steps per request. `NodeTokenClient` offers it; any other
 * client (a wrapped `NodeTokenClient` too) goes the usual way, with the same outcome.
 *
 * @since 0.7.0
 * @category symbols
 */
export const Exchange: unique symbol = Symbol.for("@token-refresher/core/Deadline/Exchange")

/**
 * What an `Exchange` got back.
 *
 * @since 0.7.0
 * @category models
 */
export interface Answer {
  readonly status: number
  readonly headers: Headers.Headers
  /** The body as text, or `undefined` when it was longer than `maxBytes` (the rest was not read). */
  readonly text: string | undefined
}

/**
 * A client that can carry out a whole exchange (see `Exchange`). A failure before the answer is a `RequestError`; a
 * body that breaks off is a `ResponseError`; when `timeout` passes, either one's cause is a `DeadlineExceeded`.
 *
 * @since 0.7.0
 * @category models
 */
export interface Exchanges {
  readonly [Exchange]: (
    request: HttpClientRequest.HttpClientRequest,
    options: { readonly maxBytes: number; readonly timeout: Duration.Duration }
  ) => Effect.Effect<Answer, HttpClientError.HttpClientError>
}
