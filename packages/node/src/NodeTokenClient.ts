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
import { Deadline } from "@token-refresher/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Chunk from "effect/Chunk"
import * as Either from "effect/Either"
import type * as Fiber from "effect/Fiber"
import * as Inspectable from "effect/Inspectable"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
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

/** Not known yet: the body has not ended. */
const pending: unique symbol = Symbol("pending")

/** A body larger than this is not read ahead of its reader: the connection waits for the reader to catch up. */
const highWaterMark = 64 * 1024

/**
 * A response body as undici hands it over, chunk by chunk: kept until its one reader takes it, and paused (the socket
 * stops being read) past `highWaterMark` bytes not yet taken.
 */
class Body {
  private chunks: Array<Buffer> = []
  private size = 0
  private done = false
  private failure: unknown = undefined
  private taken = false
  private wake: (() => void) | undefined = undefined
  private resumeSocket: (() => void) | undefined = undefined
  private paused = false

  constructor(private readonly abort: () => void) {}

  /** undici's `onHeaders` resume callback. */
  setResume(resume: () => void) {
    this.resumeSocket = resume
  }

  /** A chunk arrived: `false` pauses the socket, when no reader waits and what is kept reached `highWaterMark`. */
  push(chunk: Buffer): boolean {
    if (chunk.length === 0) return true
    this.chunks.push(chunk)
    this.size += chunk.length
    if (this.wake !== undefined) {
      this.notify()
      return true
    }
    this.paused = this.size >= highWaterMark
    return !this.paused
  }

  end() {
    this.done = true
    this.notify()
  }

  fail(cause: unknown) {
    this.failure = cause
    this.notify()
  }

  /** Stops reading: the connection is closed and what was kept is dropped. */
  cancel() {
    this.chunks = []
    this.size = 0
    if (!this.done && this.failure === undefined) this.abort()
  }

  private notify() {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }

  /** The one read of the body: fails when it was taken before. */
  claim(): boolean {
    if (this.taken) return false
    this.taken = true
    return true
  }

  /**
   * Everything, once the body has ended, or `undefined` as soon as more than `maxBytes` arrived (then the rest is not
   * read). Fails with what broke the body (a reset connection, the deadline).
   */
  readAll(maxBytes: number): Effect.Effect<Buffer | undefined, unknown> {
    return Effect.suspend(() => {
      const now = this.readAllNow(maxBytes)
      return now === pending ? Effect.zipRight(this.more, this.readAll(maxBytes)) : now
    })
  }

  /** `readAll` when its answer is already known (the usual case for a small body), else `pending`. */
  readAllNow(maxBytes: number): Either.Either<Buffer | undefined, unknown> | typeof pending {
    if (this.size > maxBytes) {
      this.cancel()
      return Either.right(undefined)
    }
    if (this.failure !== undefined) return Either.left(this.failure)
    if (!this.done) return pending
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size)
    this.chunks = []
    return Either.right(all)
  }

  /** The chunks that arrived since the last call; `undefined` at the end. */
  readonly take: Effect.Effect<Array<Buffer> | undefined, unknown> = Effect.suspend(() => {
    if (this.chunks.length > 0) {
      const chunks = this.chunks
      this.chunks = []
      this.size = 0
      this.resume()
      return Effect.succeed(chunks)
    }
    if (this.failure !== undefined) return Effect.fail(this.failure)
    if (this.done) return Effect.succeed(undefined)
    return Effect.zipRight(this.more, this.take)
  })

  private resume() {
    if (this.paused) {
      this.paused = false
      this.resumeSocket?.()
    }
  }

  /** Waits for the next chunk, the end or a failure, resuming a paused socket. */
  private readonly more: Effect.Effect<void> = Effect.async<void>((wake) => {
    this.wake = () => wake(Effect.void)
    this.resume()
    return Effect.sync(() => {
      this.wake = undefined
    })
  })
}

/** undici's raw headers (name, value, name, value, …) as `Headers`. */
const headersOf = (rawHeaders: Array<Buffer>): Headers.Headers =>
  Headers.fromInput(Undici.util.parseHeaders(rawHeaders) as Record<string, string | ReadonlyArray<string> | undefined>)

/** The declared `Content-Length` among undici's raw headers, read without parsing the others (`NaN` without one). */
const contentLengthOf = (rawHeaders: Array<Buffer>): number => {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!
    if (name.length === 14 && name.toString("latin1").toLowerCase() === "content-length") {
      return Number(rawHeaders[i + 1]!.toString("latin1"))
    }
  }
  return Number.NaN
}

/**
 * `Deadline.Answer` with its headers parsed when first asked for: a token refresh that succeeds reads none of them, and
 * parsing them all cost about a microsecond per request.
 */
class ExchangeAnswer implements Deadline.Answer {
  private parsed: Headers.Headers | undefined = undefined
  constructor(
    readonly status: number,
    private readonly rawHeaders: Array<Buffer>,
    readonly text: string | undefined
  ) {}
  get headers(): Headers.Headers {
    if (this.parsed === undefined) this.parsed = headersOf(this.rawHeaders)
    return this.parsed
  }
}

class Response extends Inspectable.Class implements HttpClientResponse.HttpClientResponse, Deadline.ReadsText {
  readonly [IncomingMessage.TypeId]: IncomingMessage.TypeId = IncomingMessage.TypeId
  readonly [HttpClientResponse.TypeId]: HttpClientResponse.TypeId = HttpClientResponse.TypeId
  private parsedHeaders: Headers.Headers | undefined = undefined

  constructor(
    readonly request: HttpClientRequest.HttpClientRequest,
    readonly status: number,
    private readonly rawHeaders: Array<Buffer>,
    readonly statusText: string | undefined,
    private readonly body: Body
  ) {
    super()
  }

  get headers(): Headers.Headers {
    // parsed once, when first asked for
    if (this.parsedHeaders === undefined) this.parsedHeaders = headersOf(this.rawHeaders)
    return this.parsedHeaders
  }

  get cookies(): Cookies.Cookies {
    const header = this.headers["set-cookie"] as string | ReadonlyArray<string> | undefined
    return header === undefined ? Cookies.empty : Cookies.fromSetCookie(typeof header === "string" ? [header] : header)
  }

  get remoteAddress(): Option.Option<string> {
    return Option.none()
  }

  private decodeError(cause: unknown) {
    return new HttpClientError.ResponseError({ request: this.request, response: this, reason: "Decode", cause })
  }

  private alreadyRead() {
    return this.decodeError(new Error("the body has already been read"))
  }

  private claim<A>(read: Effect.Effect<A, unknown>): Effect.Effect<A, HttpClientError.ResponseError> {
    return Effect.suspend(() =>
      this.body.claim() ? Effect.mapError(read, (cause) => this.decodeError(cause)) : Effect.fail(this.alreadyRead())
    )
  }

  private get bytes(): Effect.Effect<Buffer, HttpClientError.ResponseError> {
    return this.claim(Effect.map(this.body.readAll(Infinity), (all) => all!))
  }

  /** The body as text in one pass, stopping (and discarding the rest) past `maxBytes`: see `Deadline.ReadText`. */
  [Deadline.ReadText](maxBytes: number): Effect.Effect<string | undefined, HttpClientError.ResponseError> {
    return Effect.suspend(() => {
      if (!this.body.claim()) return Effect.fail(this.alreadyRead())
      // a body that has arrived whole, the usual case: read without a further step
      const now = this.body.readAllNow(maxBytes)
      if (now !== pending && Either.isRight(now)) return Effect.succeed(now.right?.toString("utf8"))
      return Effect.mapBoth(this.body.readAll(maxBytes), {
        onFailure: (cause) => this.decodeError(cause),
        onSuccess: (all) => all?.toString("utf8")
      })
    })
  }

  get stream(): Stream.Stream<Uint8Array, HttpClientError.ResponseError> {
    return Stream.unwrap(
      Effect.map(this.claim(Effect.void), () =>
        Stream.repeatEffectChunkOption(
          Effect.flatMap(
            Effect.mapError(this.body.take, (cause) => Option.some(this.decodeError(cause))),
            (chunks) =>
              chunks === undefined ? Effect.fail(Option.none()) : Effect.succeed(Chunk.unsafeFromArray(chunks))
          )
        ).pipe(Stream.ensuring(Effect.sync(() => this.body.cancel())))
      )
    )
  }

  get text(): Effect.Effect<string, HttpClientError.ResponseError> {
    return Effect.map(this.bytes, (all) => all.toString("utf8"))
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
    return Effect.flatMap(this.bytes, (all) =>
      Effect.tryPromise({
        try: () =>
          new globalThis.Response(all as unknown as ArrayBuffer, {
            headers: { "content-type": (this.headers["content-type"] as string | undefined) ?? "" }
          }).formData(),
        catch: (cause) => this.decodeError(cause)
      })
    )
  }

  get arrayBuffer(): Effect.Effect<ArrayBuffer, HttpClientError.ResponseError> {
    return Effect.map(
      this.bytes,
      (all) => all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer
    )
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

/** Where a request goes, as undici's dispatcher takes it. */
interface Target {
  readonly origin: string
  readonly path: string
}

/** The origin and path of a URL string, parsed once per distinct URL (a token endpoint is asked again and again). */
const targets = new Map<string, Target>()
const targetOf = (request: HttpClientRequest.HttpClientRequest): Either.Either<Target, unknown> => {
  const plain = request.urlParams.length === 0 && Option.isNone(request.hash)
  const known = plain ? targets.get(request.url) : undefined
  if (known !== undefined) return Either.right(known)
  const url = UrlParams.makeUrl(request.url, request.urlParams, request.hash)
  if (Either.isLeft(url)) return Either.left(url.left)
  const target = { origin: url.right.origin, path: url.right.pathname + url.right.search }
  if (plain) {
    // bounded: a client that asks many distinct URLs keeps the first 256 only
    if (targets.size < 256) targets.set(request.url, target)
  }
  return Either.right(target)
}

/** `Duration.toMillis` without its decoding step for the usual duration, one of milliseconds. */
const millisOf = (duration: Duration.Duration): number =>
  duration.value._tag === "Millis" ? duration.value.millis : Duration.toMillis(duration)

/**
 * A request in flight with a deadline: when it passes (`performance.now()` millis) and what stops the request, linked
 * into its queue (see `watchDeadline`) until it ends.
 */
interface Watched {
  at: number
  previous: Watched | undefined
  next: Watched | undefined
  /** A queue of its own, when there were `maxQueues` already: its timer goes with it. */
  own: Queue | undefined
  expire(): void
}

/**
 * The requests in flight with one timeout length, oldest first: a list whose first and last links are `head` itself
 * (empty when `head.next === head`), and the timer set for the oldest one's deadline.
 */
interface Queue {
  readonly length: number
  readonly head: Watched
  timer: ReturnType<typeof setTimeout> | undefined
}

/**
 * The deadlines of the requests in flight, one queue per timeout length (in whole milliseconds). Requests with the same
 * timeout reach their deadlines in the order they started, so each queue needs one timer, set for its oldest request.
 * A request that ends leaves its queue at once; the timer is not moved then: when it fires, it stops the requests whose
 * deadline has passed and is set again for the oldest one left, and a queue left empty goes.
 *
 * A `setTimeout` and `clearTimeout` per request cost more than the rest of the request's own work: with one request at
 * a time, each one also created and dropped Node's timer list for its length. A `Set` of the requests cost as much
 * (an object key gets a hash, and deletions make the set rehash); a linked list costs two links. At most `maxQueues`
 * lengths share queues; a request with another length (deadlines computed per request) has a queue of its own, whose
 * timer is cleared when it ends, as a `setTimeout` per request would be.
 */
const deadlines = new Map<number, Queue>()
const maxQueues = 32

/** The longest delay `setTimeout` takes (about 24.8 days): a longer one would fire at once. */
const maxDelay = 2_147_483_647

/** The timer of `queue`, set for `delay`; unref'd, as a request in flight holds its own socket open. */
const armDeadlines = (queue: Queue, delay: number) => {
  queue.timer = setTimeout(() => expireDeadlines(queue), Math.min(maxDelay, Math.max(1, Math.ceil(delay))))
  queue.timer.unref()
}

const expireDeadlines = (queue: Queue) => {
  queue.timer = undefined
  const now = performance.now()
  const { head } = queue
  for (let oldest = head.next!; oldest !== head; oldest = head.next!) {
    if (oldest.at > now) return armDeadlines(queue, oldest.at - now)
    unlink(oldest)
    oldest.expire()
  }
  // nothing left: the queue goes, so that deadlines of many lengths leave nothing behind
  if (deadlines.get(queue.length) === queue) deadlines.delete(queue.length)
}

const unlink = (watched: Watched) => {
  if (watched.previous === undefined) return
  watched.previous.next = watched.next
  watched.next!.previous = watched.previous
  watched.previous = undefined
  watched.next = undefined
  const own = watched.own
  if (own !== undefined) {
    watched.own = undefined
    if (own.timer !== undefined) clearTimeout(own.timer)
    own.timer = undefined
  }
}

const queueOf = (length: number): Queue => {
  const head: Watched = { at: 0, previous: undefined, next: undefined, own: undefined, expire: () => {} }
  head.previous = head
  head.next = head
  return { length, head, timer: undefined }
}

/** Calls `watched.expire()` when `millis` pass, unless `unlink(watched)` comes first. */
const watchDeadline = (millis: number, watched: Watched): void => {
  const length = Math.ceil(millis)
  let queue = deadlines.get(length)
  if (queue === undefined) {
    queue = queueOf(length)
    if (deadlines.size < maxQueues) deadlines.set(length, queue)
    else watched.own = queue
  }
  const { head } = queue
  const last = head.previous!
  watched.at = performance.now() + length
  watched.previous = last
  watched.next = head
  last.next = watched
  head.previous = watched
  if (queue.timer === undefined) armDeadlines(queue, length)
}

/** The request's target and body, or the `RequestError` that says why it cannot be sent. */
/** A request's target and body, checked. */
interface Prepared {
  readonly target: Target
  readonly body: Uint8Array | string | null
}

const prepare = (
  request: HttpClientRequest.HttpClientRequest
): Either.Either<Prepared, HttpClientError.RequestError> => {
  const target = targetOf(request)
  if (Either.isLeft(target)) {
    return Either.left(new HttpClientError.RequestError({ request, reason: "InvalidUrl", cause: target.left }))
  }
  const body = bodyOf(request.body)
  if (Either.isLeft(body)) {
    return Either.left(new HttpClientError.RequestError({ request, reason: "Encode", description: body.left }))
  }
  return Either.right({ target: target.right, body: body.right })
}

const interrupted = () => new Error("interrupted")

/**
 * One request sent to undici's dispatcher, as one object that is undici's handler for it: it keeps undici's abort
 * until undici gives it, passes on the real answer (not a 1xx), and is stopped when its deadline passes (it is its own
 * link in the deadline queue, see `watchDeadline`). What is done with the answer is the subclass's: `Exchange` collects
 * it whole, `Streamed` hands it to a reader. (A closure per part cost about twenty allocations per request.)
 */
abstract class Dispatched implements Watched {
  at = 0
  previous: Watched | undefined = undefined
  next: Watched | undefined = undefined
  own: Queue | undefined = undefined
  private abortRequest: ((reason: Error) => void) | undefined = undefined
  private abortedWith: Error | undefined = undefined

  /** `millis`: the deadline, from when it is sent; none for a client without one. */
  constructor(
    private readonly millis: number | undefined,
    protected readonly request: HttpClientRequest.HttpClientRequest
  ) {}

  /** Sends the request to `agent`, its target and body checked. */
  send(agent: Undici.Dispatcher, prepared: Prepared) {
    const millis = this.millis
    const request = this.request
    if (millis !== undefined) watchDeadline(millis, this)
    agent.dispatch(
      {
        origin: prepared.target.origin,
        path: prepared.target.path,
        method: request.method as Undici.Dispatcher.HttpMethod,
        headers: request.headers,
        body: prepared.body,
        // the deadline covers the whole request; these only bound a client without one
        headersTimeout: millis === undefined ? 300_000 : 0,
        bodyTimeout: millis === undefined ? 300_000 : 0
      },
      this
    )
  }

  /** The deadline passed. */
  expire() {
    this.stop(new Deadline.DeadlineExceeded(this.millis!))
  }

  /** Stops the request: an interruption, a reader that has read enough, the deadline. */
  stop(reason: Error) {
    unlink(this)
    if (this.abortRequest === undefined) this.abortedWith = reason
    else this.abortRequest(reason)
  }

  onConnect(abort: (reason: Error) => void) {
    this.abortRequest = abort
    if (this.abortedWith !== undefined) abort(this.abortedWith)
  }

  onHeaders(status: number, rawHeaders: Array<Buffer>, resumeSocket: () => void, statusText: string) {
    // 1xx answers are interim: the real one follows
    if (status >= 200) this.answered(status, rawHeaders, resumeSocket, statusText)
    return true
  }

  abstract onData(chunk: Buffer): boolean

  onComplete() {
    unlink(this)
    this.completed()
  }

  onError(cause: Error) {
    unlink(this)
    this.failed(cause)
  }

  protected abstract answered(
    status: number,
    rawHeaders: Array<Buffer>,
    resumeSocket: () => void,
    statusText: string
  ): void
  protected abstract completed(): void
  protected abstract failed(cause: Error): void
}

/** A request of the general client: its answer is handed over at its headers, and its body streams to its reader. */
class Streamed extends Dispatched {
  private body: Body | undefined = undefined

  constructor(
    millis: number | undefined,
    request: HttpClientRequest.HttpClientRequest,
    private readonly resume: (
      effect: Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.RequestError>
    ) => void
  ) {
    super(millis, request)
  }

  protected answered(status: number, rawHeaders: Array<Buffer>, resumeSocket: () => void, statusText: string) {
    const body = new Body(() => this.stop(new Error("the body was not read to its end")))
    body.setResume(resumeSocket)
    this.body = body
    this.resume(Effect.succeed(new Response(this.request, status, rawHeaders, statusText || undefined, body)))
  }

  onData(chunk: Buffer) {
    return this.body!.push(chunk)
  }

  protected completed() {
    this.body?.end()
  }

  protected failed(cause: Error) {
    if (this.body === undefined) {
      this.resume(Effect.fail(new HttpClientError.RequestError({ request: this.request, reason: "Transport", cause })))
    } else {
      this.body.fail(cause)
    }
  }
}

/** One `Deadline.Exchange` in flight: the answer and its body collected whole, up to `maxBytes`. */
class Exchange extends Dispatched {
  private status = 0
  private rawHeaders: Array<Buffer> | undefined = undefined
  private statusText = ""
  private chunks: Array<Buffer> = []
  private size = 0
  private settled = false

  /**
   * The fiber ended (an interruption) before the answer: the request is aborted. (No canceler: an `Effect.async`
   * with one costs the garbage collector dearly on every request, as what it keeps alive gets promoted.)
   */
  readonly abandoned = () => {
    if (this.settled) return
    this.settled = true
    this.stop(interrupted())
  }

  constructor(
    millis: number,
    request: HttpClientRequest.HttpClientRequest,
    private readonly maxBytes: number,
    private readonly fiber: Fiber.RuntimeFiber<unknown, unknown>,
    private readonly resume: (effect: Effect.Effect<Deadline.Answer, HttpClientError.HttpClientError>) => void
  ) {
    super(millis, request)
  }

  private settle(effect: Effect.Effect<Deadline.Answer, HttpClientError.HttpClientError>) {
    if (this.settled) return
    this.settled = true
    this.fiber.removeObserver(this.abandoned)
    this.resume(effect)
  }

  /** Longer than `maxBytes`: answered without the body, and the rest is not read. */
  private tooLarge() {
    this.chunks = []
    this.settle(Effect.succeed(new ExchangeAnswer(this.status, this.rawHeaders!, undefined)))
    this.stop(new Error("the body is longer than the limit"))
  }

  protected answered(status: number, rawHeaders: Array<Buffer>, _resumeSocket: () => void, statusText: string) {
    this.status = status
    this.rawHeaders = rawHeaders
    this.statusText = statusText
    // a declared length above the limit: nothing is read
    if (contentLengthOf(rawHeaders) > this.maxBytes) this.tooLarge()
  }

  onData(chunk: Buffer) {
    if (this.settled) return true
    this.chunks.push(chunk)
    this.size += chunk.length
    if (this.size <= this.maxBytes) return true
    this.tooLarge()
    return false
  }

  protected completed() {
    const chunks = this.chunks
    this.chunks = []
    const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.size)
    this.settle(Effect.succeed(new ExchangeAnswer(this.status, this.rawHeaders!, all.toString("utf8"))))
  }

  protected failed(cause: Error) {
    this.chunks = []
    const request = this.request
    if (this.rawHeaders === undefined) {
      return this.settle(Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause })))
    }
    const response = new Response(
      request,
      this.status,
      this.rawHeaders,
      this.statusText || undefined,
      new Body(() => {})
    )
    this.settle(Effect.fail(new HttpClientError.ResponseError({ request, response, reason: "Decode", cause })))
  }
}

/** `Deadline.Exchange`: the answer and its whole body (up to `maxBytes`) in one step. */
const exchangeWith =
  (agent: Undici.Dispatcher) =>
  (
    request: HttpClientRequest.HttpClientRequest,
    options: { readonly maxBytes: number; readonly timeout: Duration.Duration }
  ): Effect.Effect<Deadline.Answer, HttpClientError.HttpClientError> => {
    const prepared = prepare(request)
    if (Either.isLeft(prepared)) return Effect.fail(prepared.left)
    const millis = millisOf(options.timeout)
    return Effect.withFiberRuntime((fiber) =>
      Effect.async<Deadline.Answer, HttpClientError.HttpClientError>((resume) => {
        const exchange = new Exchange(millis, request, options.maxBytes, fiber, resume)
        fiber.addObserver(exchange.abandoned)
        exchange.send(agent, prepared.right)
      })
    )
  }

/**
 * The client over `agent`. A request whose fiber carries a `Deadline.current` is aborted when it passes, whether the
 * answer has not come or its body is still arriving; the failure's cause is a `Deadline.DeadlineExceeded`.
 *
 * It speaks undici's dispatcher interface directly: no `AbortController`, no Node stream and no promise per request.
 * It also offers `Deadline.Exchange`, which the `TokenRefresher` uses for a whole token request.
 *
 * @since 0.3.0
 * @category constructors
 */
export const makeWith = (agent: Undici.Dispatcher): HttpClient.HttpClient =>
  Object.assign(
    HttpClient.makeWith<never, never, HttpClientError.HttpClientError, never>(
      (requestEffect) =>
        Effect.flatMap(requestEffect, (request) =>
          Effect.withFiberRuntime<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>((fiber) => {
            const prepared = prepare(request)
            if (Either.isLeft(prepared)) return Effect.fail(prepared.left)
            const deadline = fiber.getFiberRef(Deadline.current)
            const millis = deadline._tag === "None" ? undefined : millisOf(deadline.value)
            return Effect.async<HttpClientResponse.HttpClientResponse, HttpClientError.RequestError>((resume) => {
              const streamed = new Streamed(millis, request, resume)
              streamed.send(agent, prepared.right)
              return Effect.sync(() => streamed.stop(interrupted()))
            })
          })
        ),
      Effect.succeed
    ),
    { [Deadline.Exchange]: exchangeWith(agent) } satisfies Deadline.Exchanges
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
