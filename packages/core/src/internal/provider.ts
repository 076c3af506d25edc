import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { DiscoveryError } from "../Errors.js"
import type * as Provider from "../Provider.js"
import { boundedText } from "./body.js"
import { loopback } from "./options.js"
import { parseUrl as parse } from "./url.js"

/** Discovery documents are small; anything bigger is not one. */
const maxDocumentBytes = 512 * 1024

/** The methods a client with a secret may default to; the JWT methods need a key or an explicit choice. */
const implemented: ReadonlyArray<Provider.AuthMethod> = ["client_secret_basic", "client_secret_post"]

const Document = Schema.Struct({
  issuer: Schema.String,
  token_endpoint: Schema.optional(Schema.String),
  authorization_endpoint: Schema.optional(Schema.String),
  revocation_endpoint: Schema.optional(Schema.String),
  device_authorization_endpoint: Schema.optional(Schema.String),
  token_endpoint_auth_methods_supported: Schema.optional(Schema.Array(Schema.String))
})

const decodeDocument = Schema.decodeUnknownEither(Document)

/** https, or http on a loopback host (a local server in tests). */
const secure = (url: URL): boolean => url.protocol === "https:" || (url.protocol === "http:" && loopback(url.hostname))

export const discover = (
  issuer: string,
  options?: Provider.DiscoverOptions
): Effect.Effect<Provider.Provider, DiscoveryError, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const fail = (reason: DiscoveryError["reason"], detail: string) => new DiscoveryError({ issuer, reason, detail })
    const url = parse(issuer)
    if (url === undefined || url.search !== "" || url.hash !== "") {
      return yield* fail("InvalidUrl", "the issuer must be a URL without query or fragment")
    }
    if (!secure(url)) return yield* fail("Insecure", `the issuer must use https, got ${url.protocol}//${url.host}`)
    const timeout = Duration.decode(options?.timeout ?? "10 seconds")
    const client = (yield* HttpClient.HttpClient).pipe(HttpClient.withTracerPropagation(false))
    const path = url.pathname.replace(/\/+$/, "")

    const fetchDocument = (documentUrl: string) =>
      client.execute(HttpClientRequest.get(documentUrl).pipe(HttpClientRequest.acceptJson)).pipe(
        Effect.flatMap((response) =>
          response.status !== 200
            ? Effect.fail(fail("Status", `${documentUrl} answered HTTP ${response.status}`))
            : Effect.flatMap(boundedText(response, maxDocumentBytes), (text) => {
                if (text === undefined) {
                  return Effect.fail(fail("NotJson", `${documentUrl} sent more than ${maxDocumentBytes} bytes`))
                }
                try {
                  return Effect.succeed(JSON.parse(text) as unknown)
                } catch {
                  return Effect.fail(fail("NotJson", `${documentUrl} did not send JSON`))
                }
              })
        ),
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () => fail("Transport", `${documentUrl} did not answer within ${Duration.format(timeout)}`)
        }),
        Effect.catchTags({
          RequestError: (error) => Effect.fail(fail("Transport", `${documentUrl}: ${error.message}`)),
          ResponseError: (error) => Effect.fail(fail("Transport", `${documentUrl}: ${error.message}`))
        })
      )

    // OpenID Connect Discovery 1.0 §4 appends the well-known path; RFC 8414 §3.1 inserts it before the issuer's path
    const json = yield* fetchDocument(`${url.origin}${path}/.well-known/openid-configuration`).pipe(
      Effect.catchIf(
        (error) => error.reason === "Status",
        () => fetchDocument(`${url.origin}/.well-known/oauth-authorization-server${path}`)
      )
    )
    const document = yield* Either.match(decodeDocument(json), {
      onLeft: () => Effect.fail(fail("NotJson", "the document is not an object with a string issuer")),
      onRight: Effect.succeed
    })
    // RFC 8414 §3.3: an issuer that differs from the one asked for must not be used (mix-up attacks)
    if (document.issuer.replace(/\/+$/, "") !== `${url.origin}${path}`) {
      return yield* fail("IssuerMismatch", `the document names the issuer ${JSON.stringify(document.issuer)}`)
    }
    const endpoint = (field: string, value: string | undefined) => {
      if (value === undefined) return Effect.succeed(undefined)
      const parsed = parse(value)
      if (parsed === undefined) return Effect.fail(fail("MissingEndpoint", `${field} is not a URL`))
      if (!secure(parsed)) return Effect.fail(fail("Insecure", `${field} must use https`))
      return Effect.succeed(parsed.toString())
    }
    const tokenUrl = yield* endpoint("token_endpoint", document.token_endpoint)
    if (tokenUrl === undefined) return yield* fail("MissingEndpoint", "the document has no token_endpoint")
    const authorizeUrl = yield* endpoint("authorization_endpoint", document.authorization_endpoint)
    const revocationUrl = yield* endpoint("revocation_endpoint", document.revocation_endpoint)
    const deviceAuthorizationUrl = yield* endpoint(
      "device_authorization_endpoint",
      document.device_authorization_endpoint
    )
    // RFC 8414 §2: client_secret_basic when the document does not say
    const supported = document.token_endpoint_auth_methods_supported ?? ["client_secret_basic"]
    const authMethod = supported.find((method): method is "client_secret_basic" | "client_secret_post" =>
      implemented.includes(method as Provider.AuthMethod)
    )
    return {
      name: options?.name ?? url.host,
      tokenUrl,
      ...(authorizeUrl === undefined ? {} : { authorizeUrl }),
      ...(revocationUrl === undefined ? {} : { revocationUrl }),
      ...(authMethod === undefined ? {} : { authMethod }),
      deviceAuthorizationUrl: Option.fromNullable(deviceAuthorizationUrl),
      issuer: document.issuer,
      authMethodsSupported: supported,
      rotatesRefreshTokens: options?.rotatesRefreshTokens ?? false,
      // discovery documents do not say how long an unused refresh token lives
      refreshTokenIdleTimeout: Option.none()
    } satisfies Provider.Provider
  })

export const authorizationUrl = (
  provider: Provider.Provider,
  options: Provider.AuthorizationUrlOptions
): Option.Option<string> => {
  const url = provider.authorizeUrl === undefined ? undefined : parse(provider.authorizeUrl)
  if (url === undefined) return Option.none()
  url.searchParams.set("client_id", options.clientId)
  url.searchParams.set("response_type", "code")
  url.searchParams.set("redirect_uri", options.redirectUri)
  url.searchParams.set("state", options.state)
  if (options.scope !== undefined && options.scope.length > 0) url.searchParams.set("scope", options.scope.join(" "))
  if (options.codeChallenge !== undefined) {
    url.searchParams.set("code_challenge_method", "S256")
    url.searchParams.set("code_challenge", options.codeChallenge)
  }
  for (const [name, value] of Object.entries(options.params ?? {})) url.searchParams.set(name, value)
  return Option.some(url.toString())
}
