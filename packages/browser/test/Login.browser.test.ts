import { assert, describe, it } from "@effect/vitest"
import { BrowserLogin, BrowserTokenRefresher, BrowserTokenStore } from "@token-refresher/browser"
import { Errors, Provider, Session, TokenRefresher, TokenSessions, TokenSet, TokenStore } from "@token-refresher/core"
import { MockTokenEndpoint } from "@token-refresher/testing"
import { Spotify } from "@token-refresher/spotify"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { fresh } from "./utils.js"

const redirectUri = `${location.origin}/callback`

const provider = Provider.make({
  name: "Example",
  tokenUrl: "https://auth.example.com/token",
  authorizeUrl: "https://auth.example.com/authorize"
})

/** A login's stack on the mock endpoint, with a new localStorage store. */
const stack = (...replies: ReadonlyArray<MockTokenEndpoint.Reply>) => {
  const Base = Layer.mergeAll(
    TokenRefresher.layer({ provider, clientId: "my-app" }).pipe(Layer.provideMerge(MockTokenEndpoint.layer(replies))),
    BrowserTokenStore.layerLocalStorage({ prefix: `${fresh("login")}:` })
  )
  return TokenSessions.layer().pipe(Layer.provideMerge(Base))
}

const requests = Effect.flatMap(MockTokenEndpoint.MockTokenEndpoint, (mock) => mock.requests)
const requestCount = Effect.flatMap(MockTokenEndpoint.MockTokenEndpoint, (mock) => mock.count)

/** Puts `query` on the test page's address, as a redirect back from the provider would. */
const arriveWith = (query: string) =>
  Effect.sync(() => {
    history.replaceState(null, "", `${location.pathname}?${query}`)
  })

const started = (options?: { readonly key?: string }) =>
  Effect.gen(function* () {
    const url = new URL(
      yield* BrowserLogin.start({ provider, clientId: "my-app", redirectUri, scope: ["read", "write"], ...options })
    )
    return { url, state: url.searchParams.get("state")! }
  })

describe("BrowserLogin", () => {
  it.effect("start: the authorization URL with S256 PKCE and a state; the verifier stays in sessionStorage", () =>
    Effect.gen(function* () {
      const { url, state } = yield* started()
      assert.strictEqual(`${url.origin}${url.pathname}`, "https://auth.example.com/authorize")
      const params = Object.fromEntries(url.searchParams)
      assert.deepStrictEqual(Object.keys(params).sort(), [
        "client_id",
        "code_challenge",
        "code_challenge_method",
        "redirect_uri",
        "response_type",
        "scope",
        "state"
      ])
      assert.deepStrictEqual(
        [params.client_id, params.redirect_uri, params.response_type, params.scope, params.code_challenge_method],
        ["my-app", redirectUri, "code", "read write", "S256"]
      )
      assert.match(state, /^[A-Za-z0-9_-]{22}$/)
      const pending = JSON.parse(sessionStorage.getItem(BrowserLogin.pendingItem)!)
      assert.deepStrictEqual([pending.state, pending.redirectUri, pending.key], [state, redirectUri, "default"])
      // the challenge is the verifier's S256
      const digest = yield* Effect.promise(() =>
        crypto.subtle.digest("SHA-256", new TextEncoder().encode(pending.verifier))
      )
      const challenge = btoa(String.fromCharCode(...new Uint8Array(digest)))
        .replace(/\+/g, "-")
        .replace(/\//g, "_")
        .replace(/=+$/, "")
      assert.strictEqual(params.code_challenge, challenge)
    })
  )

  it.effect("complete: exchanges the code with the verifier, saves the session, and cleans the address bar", () =>
    Effect.gen(function* () {
      const { state } = yield* started({ key: "alice" })
      const pending = JSON.parse(sessionStorage.getItem(BrowserLogin.pendingItem)!)
      yield* arriveWith(`code=the-code&state=${state}&iss=https%3A%2F%2Fauth.example.com&tab=2`)
      const done = yield* BrowserLogin.complete()
      assert.strictEqual(done.key, "alice")
      assert.strictEqual(Redacted.value(done.tokens.accessToken), "mock-access-token-1")
      // the address keeps what is not the login's
      assert.strictEqual(location.search, "?tab=2")
      assert.strictEqual(sessionStorage.getItem(BrowserLogin.pendingItem), null)
      const [request] = yield* requests
      assert.deepStrictEqual(request!.form, {
        grant_type: "authorization_code",
        code: "the-code",
        redirect_uri: redirectUri,
        code_verifier: pending.verifier,
        client_id: "my-app"
      })
      // saved through TokenSessions: the session serves its token with no other request
      assert.strictEqual(Redacted.value(yield* TokenSessions.accessToken("alice")), "mock-access-token-1")
      const stored = yield* TokenStore.get("alice")
      assert.isTrue(Option.isSome(stored) && stored.value._tag === "Active")
      assert.strictEqual(yield* requestCount, 1)
    }).pipe(Effect.provide(stack(MockTokenEndpoint.ok({ rotate: true }))))
  )

  it.effect("complete: a state that is not this tab's login is StateMismatch, and nothing is exchanged", () =>
    Effect.gen(function* () {
      yield* started()
      yield* arriveWith("code=the-code&state=forged")
      const exit = yield* Effect.exit(BrowserLogin.complete())
      assert.deepStrictEqual(exit, Exit.fail(new BrowserLogin.LoginError({ reason: "StateMismatch" })))
      assert.strictEqual(location.search, "")
      // a second completion of the same redirect: the login in progress is gone
      const { state } = yield* started()
      yield* arriveWith(`code=the-code&state=${state}`)
      yield* Effect.ignore(BrowserLogin.complete())
      yield* arriveWith(`code=the-code&state=${state}`)
      const again = yield* Effect.exit(BrowserLogin.complete())
      assert.deepStrictEqual(again, Exit.fail(new BrowserLogin.LoginError({ reason: "StateMismatch" })))
      assert.strictEqual(yield* requestCount, 1)
    }).pipe(Effect.provide(stack(MockTokenEndpoint.ok())))
  )

  it.effect("complete: the provider's error is Denied with its code and description; no code is MissingCode", () =>
    Effect.gen(function* () {
      const { state } = yield* started()
      const denied = yield* Effect.exit(
        BrowserLogin.complete({
          url: `${redirectUri}?error=access_denied&error_description=The+user+said+no&state=${state}`
        })
      )
      assert.deepStrictEqual(
        denied,
        Exit.fail(
          new BrowserLogin.LoginError({ reason: "Denied", error: "access_denied", description: "The user said no" })
        )
      )
      const second = yield* started()
      const missing = yield* Effect.exit(BrowserLogin.complete({ url: `${redirectUri}?state=${second.state}` }))
      assert.deepStrictEqual(missing, Exit.fail(new BrowserLogin.LoginError({ reason: "MissingCode" })))
      assert.strictEqual(yield* requestCount, 0)
    }).pipe(Effect.provide(stack()))
  )

  it.effect("complete: a refused code is the exchange's typed error, and no session is saved", () =>
    Effect.gen(function* () {
      const { state } = yield* started()
      const exit = yield* Effect.exit(BrowserLogin.complete({ url: `${redirectUri}?code=used&state=${state}` }))
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(
        Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error._tag : undefined,
        "InvalidGrant"
      )
      assert.isTrue(Option.isNone(yield* TokenStore.get()))
    }).pipe(Effect.provide(stack(MockTokenEndpoint.invalidGrant("Invalid authorization code"))))
  )

  it.effect("start: a provider without an authorization endpoint is Unsupported", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(
        BrowserLogin.start({
          provider: Provider.make({ name: "Machines", tokenUrl: "https://m.example.com/token" }),
          clientId: "x",
          redirectUri
        })
      )
      assert.deepStrictEqual(
        exit,
        Exit.fail(
          new BrowserLogin.LoginError({ reason: "Unsupported", description: "Machines has no authorization endpoint" })
        )
      )
    })
  )
})

describe("BrowserTokenRefresher", () => {
  it.effect("refuses a client secret with a ConfigError that says why; takes a preset's provider", () =>
    Effect.gen(function* () {
      const refused = yield* Effect.flip(
        Layer.build(
          BrowserTokenRefresher.layer({
            provider: Spotify.provider,
            clientId: "my-app",
            clientSecret: Redacted.make("s3cret")
          })
        ).pipe(Effect.scoped)
      )
      assert.strictEqual(refused._op, "InvalidData")
      assert.include(String(refused), "clientSecret")
      assert.include(String(refused), "a browser cannot keep a client secret")
      assert.notInclude(String(refused), "s3cret")
      const refresher = yield* TokenRefresher.TokenRefresher.pipe(
        Effect.provide(BrowserTokenRefresher.layer({ provider: Spotify.provider, clientId: "my-app" }))
      )
      assert.strictEqual(refresher.provider.tokenUrl, "https://accounts.spotify.com/api/token")
    })
  )
})

/** A login's session whose access token is valid for an hour. */
const login = (name: string) =>
  Session.active(
    new TokenSet.TokenSet({
      accessToken: Redacted.make(`access-${name}`),
      refreshToken: Option.some(Redacted.make(`refresh-${name}`)),
      tokenType: "Bearer",
      expiresAt: DateTime.unsafeMake(Date.now() + 3_600_000),
      scope: [],
      issuedAt: DateTime.unsafeMake(Date.now()),
      authorizedAt: Option.none(),
      refreshTokenExpiresAt: Option.none()
    })
  )

describe("news between tabs", () => {
  it.live("a save and a remove in one store instance are seen by another instance's TokenSessions at once", () =>
    Effect.gen(function* () {
      const prefix = `${fresh("news")}:`
      const Refresher = TokenRefresher.layer({ provider, clientId: "my-app" }).pipe(
        Layer.provide(MockTokenEndpoint.layer([]))
      )
      const tab = () =>
        Layer.build(
          Layer.merge(
            TokenSessions.layer().pipe(
              Layer.provide(Layer.merge(BrowserTokenStore.layerLocalStorage({ prefix }), Refresher))
            ),
            BrowserTokenStore.layerLocalStorage({ prefix })
          )
        )
      const one = yield* tab()
      const two = yield* tab()
      const sessionsOf = (context: typeof one) => TokenSessions.TokenSessions.pipe(Effect.provide(context))
      const first = yield* sessionsOf(one)
      const second = yield* sessionsOf(two)
      yield* first.save("bob", login("one"))
      assert.strictEqual(Redacted.value(yield* second.accessToken("bob")), "access-one")
      yield* first.save("bob", login("two"))
      // the news crosses by a BroadcastChannel message: the next task, not the same tick
      yield* Effect.sleep("50 millis")
      assert.strictEqual(Redacted.value(yield* second.accessToken("bob")), "access-two")
      yield* first.remove("bob")
      yield* Effect.sleep("50 millis")
      const gone = yield* Effect.flip(second.accessToken("bob"))
      assert.strictEqual(gone._tag, "NoToken")
      assert.isTrue(gone instanceof Errors.NoToken)
    }).pipe(Effect.scoped)
  )
})
