/**
 * A bearer-authenticated client for the Spotify Web API, with one worked call (`GET /me`).
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { BearerAuth, type TokenManager } from "@token-refresher/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"

/**
 * Spotify's Web API.
 *
 * @since 0.1.0
 * @category constants
 */
export const apiUrl = "https://api.spotify.com/v1"

/**
 * The current user (`GET /me`), the fields most apps need.
 *
 * @since 0.1.0
 * @category models
 */
export class User extends Schema.Class<User>("@token-refresher/spotify/User")({
  id: Schema.String,
  displayName: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null }).pipe(
    Schema.fromKey("display_name")
  ),
  email: Schema.optional(Schema.String),
  country: Schema.optional(Schema.String),
  product: Schema.optional(Schema.String),
  uri: Schema.String
}) {}

/**
 * A Web API call failed: a non-2xx answer (with Spotify's error message), a body that did not match, or no answer.
 *
 * @since 0.1.0
 * @category errors
 */
export class SpotifyApiError extends Schema.TaggedError<SpotifyApiError>("@token-refresher/spotify/SpotifyApiError")(
  "SpotifyApiError",
  {
    reason: Schema.Literal("Status", "Decode", "Transport"),
    /** The request, as `METHOD /path`. */
    request: Schema.String,
    status: Schema.optional(Schema.Number),
    detail: Schema.String
  }
) {
  override get message(): string {
    return `Spotify Web API ${this.request} failed${this.status === undefined ? "" : ` (HTTP ${this.status})`}: ${
      this.detail
    }`
  }
}

const ErrorBody = Schema.Struct({ error: Schema.Struct({ status: Schema.Number, message: Schema.String }) })
const decodeErrorBody = Schema.decodeUnknownOption(Schema.parseJson(ErrorBody))

/**
 * The `SpotifyApi` service.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Requests relative to the API URL (`client.get("/me")`), with `Authorization: Bearer …` and one 401 recovery. */
  readonly client: HttpClient.HttpClient.With<HttpClientError.HttpClientError | TokenManager.TokenError>
  /** `GET /me`, decoded. */
  readonly me: Effect.Effect<User, SpotifyApiError | TokenManager.TokenError>
}

/**
 * The tag of the `SpotifyApi` service.
 *
 * @since 0.1.0
 * @category tags
 */
export class SpotifyApi extends Context.Tag("@token-refresher/spotify/SpotifyApi")<SpotifyApi, Service>() {}

/**
 * The options of `SpotifyApi.layer` and `SpotifyApi.make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Default: `https://api.spotify.com/v1`; a local server in tests. */
  readonly apiUrl?: string | undefined
}

/**
 * Builds the client over the `HttpClient` and the `TokenManager` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options?: Options
): Effect.Effect<Service, never, HttpClient.HttpClient | TokenManager.TokenManager> =>
  Effect.gen(function* () {
    const base = (yield* HttpClient.HttpClient).pipe(
      HttpClient.mapRequest((request) =>
        request.pipe(HttpClientRequest.prependUrl(options?.apiUrl ?? apiUrl), HttpClientRequest.acceptJson)
      )
    )
    const client = yield* BearerAuth.make(base)

    const call = <A, I>(path: string, schema: Schema.Schema<A, I>) => {
      const label = `GET ${path}`
      return client.get(path).pipe(
        Effect.catchTags({
          RequestError: (error) =>
            Effect.fail(new SpotifyApiError({ reason: "Transport", request: label, detail: error.message })),
          ResponseError: (error) =>
            Effect.fail(
              new SpotifyApiError({
                reason: "Transport",
                request: label,
                status: error.response.status,
                detail: error.message
              })
            )
        }),
        Effect.flatMap((response) =>
          response.status >= 200 && response.status < 300
            ? HttpClientResponse.schemaBodyJson(schema)(response).pipe(
                Effect.mapError(
                  (error) =>
                    new SpotifyApiError({
                      reason: "Decode",
                      request: label,
                      status: response.status,
                      detail: error._tag === "ParseError" ? "the body did not match the expected shape" : error.message
                    })
                )
              )
            : Effect.flatMap(
                Effect.orElseSucceed(response.text, () => ""),
                (text) =>
                  Effect.fail(
                    new SpotifyApiError({
                      reason: "Status",
                      request: label,
                      status: response.status,
                      detail: Option.match(decodeErrorBody(text), {
                        onNone: () => "no error message",
                        onSome: (body) => body.error.message
                      })
                    })
                  )
              )
        )
      )
    }

    return SpotifyApi.of({ client, me: call("/me", User) })
  })

/**
 * The Web API client on the `HttpClient` and `TokenManager` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<SpotifyApi, never, HttpClient.HttpClient | TokenManager.TokenManager> =>
  Layer.effect(SpotifyApi, make(options))

/**
 * `GET /me`, decoded, with `SpotifyApi` in context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const me: Effect.Effect<User, SpotifyApiError | TokenManager.TokenError, SpotifyApi> = Effect.flatMap(
  SpotifyApi,
  (api) => api.me
)
