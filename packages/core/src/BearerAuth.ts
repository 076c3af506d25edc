/**
 * An `HttpClient` that sends `Authorization: Bearer <token>` from the `TokenManager` and recovers from one 401.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import { nowMillis } from "./internal/fiberClock.js"
import * as Jose from "./internal/jose.js"
import * as internalSessions from "./internal/sessions.js"
import { TokenManager, type TokenError } from "./TokenManager.js"
import { TokenSessions } from "./TokenSessions.js"
import type * as TokenSessionsModule from "./TokenSessions.js"

/**
 * Wraps `client`: each request gets the manager's access token. On a 401 the token is invalidated, refreshed once
 * (callers that saw a 401 for the same token share that refresh) and the request is sent again, once; a second 401 is
 * returned to the caller as it is. Token failures stay typed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <E, R>(
  client: HttpClient.HttpClient.With<E, R>
): Effect.Effect<HttpClient.HttpClient.With<E | TokenError, R>, never, TokenManager> =>
  Effect.map(TokenManager, (manager) =>
    HttpClient.makeWith<never, never, E | TokenError, R>(
      (prepared) =>
        Effect.flatMap(prepared, (request) => execute(manager.accessToken, manager.invalidateToken, client, request)),
      Effect.succeed
    )
  )

/**
 * Wraps `client` for the session `key` of the `TokenSessions` in context: each request gets that session's access
 * token, and a 401 is recovered from as in {@link make}, for that session only. This is how a server calls an API on
 * behalf of one of its users: `client.pipe(BearerAuth.forSession(userId))`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const forSession =
  (key: string) =>
  <E, R>(client: HttpClient.HttpClient.With<E, R>): HttpClient.HttpClient.With<E | TokenError, R | TokenSessions> => {
    const accessToken = (sessions: TokenSessionsModule.Service) => sessions.accessToken(key)
    const invalidateToken = (sessions: TokenSessionsModule.Service) => (token: Redacted.Redacted<string>) =>
      Effect.scoped(Effect.flatMap(sessions.manager(key), (manager) => manager.invalidateToken(token)))
    return HttpClient.makeWith<never, never, E | TokenError, R | TokenSessions>(
      (prepared) =>
        Effect.flatMap(prepared, (request) =>
          // one step reads the service, the clock and the session's token in memory
          Effect.withFiberRuntime((fiber) => {
            const sessions = Context.unsafeGet(fiber.currentContext, TokenSessions)
            const now = nowMillis(fiber)
            // the session's token from memory while it is fresh: no manager is held for the request
            const token = internalSessions.freshTokens.get(sessions)?.(key, now)
            if (token === undefined || Jose.dpopBindings.has(token)) {
              return execute(accessToken(sessions), invalidateToken(sessions), client, request)
            }
            // the usual case, a fresh Bearer token, in one step; only a 401 needs the rest
            return Effect.flatMap(client.execute(HttpClientRequest.bearerToken(request, token)), (response) =>
              response.status === 401
                ? sender(accessToken(sessions), invalidateToken(sessions), client, request).retry(response, token)
                : Effect.succeed(response)
            )
          })
        ),
      Effect.succeed
    )
  }

/** RFC 9449 §9: the resource server wants a proof with its nonce. */
const asksForNonce = (response: HttpClientResponse.HttpClientResponse): boolean => {
  const challenge = response.headers["www-authenticate"] ?? ""
  return /^\s*dpop\b/i.test(challenge) && /error="use_dpop_nonce"/.test(challenge)
}

/**
 * `request` with `token`: `Authorization: Bearer`, or for a DPoP token, `Authorization: DPoP` and a new proof of the
 * session's key for this method and URL (with `ath`, and the server's last nonce).
 */
const authorize = (
  request: HttpClientRequest.HttpClientRequest,
  token: Redacted.Redacted<string>,
  dpopKey: Redacted.Redacted<string>
): Effect.Effect<HttpClientRequest.HttpClientRequest> =>
  Effect.map(
    Jose.dpopProof(dpopKey, {
      method: request.method,
      url: request.url,
      nonce: Jose.nonces.get(request.url),
      accessToken: token
    }),
    (proof) =>
      HttpClientRequest.setHeaders(request, {
        authorization: `DPoP ${Redacted.value(token)}`,
        dpop: proof
      })
  )

/**
 * Sending `request` with the manager's token (`first`); on a 401, the token is invalidated, refreshed once and the
 * request sent again (`retry`). A DPoP 401 that asks for a nonce is sent again at once with it, with the same token.
 */
const sender = <E, R>(
  accessToken: Effect.Effect<Redacted.Redacted<string>, TokenError>,
  invalidateToken: (token: Redacted.Redacted<string>) => Effect.Effect<void>,
  client: HttpClient.HttpClient.With<E, R>,
  request: HttpClientRequest.HttpClientRequest
) => {
  const sendWith = (token: Redacted.Redacted<string>, dpopKey: Redacted.Redacted<string>) =>
    Effect.flatMap(authorize(request, token, dpopKey), (authorized) => client.execute(authorized))
  /** One request with `token`: a Bearer token as it is (the usual case, in one step), a DPoP token with a proof. */
  const sendOnce = (token: Redacted.Redacted<string>) => {
    const dpopKey = Jose.dpopBindings.get(token)
    if (dpopKey === undefined) return client.execute(HttpClientRequest.bearerToken(request, token))
    return Effect.flatMap(sendWith(token, dpopKey), (response) => {
      const nonce = response.headers["dpop-nonce"]
      Jose.nonces.set(request.url, nonce)
      return response.status === 401 && nonce !== undefined && asksForNonce(response)
        ? Effect.zipRight(Effect.ignore(Effect.timeout(response.arrayBuffer, "5 seconds")), sendWith(token, dpopKey))
        : Effect.succeed(response)
    })
  }
  /** A 401 on `token`: free the connection (never waiting long for the body), invalidate, and send once more. */
  const retry = (
    response: HttpClientResponse.HttpClientResponse,
    token: Redacted.Redacted<string>
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, E | TokenError, R> =>
    response.arrayBuffer.pipe(
      Effect.timeout("5 seconds"),
      Effect.ignore,
      Effect.zipRight(invalidateToken(token)),
      Effect.zipRight(Effect.flatMap(accessToken, sendOnce))
    )
  const first = (token: Redacted.Redacted<string>) =>
    Effect.flatMap(sendOnce(token), (response) =>
      response.status === 401 ? retry(response, token) : Effect.succeed(response)
    )
  return { first, retry }
}

/** Sends `request` with the manager's token, and recovers from one 401 (see {@link sender}). */
const execute = <E, R>(
  accessToken: Effect.Effect<Redacted.Redacted<string>, TokenError>,
  invalidateToken: (token: Redacted.Redacted<string>) => Effect.Effect<void>,
  client: HttpClient.HttpClient.With<E, R>,
  request: HttpClientRequest.HttpClientRequest
): Effect.Effect<HttpClientResponse.HttpClientResponse, E | TokenError, R> =>
  Effect.flatMap(accessToken, sender(accessToken, invalidateToken, client, request).first)

const TokenFailureTypeId = Symbol.for("@token-refresher/core/BearerAuth/TokenFailure")

/**
 * The token failure behind a `RequestError` from the client that {@link layer} provides, if that is what it was.
 *
 * @since 0.1.0
 * @category accessors
 */
export const tokenError = (error: HttpClientError.HttpClientError): Option.Option<TokenError> =>
  error._tag === "RequestError" && Predicate.hasProperty(error.cause, TokenFailureTypeId)
    ? Option.some(error.cause[TokenFailureTypeId] as TokenError)
    : Option.none()

/**
 * Replaces the `HttpClient` in context by the bearer-authenticated one. The `HttpClient` interface only allows
 * `HttpClientError`, so a token failure arrives as a `RequestError` (reason `Transport`) whose description is the
 * token error's message; {@link tokenError} gives back the typed error. Use {@link make} to keep it in the type.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<HttpClient.HttpClient, never, HttpClient.HttpClient | TokenManager> = Layer.effect(
  HttpClient.HttpClient,
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const authenticated = yield* make(client)
    return HttpClient.makeWith<never, never, HttpClientError.HttpClientError, never>(
      (prepared) =>
        Effect.flatMap(prepared, (request) =>
          authenticated.execute(request).pipe(
            Effect.catchIf(
              (error): error is TokenError => !HttpClientError.isHttpClientError(error),
              (error) =>
                Effect.fail(
                  new HttpClientError.RequestError({
                    request,
                    reason: "Transport",
                    description: `no access token: ${error.message}`,
                    cause: { [TokenFailureTypeId]: error, toString: () => error.message }
                  })
                )
            )
          )
        ),
      Effect.succeed
    )
  })
)
