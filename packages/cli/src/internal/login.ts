import { type Errors, Pkce, Provider, TokenRefresher, type TokenSet, TokenStore } from "@token-refresher/core"
import * as Console from "effect/Console"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { LoginError } from "./errors.js"

const page = (title: string, text: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head>` +
  `<body style="font-family: sans-serif; margin: 3em"><h1>${title}</h1><p>${text}</p></body></html>`

/**
 * Listens on `http://127.0.0.1:<port>/callback` (Spotify rejects `localhost`) for one redirect and hands back its
 * query; other paths are 404s. Closed with the scope.
 */
const callbackServer = (port: number) =>
  Effect.gen(function* () {
    const received = yield* Deferred.make<URLSearchParams>()
    const server = Http.createServer((request, response) => {
      const url = new URL(request.url ?? "/", "http://127.0.0.1")
      if (request.method !== "GET" || url.pathname !== "/callback") {
        response.writeHead(404, { "content-type": "text/plain" }).end("not found")
        return
      }
      const ok = url.searchParams.has("code")
      response
        .writeHead(ok ? 200 : 400, { "content-type": "text/html; charset=utf-8" })
        .end(
          ok
            ? page("Logged in", "token-refresher received the authorization. You can close this window.")
            : page("Login failed", "The authorization was not granted. See the terminal.")
        )
      Deferred.unsafeDone(received, Effect.succeed(url.searchParams))
    })
    const address = yield* Effect.acquireRelease(
      Effect.async<AddressInfo, LoginError>((resume) => {
        server.once("error", (error) =>
          resume(
            Effect.fail(
              new LoginError({ reason: "Listen", detail: `cannot listen on 127.0.0.1:${port} (${error.message})` })
            )
          )
        )
        server.listen(port, "127.0.0.1", () => resume(Effect.succeed(server.address() as AddressInfo)))
      }),
      () =>
        Effect.async<void>((resume) => {
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )
    return { redirectUri: `http://127.0.0.1:${address.port}/callback`, received: Deferred.await(received) }
  })

export interface LoginOptions {
  readonly provider: Provider.Provider
  readonly clientId: string
  /** The session's key in the store. */
  readonly key: string
  readonly port: number
  readonly scope: ReadonlyArray<string>
  readonly timeout: Duration.Duration
}

/** Authorization code with PKCE through a loopback redirect, then the tokens go to the store. */
export const login = (
  options: LoginOptions
): Effect.Effect<
  TokenSet.TokenSet,
  LoginError | Errors.RefreshError | TokenStore.TokenStoreError,
  TokenRefresher.TokenRefresher | TokenStore.TokenStore
> =>
  Effect.scoped(
    Effect.gen(function* () {
      const refresher = yield* TokenRefresher.TokenRefresher
      const store = yield* TokenStore.TokenStore
      const pkce = yield* Pkce.make
      const state = yield* Pkce.randomString(16)
      const callback = yield* callbackServer(options.port)
      const authorizationUrl = Provider.authorizationUrl(options.provider, {
        clientId: options.clientId,
        redirectUri: callback.redirectUri,
        state,
        scope: options.scope,
        codeChallenge: pkce.challenge
      })
      if (Option.isNone(authorizationUrl)) {
        return yield* new LoginError({
          reason: "Unsupported",
          detail: `${options.provider.name} has no authorization endpoint: it cannot log a user in`
        })
      }
      const url = authorizationUrl.value
      yield* Console.log(`Open this URL in your browser to log in:\n\n  ${url}\n`)
      yield* Console.log(`Waiting for the redirect to ${callback.redirectUri} …`)
      const query = yield* callback.received.pipe(
        Effect.timeoutFail({
          duration: options.timeout,
          onTimeout: () =>
            new LoginError({
              reason: "Timeout",
              detail: `no redirect to ${callback.redirectUri} within ${Duration.format(options.timeout)}; is that redirect URI registered for the app?`
            })
        })
      )
      if (query.get("state") !== state) {
        return yield* new LoginError({
          reason: "StateMismatch",
          detail: "the redirect's state does not match this login; ignoring it (start the login again)"
        })
      }
      const denied = query.get("error")
      if (denied !== null) {
        return yield* new LoginError({ reason: "Denied", detail: `the authorization was not granted (${denied})` })
      }
      const code = query.get("code")
      if (code === null || code === "") {
        return yield* new LoginError({ reason: "MissingCode", detail: "the redirect carried no code" })
      }
      const tokens = yield* refresher.exchangeCode({
        code: Redacted.make(code),
        redirectUri: callback.redirectUri,
        codeVerifier: pkce.verifier
      })
      yield* store.set(options.key, tokens)
      return tokens
    })
  )
