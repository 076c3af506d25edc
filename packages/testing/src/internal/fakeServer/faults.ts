/**
 * The token endpoint's answers: the normal one, and one small handler per injected fault. Waits use the server's
 * `Clock` (`Effect.sleep`, `Schedule`), so a test on `TestClock` drives a delayed or trickling answer; the faults at
 * the socket (a dropped or reset connection) reach the Node objects through `NodeHttpServerRequest`.
 */
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as UrlParams from "@effect/platform/UrlParams"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type { Fault } from "../../FakeAuthorizationServer.js"
import * as State from "./state.js"

/** A token request that has been read and counted, waiting for its answer. */
export interface TokenCall {
  readonly state: Ref.Ref<State.State>
  readonly request: HttpServerRequest.HttpServerRequest
  readonly form: UrlParams.UrlParams
  readonly arrival: State.Arrival
}

export const toResponse = (answer: State.Answer): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.raw(answer.body, { status: answer.status, headers: answer.headers })

/** Closes the connection without an answer. The handler then waits: the closed connection interrupts it. */
export const dropConnection = (request: HttpServerRequest.HttpServerRequest): Effect.Effect<never> =>
  Effect.zipRight(
    Effect.sync(() => NodeHttpServerRequest.toIncomingMessage(request).socket.destroy()),
    Effect.never
  )

/** Resets the connection once what was written has gone out (Node sends a response's writes on the next tick). */
const resetConnection = (request: HttpServerRequest.HttpServerRequest): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const immediate = setImmediate(() => {
      NodeHttpServerRequest.toIncomingMessage(request).socket.destroy()
      resume(Effect.void)
    })
    return Effect.sync(() => clearImmediate(immediate))
  })

const record = (call: TokenCall, outcome: State.Outcome, fault?: Fault): Effect.Effect<void> =>
  Ref.update(call.state, (state) => State.record(state, call.arrival, outcome, fault))

/** Processes the request and records it in one step: a request that was processed is recorded. */
const processed = (
  call: TokenCall,
  fault?: Fault,
  recordAs: (handled: State.Handled) => State.Outcome = State.outcomeOf
): Effect.Effect<State.Handled> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Ref.modify(call.state, (state) => {
      const request = { authorization: call.request.headers.authorization, form: call.form }
      const [handled, next] = State.tokenRequest(state, request, now)
      return [handled, State.record(next, call.arrival, recordAs(handled), fault)]
    })
  )

const answered = (call: TokenCall, fault: Fault, answer: State.Answer) =>
  Effect.as(record(call, { status: answer.status, error: answer.error }, fault), toResponse(answer))

// the real clock's sleep, whatever clock the server runs on
const realClock = Clock.make()

/**
 * The answer without a fault; after the `tokenDelay`, in real time: it paces other processes (which live in real
 * time) against the server, whatever clock a test runs the server on. A request whose client has gone by then is not
 * processed: the closed connection interrupts the wait.
 */
export const answer = (call: TokenCall): Effect.Effect<HttpServerResponse.HttpServerResponse> =>
  Effect.gen(function* () {
    const { tokenDelay } = (yield* Ref.get(call.state)).settings
    if (tokenDelay > 0) yield* Effect.withClock(Effect.sleep(tokenDelay), realClock)
    return toResponse((yield* processed(call)).answer)
  })

export const statusAnswer = (fault: Extract<Fault, { readonly _tag: "Status" }>): State.Answer =>
  State.json(
    fault.status,
    { error: "server_error", error_description: "injected fault" },
    fault.retryAfter === undefined ? {} : { "retry-after": String(fault.retryAfter) }
  )

export const htmlAnswer = (status: number): State.Answer => ({
  status,
  headers: { "content-type": "text/html; charset=utf-8" },
  body: `<html><head><title>${status}</title></head><body><h1>Error ${status}</h1><p>upstream unavailable</p></body></html>`,
  error: undefined
})

export const malformedJsonAnswer: State.Answer = {
  status: 200,
  headers: { "content-type": "application/json" },
  body: '{"access_token": "trunc',
  error: undefined
}

type Handler<F extends Fault> = (fault: F, call: TokenCall) => Effect.Effect<HttpServerResponse.HttpServerResponse>

const handlers: { readonly [Tag in Fault["_tag"]]: Handler<Extract<Fault, { readonly _tag: Tag }>> } = {
  Status: (fault, call) => answered(call, fault, statusAnswer(fault)),
  Html: (fault, call) => answered(call, fault, htmlAnswer(fault.status)),
  MalformedJson: (fault, call) => answered(call, fault, malformedJsonAnswer),
  Raw: (fault, call) =>
    Effect.as(
      record(call, { status: fault.status }, fault),
      HttpServerResponse.raw(fault.body, { status: fault.status, headers: fault.headers ?? {} })
    ),
  Delay: (fault, call) =>
    Effect.zipRight(
      Effect.sleep(fault.millis),
      Effect.map(processed(call, fault), (handled) => toResponse(handled.answer))
    ),
  Drop: (fault, call) => Effect.zipRight(record(call, { status: 0 }, fault), dropConnection(call.request)),
  DropAfterUse: (fault, call) =>
    Effect.zipRight(
      processed(call, fault, (handled) => ({ ...State.outcomeOf(handled), status: 0 })),
      dropConnection(call.request)
    ),
  Hang: (fault, call) => Effect.zipRight(record(call, { status: 0 }, fault), Effect.never),
  Trickle: (fault, call) =>
    Effect.as(
      record(call, { status: 200 }, fault),
      HttpServerResponse.stream(
        Stream.make('{"access_token":').pipe(
          Stream.concat(Stream.as(Stream.fromSchedule(Schedule.spaced(fault.everyMillis)), " ")),
          Stream.encodeText
        ),
        { contentType: "application/json" }
      )
    ),
  ResetMidBody: (fault, call) =>
    Effect.as(
      record(call, { status: 200 }, fault),
      HttpServerResponse.stream(
        Stream.make('{"access_token":"fake-acc').pipe(
          Stream.encodeText,
          Stream.concat(Stream.execute(resetConnection(call.request)))
        ),
        { contentType: "application/json", contentLength: 200 }
      )
    )
}

/** The answer to a token request that `fault` was injected into. */
export const inject = (fault: Fault, call: TokenCall): Effect.Effect<HttpServerResponse.HttpServerResponse> =>
  (handlers[fault._tag] as Handler<Fault>)(fault, call)
