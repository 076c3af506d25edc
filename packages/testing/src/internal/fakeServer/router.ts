/**
 * The fake server's HTTP side: routes that read a request, apply a pure function of `state.ts` to the one `Ref`,
 * record the request and answer; the CORS middleware; the limit on request bodies.
 */
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import type * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as UrlParams from "@effect/platform/UrlParams"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { identity } from "effect/Function"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Ref from "effect/Ref"
import * as Faults from "./faults.js"
import * as State from "./state.js"

/** The largest request body read; a longer one closes the connection. */
export const maxBodyBytes = 64 * 1024

/**
 * A form body (`application/x-www-form-urlencoded`, whatever the content type says). A body over the limit, or one
 * the client gave up sending, closes the connection: no answer, and the request is not counted.
 */
const readForm = (request: HttpServerRequest.HttpServerRequest): Effect.Effect<UrlParams.UrlParams> =>
  request.urlParamsBody.pipe(
    HttpIncomingMessage.withMaxBodySize(Option.some(maxBodyBytes)),
    Effect.catchAll(() => Faults.dropConnection(request))
  )

const urlOf = (request: HttpServerRequest.HttpServerRequest): URL => new URL(request.url, "http://fake")

const arrivalOf = (request: HttpServerRequest.HttpServerRequest, at: number): State.Arrival => ({
  method: request.method,
  path: urlOf(request).pathname,
  at
})

interface Incoming {
  readonly request: HttpServerRequest.HttpServerRequest
  readonly form: UrlParams.UrlParams
  readonly now: number
}

type Handle = (state: State.State, incoming: Incoming) => readonly [State.Handled, State.State]

/**
 * A route answered at once by `handle`: counted (once its body has arrived), changed, recorded and answered in one
 * step, timed by the server's clock.
 */
const route =
  (state: Ref.Ref<State.State>, options: { readonly form: boolean }) =>
  (handle: Handle): Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest> =>
    Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      const form = options.form ? yield* readForm(request) : UrlParams.empty
      const now = yield* Clock.currentTimeMillis
      const arrival = arrivalOf(request, now)
      const handled = yield* Ref.modify(state, (current) => {
        const [handled, next] = handle(State.arrive(current), { request, form, now })
        return [handled, State.record(next, arrival, State.outcomeOf(handled))]
      })
      return Faults.toResponse(handled.answer)
    })

const formRequest = ({ form, request }: Incoming): State.FormRequest => ({
  authorization: request.headers.authorization,
  form
})

/** `POST /api/token`: a fault, if one is due (scripted, or by the fault rate's dice), else the answer. */
const token = (state: Ref.Ref<State.State>) =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const form = yield* readForm(request)
    // counted now, recorded once answered (a delayed answer comes later)
    const arrival = arrivalOf(request, yield* Clock.currentTimeMillis)
    yield* Ref.update(state, State.arrive)
    const roll = yield* Random.next
    const pick = yield* Random.next
    const fault = yield* Ref.modify(state, (current) => State.takeFault(current, roll, pick))
    const call: Faults.TokenCall = { state, request, form, arrival }
    return yield* fault === undefined ? Faults.answer(call) : Faults.inject(fault, call)
  })

const discoveryPaths = {
  openid: "/.well-known/openid-configuration",
  oauth: "/.well-known/oauth-authorization-server"
} as const

/** The routes of the fake server over `state`; any other request is a 404, in Spotify's words. */
export const make = (
  state: Ref.Ref<State.State>,
  options: { readonly discovery: "openid" | "oauth" | "none" }
): HttpRouter.HttpRouter => {
  const answerNow = route(state, { form: false })
  const answerForm = route(state, { form: true })
  return HttpRouter.empty.pipe(
    HttpRouter.post("/api/token", token(state)),
    HttpRouter.post(
      "/revoke",
      answerForm((current, incoming) => State.revoke(current, formRequest(incoming)))
    ),
    HttpRouter.post(
      "/device/code",
      answerForm((current, incoming) => State.deviceAuthorize(current, formRequest(incoming), incoming.now))
    ),
    HttpRouter.get(
      "/authorize",
      answerNow((current, { now, request }) => {
        const query = UrlParams.fromInput(urlOf(request).searchParams)
        const [answer, next] = State.authorize(current, query, now)
        return [{ answer }, next]
      })
    ),
    HttpRouter.get(
      "/v1/me",
      answerNow((current, { now, request }) => {
        const [answer, next] = State.me(current, request.headers.authorization, now)
        return [{ answer }, next]
      })
    ),
    options.discovery === "none"
      ? identity
      : HttpRouter.get(
          discoveryPaths[options.discovery],
          answerNow((current) => [{ answer: State.discoveryDocument(current) }, current])
        ),
    HttpRouter.all(
      "*",
      answerNow((current) => [{ answer: State.notFound }, current])
    )
  )
}

/**
 * Paths as Node gives them: exact, case-sensitive, no trailing or doubled slash ignored (find-my-way's defaults
 * would answer `/API/token/` as `/api/token`).
 */
export const routerConfig = { ignoreTrailingSlash: false, ignoreDuplicateSlashes: false, caseSensitive: true } as const

const exposedHeaders = "retry-after, www-authenticate, dpop-nonce"

/**
 * CORS for pages of other origins (`true`: any origin; a string: that origin only). A preflight of an allowed origin
 * gets a 204 and is neither counted nor recorded; any other request of an allowed origin gets its answer with
 * `Access-Control-Allow-Origin` for that origin.
 */
export const cors =
  (allowed: boolean | string): HttpMiddleware.HttpMiddleware =>
  (app) =>
    Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      const origin = request.headers.origin
      if (allowed === false || origin === undefined || (allowed !== true && origin !== allowed)) return yield* app
      const headers = {
        "access-control-allow-origin": origin,
        vary: "Origin",
        "access-control-expose-headers": exposedHeaders
      }
      if (request.method === "OPTIONS" && request.headers["access-control-request-method"] !== undefined) {
        return HttpServerResponse.empty({
          status: 204,
          headers: {
            ...headers,
            "access-control-allow-methods": "GET, POST",
            "access-control-allow-headers": request.headers["access-control-request-headers"] ?? "authorization",
            "access-control-max-age": "600"
          }
        })
      }
      // the answer's own headers win, as they did over Node's `setHeader`
      yield* HttpApp.appendPreResponseHandler((_, response) =>
        Effect.succeed(HttpServerResponse.setHeaders(response, { ...headers, ...response.headers }))
      )
      return yield* app
    })
