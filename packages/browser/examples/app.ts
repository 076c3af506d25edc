/**
 * The example page: a public client (PKCE) that logs in by redirect, calls an API with the session's token, and logs
 * out; every tab of the page shares the session and its refreshes. `pnpm --filter @token-refresher/browser example`
 * serves it against the fake authorization server.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import { BrowserLogin, BrowserTokenRefresher, BrowserTokenStore } from "@token-refresher/browser"
import { BearerAuth, Provider, TokenRefresher, TokenSessions, TokenStore } from "@token-refresher/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"

const config = document.querySelector<HTMLMetaElement>('meta[name="token-refresher"]')!.dataset
const issuer = config.issuer!
const clientId = config.clientId!
const key = TokenStore.defaultKey

// the provider from its discovery document; the sessions in IndexedDB, shared by every tab of the origin
const App = Layer.unwrapEffect(
  Effect.map(Provider.discover(issuer), (provider) =>
    TokenSessions.layer().pipe(
      Layer.provideMerge(
        Layer.merge(BrowserTokenRefresher.layer({ provider, clientId }), BrowserTokenStore.layerIndexedDb())
      )
    )
  )
).pipe(Layer.provideMerge(FetchHttpClient.layer))
const runtime = ManagedRuntime.make(App)

const element = (id: string) => document.getElementById(id)!
const show = (text: string) => {
  element("output").textContent = text
}
const run = <A>(effect: Effect.Effect<A, unknown, Layer.Layer.Success<typeof App>>) =>
  runtime.runPromise(effect).catch((error: unknown) => {
    show(String(error))
    return undefined
  })

const renderStatus = () =>
  run(
    Effect.map(TokenSessions.status(key), (status) => {
      const line = element("status")
      line.dataset.state = status._tag === "Some" ? status.value.state : "None"
      line.textContent =
        status._tag === "None"
          ? "Logged out."
          : status.value.state === "Active"
            ? `Logged in; the access token is valid until ${DateTime.formatIso(status.value.expiresAt!)}.`
            : `The session is ${status.value.state}: log in again.`
    })
  )

element("login").onclick = () =>
  run(
    Effect.flatMap(TokenRefresher.TokenRefresher, (refresher) =>
      BrowserLogin.redirect({ provider: refresher.provider, clientId, redirectUri: `${location.origin}/`, key })
    )
  )

element("call").onclick = () =>
  run(
    Effect.gen(function* () {
      const client = (yield* HttpClient.HttpClient).pipe(BearerAuth.forSession(key))
      const response = yield* client.get(`${issuer}/v1/me`)
      const me = (yield* response.json) as { readonly display_name?: string }
      show(`The API says: hello, ${me.display_name ?? "whoever you are"}.`)
    })
  ).then(renderStatus)

element("logout").onclick = () =>
  run(TokenSessions.remove(key)).then(() => {
    show("Logged out.")
    return renderStatus()
  })

// back from the provider: finish the login
const params = new URLSearchParams(location.search)
const arrived = params.has("code") || params.has("error")
void (arrived ? run(BrowserLogin.complete({ key })).then((done) => done && show("Logged in.")) : Promise.resolve())
  .then(renderStatus)
  .then(() => {
    // another tab may log in or out at any time: the status line follows
    setInterval(renderStatus, 1000)
    document.body.dataset.ready = "true"
  })
