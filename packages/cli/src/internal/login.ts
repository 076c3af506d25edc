import { type Errors, Pkce, Provider, Session, TokenRefresher, type TokenSet, TokenStore } from "@token-refresher/core"
import * as Console from "effect/Console"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { LoginError, sanitize } from "./errors.js"

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!)

const page = (title: string, text: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>` +
  `<body style="font-family: sans-serif; margin: 3em"><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></body></html>`

interface Outcome {
  readonly ok: boolean
  readonly text: string
}

/**
 * Listens on `http://127.0.0.1:<port>/callback` (Spotify rejects `localhost`) for the redirect of this login: one
 * whose `state` is the one sent. Any other request to `/callback` (a forged one, which any web page can send with an
 * `<img>`) is answered 400 and ignored, and the login keeps waiting. The browser's page says how the login ended, once
 * it has. Other paths are 404s. Closed with the scope.
 */
const callbackServer = (port: number, state: string) =>
  Effect.gen(function* () {
    const received = yield* Deferred.make<URLSearchParams>()
    let settle: (outcome: Outcome) => void = () => {}
    const outcome = new Promise<Outcome>((resolve) => {
      settle = resolve
    })
    let taken = false
    const server = Http.createServer((request, response) => {
      const url = new URL(request.url ?? "/", "http://127.0.0.1")
      const answer = (status: number, title: string, text: string) =>
        response.writeHead(status, { "content-type": "text/html; charset=utf-8" }).end(page(title, text))
      if (request.method !== "GET" || url.pathname !== "/callback") {
        response.writeHead(404, { "content-type": "text/plain" }).end("not found")
        return
      }
      if (url.searchParams.get("state") !== state || taken) {
        answer(400, "Not this login", "This redirect does not belong to the login in progress: it was ignored.")
        return
      }
      taken = true
      Deferred.unsafeDone(received, Effect.succeed(url.searchParams))
      void outcome.then((result) =>
        answer(result.ok ? 200 : 400, result.ok ? "Logged in" : "Login failed", result.text)
      )
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
          // the page of the ending login is sent before the server goes
          settle({ ok: false, text: "The login was stopped. See the terminal." })
          setImmediate(() => {
            server.closeAllConnections()
            server.close(() => resume(Effect.void))
          })
        })
    )
    return {
      redirectUri: `http://127.0.0.1:${address.port}/callback`,
      received: Deferred.await(received),
      settle: (result: Outcome) => Effect.sync(() => settle(result))
    }
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

/**
 * The device flow (RFC 8628): the user code and the page go to stderr, the device polls until the user approves, then
 * the tokens go to the store.
 */
export const deviceLogin = (options: {
  readonly provider: Provider.Provider
  readonly key: string
  readonly scope: ReadonlyArray<string>
}): Effect.Effect<
  TokenSet.TokenSet,
  Errors.DeviceAuthorizationError | Errors.RefreshError | TokenStore.TokenStoreError,
  TokenRefresher.TokenRefresher | TokenStore.TokenStore
> =>
  Effect.gen(function* () {
    const refresher = yield* TokenRefresher.TokenRefresher
    const store = yield* TokenStore.TokenStore
    const authorization = yield* refresher.deviceAuthorization({ scope: options.scope })
    const page = sanitize(authorization.verificationUri)
    yield* Console.error(`To log in, open ${page} in a browser (on any device) and enter the code:\n`)
    yield* Console.error(`  ${sanitize(authorization.userCode)}\n`)
    if (Option.isSome(authorization.verificationUriComplete)) {
      yield* Console.error(`(or open ${sanitize(authorization.verificationUriComplete.value)} directly)`)
    }
    yield* Console.error(`Waiting for the approval (the code expires in ${Duration.format(authorization.expiresIn)}) …`)
    const tokens = yield* refresher.pollDeviceToken(authorization)
    yield* store.set(options.key, Session.active(tokens))
    return tokens
  })

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
      const callback = yield* callbackServer(options.port, state)
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
      const exchanged = Effect.gen(function* () {
        const denied = query.get("error")
        if (denied !== null) {
          return yield* new LoginError({
            reason: "Denied",
            detail: `the authorization was not granted (${sanitize(denied)})`
          })
        }
        const code = query.get("code")
        if (code === null || code === "") {
          return yield* new LoginError({ reason: "MissingCode", detail: "the redirect carried no code" })
        }
        return yield* refresher
          .exchangeCode({ code: Redacted.make(code), redirectUri: callback.redirectUri, codeVerifier: pkce.verifier })
          .pipe(
            Effect.catchTag("InvalidGrant", (error) =>
              Effect.fail(
                new LoginError({
                  reason: "CodeRejected",
                  detail: `the authorization code was refused${
                    error.description === undefined ? "" : ` (${error.description})`
                  }: start the login again`
                })
              )
            )
          )
      })
      const tokens = yield* exchanged.pipe(
        Effect.tap((tokens) => store.set(options.key, Session.active(tokens))),
        Effect.tapBoth({
          onSuccess: () =>
            callback.settle({
              ok: true,
              text: "token-refresher received the authorization. You can close this window."
            }),
          onFailure: (error) => callback.settle({ ok: false, text: `${error.message} See the terminal.` })
        })
      )
      return tokens
    })
  )
