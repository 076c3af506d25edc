import * as UrlParams from "@effect/platform/UrlParams"
import { assert, describe, it } from "@effect/vitest"
import { FakeAuthorizationServer } from "@token-refresher/testing/node"
import { Chunk, Option, Redacted } from "effect"
import * as Profiles from "../src/internal/fakeServer/profiles.js"
import * as State from "../src/internal/fakeServer/state.js"

// The fake server's rules as pure functions: no socket, no clock; `now` is whatever the test says.

const confidential = FakeAuthorizationServer.confidentialClient
const publicClient = FakeAuthorizationServer.publicClient

const settings: State.Settings = {
  url: "http://127.0.0.1:1234",
  clients: [confidential, publicClient],
  defaultScope: "read write",
  profile: Profiles.profiles.rfc6749,
  rotate: true,
  keepOldRefreshTokens: false,
  revokeFamilyOnReuse: false,
  accessTokenLifetime: 3600,
  refreshTokenLifetime: Number.POSITIVE_INFINITY,
  tokenDelay: 0,
  deviceInterval: 5,
  deviceCodeLifetime: 600,
  discoveryDocument: Option.none(),
  faultRate: 0,
  rateFaults: []
}

const start = (overrides?: Partial<State.Settings>): State.State =>
  State.make({ ...settings, ...overrides }, "test-secret")

const t0 = 1_700_000_000_000

const form = (fields: Record<string, string>) => UrlParams.fromInput(fields)

const bodyOf = (answer: State.Answer): any => JSON.parse(answer.body as string)

/** The status and JSON body of an answer. */
const summary = (answer: State.Answer) => [answer.status, bodyOf(answer)] as const

const login = (state: State.State, now = t0, clientId = confidential.clientId) =>
  State.issueTokens(state, { clientId, scope: "read write" }, now)

const refresh = (
  state: State.State,
  token: string | Redacted.Redacted<string>,
  now: number,
  extra?: Record<string, string>
) =>
  State.refreshGrant(
    state,
    confidential,
    form({
      grant_type: "refresh_token",
      refresh_token: typeof token === "string" ? token : Redacted.value(token),
      ...extra
    }),
    now
  )

const invalidGrant = (description: string) => [400, { error: "invalid_grant", error_description: description }] as const

const me = (state: State.State, accessToken: string | Redacted.Redacted<string>, now: number) =>
  State.me(state, `Bearer ${typeof accessToken === "string" ? accessToken : Redacted.value(accessToken)}`, now)

describe("tokens", () => {
  it("are fake-<kind>- and 32 characters, derived from the secret: the same secret gives the same tokens", () => {
    const [first] = login(start())
    const [again] = login(start())
    const [other] = login(State.make(settings, "another-secret"))
    assert.match(Redacted.value(first.accessToken), /^fake-access-[\w-]{32}$/)
    assert.match(Redacted.value(first.refreshToken), /^fake-refresh-[\w-]{32}$/)
    assert.strictEqual(Redacted.value(again.refreshToken), Redacted.value(first.refreshToken))
    assert.notStrictEqual(Redacted.value(other.refreshToken), Redacted.value(first.refreshToken))
    assert.notStrictEqual(Redacted.value(first.accessToken), Redacted.value(first.refreshToken))
  })

  it("an access token works until its lifetime is over; expireAccessTokens ends it at once", () => {
    const [issued, state] = login(start({ accessTokenLifetime: 60 }))
    assert.deepStrictEqual(summary(me(state, issued.accessToken, t0 + 59_999)[0]), [200, State.user])
    const [expired, after] = me(state, issued.accessToken, t0 + 60_000)
    assert.deepStrictEqual(summary(expired), [401, { error: { status: 401, message: "The access token expired" } }])
    assert.deepStrictEqual([after.stats.apiCalls, after.stats.apiRejected], [1, 1])
    const [unknown] = me(state, "nope", t0)
    assert.deepStrictEqual(summary(unknown), [401, { error: { status: 401, message: "Invalid access token" } }])
    assert.strictEqual(me(State.expireAccessTokens(state), issued.accessToken, t0)[0].status, 401)
  })
})

describe("refreshGrant", () => {
  it("rotation: a new refresh token each time; the old one is then invalid_grant", () => {
    const [issued, s1] = login(start())
    const [first, s2] = refresh(s1, issued.refreshToken, t0 + 1000)
    const tokens = bodyOf(first)
    assert.deepStrictEqual(Object.keys(tokens), ["access_token", "token_type", "scope", "expires_in", "refresh_token"])
    assert.deepStrictEqual(
      [first.status, tokens.token_type, tokens.scope, tokens.expires_in],
      [200, "Bearer", "read write", 3600]
    )
    assert.notStrictEqual(tokens.refresh_token, Redacted.value(issued.refreshToken))

    const [reused, s3] = refresh(s2, issued.refreshToken, t0 + 2000)
    assert.deepStrictEqual(summary(reused), invalidGrant("Invalid refresh token"))
    assert.strictEqual(reused.error, "invalid_grant")
    const [second, s4] = refresh(s3, tokens.refresh_token, t0 + 3000)
    assert.strictEqual(second.status, 200)
    assert.deepStrictEqual([s4.stats.refreshesServed, s4.stats.refreshesRejected, s4.stats.familiesRevoked], [2, 1, 0])
    // the new access token works, and so does the old one until it expires (rotation ends no access token)
    assert.strictEqual(me(s4, bodyOf(second).access_token, t0 + 3000)[0].status, 200)
    assert.strictEqual(me(s4, issued.accessToken, t0 + 3000)[0].status, 200)
  })

  it("keepOldRefreshTokens: a rotated refresh token keeps working (Microsoft)", () => {
    const [issued, s1] = login(start({ keepOldRefreshTokens: true }))
    const [first, s2] = refresh(s1, issued.refreshToken, t0)
    const [again, s3] = refresh(s2, issued.refreshToken, t0)
    assert.deepStrictEqual([first.status, again.status], [200, 200])
    assert.notStrictEqual(bodyOf(again).refresh_token, bodyOf(first).refresh_token)
    assert.strictEqual(refresh(s3, bodyOf(first).refresh_token, t0)[0].status, 200)
  })

  it("without rotation: no refresh token in the answer, and the old one keeps working", () => {
    const [issued, s1] = login(start({ rotate: false }))
    const [first, s2] = refresh(s1, issued.refreshToken, t0)
    assert.isFalse("refresh_token" in bodyOf(first))
    assert.strictEqual(refresh(s2, issued.refreshToken, t0)[0].status, 200)
  })

  it("revokeFamilyOnReuse: a used token that comes back revokes its whole family, once", () => {
    const [issued, s1] = login(start({ revokeFamilyOnReuse: true }))
    const [, other] = login(s1)
    const [first, s2] = refresh(other, issued.refreshToken, t0)
    const rotated = bodyOf(first)
    const [reused, s3] = refresh(s2, issued.refreshToken, t0)
    assert.deepStrictEqual(summary(reused), invalidGrant("Refresh token revoked"))
    assert.strictEqual(s3.stats.familiesRevoked, 1)
    // the descendant and its access token are gone too
    assert.deepStrictEqual(summary(refresh(s3, rotated.refresh_token, t0)[0]), invalidGrant("Refresh token revoked"))
    assert.strictEqual(me(s3, rotated.access_token, t0)[0].status, 401)
    // no second revocation: the token is revoked now, not used
    const [again, s4] = refresh(s3, issued.refreshToken, t0)
    assert.deepStrictEqual(summary(again), invalidGrant("Refresh token revoked"))
    assert.deepStrictEqual([s4.stats.familiesRevoked, s4.stats.refreshesServed, s4.stats.refreshesRejected], [1, 1, 2])
  })

  it("without revokeFamilyOnReuse a reused token is refused and its family is left alone", () => {
    const [issued, s1] = login(start())
    const [first, s2] = refresh(s1, issued.refreshToken, t0)
    const [, s3] = refresh(s2, issued.refreshToken, t0)
    assert.strictEqual(s3.stats.familiesRevoked, 0)
    assert.strictEqual(refresh(s3, bodyOf(first).refresh_token, t0)[0].status, 200)
  })

  it("refreshTokenLifetime: a refresh token works until its end, then invalid_grant; a rotated one lives anew", () => {
    const [issued, s1] = login(start({ refreshTokenLifetime: 10_000 }))
    const [first, s2] = refresh(s1, issued.refreshToken, t0 + 9_999)
    assert.strictEqual(first.status, 200)
    assert.strictEqual(refresh(s2, bodyOf(first).refresh_token, t0 + 19_998)[0].status, 200)
    assert.deepStrictEqual(
      summary(refresh(s2, bodyOf(first).refresh_token, t0 + 19_999)[0]),
      invalidGrant("Refresh token expired")
    )
    assert.deepStrictEqual(
      summary(refresh(s1, issued.refreshToken, t0 + 10_000)[0]),
      invalidGrant("Refresh token expired")
    )
  })

  it("revokeRefreshTokens, an unknown token, another client's token, a missing token", () => {
    const [issued, s1] = login(start())
    assert.deepStrictEqual(
      summary(refresh(State.revokeRefreshTokens(s1), issued.refreshToken, t0)[0]),
      invalidGrant("Refresh token revoked")
    )
    assert.deepStrictEqual(summary(refresh(s1, "never-issued", t0)[0]), invalidGrant("Invalid refresh token"))
    const [foreign, s2] = login(s1, t0, publicClient.clientId)
    assert.deepStrictEqual(summary(refresh(s2, foreign.refreshToken, t0)[0]), invalidGrant("Invalid refresh token"))
    const [missing, s3] = refresh(s2, "", t0)
    assert.deepStrictEqual(summary(missing), [
      400,
      { error: "invalid_request", error_description: "refresh_token must be supplied" }
    ])
    assert.strictEqual(s3.stats.refreshesRejected, 1)
  })

  it("a narrower scope is granted; a wider one is invalid_scope", () => {
    const [issued, s1] = login(start())
    const [narrow, s2] = refresh(s1, issued.refreshToken, t0, { scope: "read" })
    assert.strictEqual(bodyOf(narrow).scope, "read")
    // the rotated token carries the narrower scope
    assert.deepStrictEqual(summary(refresh(s2, bodyOf(narrow).refresh_token, t0, { scope: "write" })[0]), [
      400,
      { error: "invalid_scope", error_description: "Invalid scope" }
    ])
    assert.strictEqual(refresh(s1, issued.refreshToken, t0, { scope: "read write admin" })[0].error, "invalid_scope")
  })

  it("answers in the profile's shape: GitHub's 200 errors, Strava's absolute expiry", () => {
    const [issued, s1] = login(start({ profile: Profiles.profiles.github }))
    const [ok, s2] = refresh(s1, issued.refreshToken, t0)
    assert.deepStrictEqual([bodyOf(ok).token_type, bodyOf(ok).refresh_token_expires_in], ["bearer", 15_897_600])
    const [refused, s3] = refresh(s2, issued.refreshToken, t0)
    assert.deepStrictEqual(
      [refused.status, refused.error, bodyOf(refused).error],
      [200, "invalid_grant", "bad_refresh_token"]
    )
    assert.strictEqual(s3.stats.refreshesRejected, 1)
    const [strava, s4] = login(start({ profile: Profiles.profiles.strava }))
    assert.strictEqual(bodyOf(refresh(s4, strava.refreshToken, t0 + 999)[0]).expires_at, t0 / 1000 + 3600)
  })
})

const redirectUri = "http://127.0.0.1:43123/callback"
const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

const authorize = (state: State.State, fields: Record<string, string>, now = t0) =>
  State.authorize(state, form({ response_type: "code", redirect_uri: redirectUri, ...fields }), now)

const locationOf = (answer: State.Answer) => new URL(answer.headers.location!)

const codeOf = (answer: State.Answer) => locationOf(answer).searchParams.get("code")!

const exchange = (
  state: State.State,
  client: FakeAuthorizationServer.Client,
  fields: Record<string, string>,
  now = t0
) =>
  State.exchangeCode(
    state,
    client,
    form({ grant_type: "authorization_code", redirect_uri: redirectUri, ...fields }),
    now
  )

describe("authorize and exchangeCode", () => {
  it("a code is used once, by its client, with its redirect URI; it lives 10 minutes", () => {
    const [redirect, s1] = authorize(start(), { client_id: confidential.clientId, state: "xyz", scope: "read" })
    assert.strictEqual(redirect.status, 302)
    const location = locationOf(redirect)
    assert.deepStrictEqual(
      [`${location.origin}${location.pathname}`, location.searchParams.get("state")],
      [redirectUri, "xyz"]
    )
    const code = codeOf(redirect)
    assert.match(code, /^fake-code-[\w-]{32}$/)
    const refusedCode = [400, { error: "invalid_grant", error_description: "Invalid authorization code" }] as const
    assert.deepStrictEqual(summary(exchange(s1, publicClient, { code })[0]), refusedCode)
    assert.deepStrictEqual(summary(exchange(s1, confidential, { code, redirect_uri: `${redirectUri}/other` })[0]), [
      400,
      { error: "invalid_grant", error_description: "Invalid redirect URI" }
    ])
    assert.deepStrictEqual(summary(exchange(s1, confidential, { code }, t0 + 600_001)[0]), refusedCode)
    const [ok, s2] = exchange(s1, confidential, { code }, t0 + 600_000)
    assert.deepStrictEqual([ok.status, bodyOf(ok).scope], [200, "read"])
    assert.match(bodyOf(ok).refresh_token, /^fake-refresh-/)
    assert.deepStrictEqual(summary(exchange(s2, confidential, { code })[0]), refusedCode)
    assert.deepStrictEqual([s2.stats.codesIssued, s2.stats.codesExchanged], [1, 1])
  })

  it("PKCE: the verifier must hash to the challenge (S256); a wrong one leaves the code usable", () => {
    const challenge = State.challengeOf(verifier)
    const [redirect, s1] = authorize(start(), {
      client_id: publicClient.clientId,
      code_challenge: challenge,
      code_challenge_method: "S256"
    })
    const code = codeOf(redirect)
    const [wrong, s2] = exchange(s1, publicClient, { code, code_verifier: "not-the-verifier" })
    assert.deepStrictEqual(summary(wrong), [
      400,
      { error: "invalid_grant", error_description: "code_verifier was incorrect" }
    ])
    assert.strictEqual(exchange(s2, publicClient, { code })[0].error, "invalid_grant")
    assert.strictEqual(exchange(s2, publicClient, { code, code_verifier: verifier })[0].status, 200)
  })

  it("refusals: unknown client and foreign redirect in plain text, the rest as redirects with an error", () => {
    const state = start()
    const text = (answer: State.Answer) => [answer.status, answer.body]
    assert.deepStrictEqual(text(authorize(state, { client_id: "nobody" })[0]), [400, "INVALID_CLIENT: Invalid client"])
    assert.deepStrictEqual(
      text(authorize(state, { client_id: publicClient.clientId, redirect_uri: "https://evil.example.com/cb" })[0]),
      [400, "INVALID_CLIENT: Invalid redirect URI"]
    )
    const refusal = (fields: Record<string, string>) => {
      const [answer, next] = authorize(state, fields)
      const location = locationOf(answer)
      assert.strictEqual(next.stats.codesIssued, 0)
      return [answer.status, location.searchParams.get("error"), location.searchParams.get("error_description")]
    }
    assert.deepStrictEqual(refusal({ client_id: publicClient.clientId }), [
      302,
      "invalid_request",
      "code_challenge is required for public clients"
    ])
    assert.deepStrictEqual(
      refusal({ client_id: publicClient.clientId, code_challenge: "x", code_challenge_method: "plain" }),
      [302, "invalid_request", "code_challenge_method must be S256"]
    )
    assert.deepStrictEqual(refusal({ client_id: confidential.clientId, response_type: "token" }), [
      302,
      "unsupported_response_type",
      "response_type must be code"
    ])
  })
})

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`

describe("client authentication (tokenRequest)", () => {
  const [issued, state] = login(start())
  const [publicTokens, withPublic] = login(state, t0, publicClient.clientId)
  const grant = { grant_type: "refresh_token", refresh_token: Redacted.value(issued.refreshToken) }
  const call = (authorization: string | undefined, fields: Record<string, string>, from = state) =>
    State.tokenRequest(from, { authorization, form: form(fields) }, t0)
  const who = ([handled]: readonly [State.Handled, State.State]) => [
    handled.answer.status,
    handled.answer.error,
    handled.clientId,
    handled.clientAuth,
    handled.grantType
  ]

  it("basic, post and none", () => {
    assert.deepStrictEqual(who(call(basic(confidential.clientId, confidential.clientSecret!), grant)), [
      200,
      undefined,
      confidential.clientId,
      "basic",
      "refresh_token"
    ])
    assert.deepStrictEqual(
      who(call(undefined, { ...grant, client_id: confidential.clientId, client_secret: confidential.clientSecret! })),
      [200, undefined, confidential.clientId, "post", "refresh_token"]
    )
    assert.deepStrictEqual(
      who(
        call(
          undefined,
          {
            grant_type: "refresh_token",
            refresh_token: Redacted.value(publicTokens.refreshToken),
            client_id: publicClient.clientId
          },
          withPublic
        )
      ),
      [200, undefined, publicClient.clientId, "none", "refresh_token"]
    )
    // Basic credentials are form-encoded (RFC 6749 §2.3.1)
    assert.strictEqual(call(basic("fake%2Dclient-id", "fake-client-secret"), grant)[0].answer.status, 200)
  })

  it("refusals: invalid_client, counted as rejected refreshes, with no client in the record", () => {
    const refused = (authorization: string | undefined, fields: Record<string, string>) => {
      const [handled, next] = call(authorization, fields)
      return [...summary(handled.answer), handled.clientId, next.stats.refreshesRejected]
    }
    const invalid = (description: string) => [400, { error: "invalid_client", error_description: description }]
    assert.deepStrictEqual(refused(basic(confidential.clientId, "nope"), grant), [
      ...invalid("Invalid client secret"),
      undefined,
      1
    ])
    assert.deepStrictEqual(refused(undefined, grant), [...invalid("Invalid client"), undefined, 1])
    assert.deepStrictEqual(refused(undefined, { ...grant, client_id: confidential.clientId }), [
      ...invalid("Invalid client secret"),
      undefined,
      1
    ])
    assert.deepStrictEqual(refused(`Basic ${Buffer.from("no-colon").toString("base64")}`, grant), [
      ...invalid("Invalid client"),
      undefined,
      1
    ])
  })

  it("grant types: missing, unknown, client_credentials for confidential clients only", () => {
    const auth = basic(confidential.clientId, confidential.clientSecret!)
    const [missing] = call(auth, {})
    assert.deepStrictEqual(
      [...summary(missing.answer), missing.grantType],
      [400, { error: "unsupported_grant_type", error_description: "grant_type parameter is missing" }, undefined]
    )
    assert.deepStrictEqual(
      [call(auth, { grant_type: "password" })[0].answer.error, call(auth, { grant_type: "toString" })[0].answer.error],
      ["unsupported_grant_type", "unsupported_grant_type"]
    )
    const [app, next] = call(auth, { grant_type: "client_credentials", scope: "stats" })
    assert.deepStrictEqual(
      [app.answer.status, bodyOf(app.answer).scope, "refresh_token" in bodyOf(app.answer)],
      [200, "stats", false]
    )
    assert.strictEqual(next.stats.clientCredentialsIssued, 1)
    const [refused] = call(undefined, { grant_type: "client_credentials", client_id: publicClient.clientId })
    assert.deepStrictEqual(summary(refused.answer), [
      400,
      { error: "unauthorized_client", error_description: "The client credentials grant needs a confidential client" }
    ])
  })
})

describe("the device flow", () => {
  const startLogin = (state: State.State, now = t0) => {
    const [handled, next] = State.deviceAuthorize(
      state,
      { authorization: undefined, form: form({ client_id: publicClient.clientId, scope: "read" }) },
      now
    )
    return [bodyOf(handled.answer), next, handled] as const
  }
  const poll = (state: State.State, deviceCode: string, now: number) =>
    State.devicePoll(state, publicClient, form({ grant_type: State.deviceCodeGrantType, device_code: deviceCode }), now)
  const errorOf = (result: readonly [State.Answer, State.State]) => result[0].error

  it("deviceAuthorize: a device code, a user code, the page, the interval and the lifetime", () => {
    const [device, , handled] = startLogin(start())
    assert.match(device.device_code, /^fake-device-[\w-]{32}$/)
    assert.match(device.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/)
    assert.deepStrictEqual(
      [device.verification_uri, device.verification_uri_complete, device.interval, device.expires_in],
      ["http://127.0.0.1:1234/device", `http://127.0.0.1:1234/device?user_code=${device.user_code}`, 5, 600]
    )
    assert.deepStrictEqual([handled.clientId, handled.clientAuth], [publicClient.clientId, "none"])
  })

  it("pending, slow_down when polled within the interval, approve, tokens once", () => {
    const [device, s1] = startLogin(start())
    const [pending, s2] = poll(s1, device.device_code, t0)
    assert.deepStrictEqual(summary(pending), [
      400,
      { error: "authorization_pending", error_description: "The user has not approved the request yet" }
    ])
    assert.strictEqual(errorOf(poll(s2, device.device_code, t0 + 4_999)), "slow_down")
    assert.strictEqual(errorOf(poll(s2, device.device_code, t0 + 5_000)), "authorization_pending")
    assert.deepStrictEqual(State.approveDevice(s2, "ZZZZ-ZZZZ", true)[0], false)
    const [approved, s3] = State.approveDevice(s2, device.user_code, true)
    assert.isTrue(approved)
    // approving twice finds nothing pending
    assert.isFalse(State.approveDevice(s3, device.user_code, true)[0])
    const [tokens, s4] = poll(s3, device.device_code, t0 + 1)
    assert.deepStrictEqual([tokens.status, bodyOf(tokens).scope], [200, "read"])
    assert.match(bodyOf(tokens).refresh_token, /^fake-refresh-/)
    assert.deepStrictEqual(summary(poll(s4, device.device_code, t0 + 10_000)[0]), [
      400,
      { error: "invalid_grant", error_description: "Invalid device code" }
    ])
  })

  it("denied, then expired; another client's or an unknown device code is invalid_grant", () => {
    const [device, s1] = startLogin(start())
    const [, denied] = State.approveDevice(s1, device.user_code, false)
    assert.strictEqual(errorOf(poll(denied, device.device_code, t0 + 10_000)), "access_denied")
    assert.deepStrictEqual(summary(poll(s1, device.device_code, t0 + 600_000)[0]), [
      400,
      { error: "expired_token", error_description: "The device code expired" }
    ])
    assert.strictEqual(errorOf(poll(s1, device.device_code, t0 + 599_999)), "authorization_pending")
    assert.strictEqual(errorOf(poll(s1, "fake-device-unknown", t0)), "invalid_grant")
    const [foreign] = State.devicePoll(
      s1,
      confidential,
      form({ grant_type: State.deviceCodeGrantType, device_code: device.device_code }),
      t0
    )
    assert.strictEqual(foreign.error, "invalid_grant")
  })
})

describe("revoke", () => {
  const auth = basic(confidential.clientId, confidential.clientSecret!)
  const revoke = (state: State.State, fields: Record<string, string>) =>
    State.revoke(state, { authorization: auth, form: form(fields) })

  it("a refresh token ends its grant (refresh and access tokens); an access token only itself", () => {
    const [issued, s1] = login(start())
    const [other, s2] = login(s1)
    const [handled, s3] = revoke(s2, { token: Redacted.value(issued.refreshToken), token_type_hint: "refresh_token" })
    assert.deepStrictEqual([handled.answer.status, handled.answer.body, handled.clientAuth], [200, "", "basic"])
    assert.strictEqual(s3.stats.tokensRevoked, 1)
    assert.strictEqual(refresh(s3, issued.refreshToken, t0)[0].error, "invalid_grant")
    assert.strictEqual(me(s3, issued.accessToken, t0)[0].status, 401)
    assert.strictEqual(me(s3, other.accessToken, t0)[0].status, 200)
    const [, s4] = revoke(s3, { token: Redacted.value(other.accessToken) })
    assert.strictEqual(me(s4, other.accessToken, t0)[0].status, 401)
    assert.strictEqual(refresh(s4, other.refreshToken, t0)[0].status, 200)
    assert.strictEqual(s4.stats.tokensRevoked, 2)
  })

  it("an unknown token is 200 too and revokes nothing; a missing token or a bad hint is an error", () => {
    const [, s1] = login(start())
    const [unknown, s2] = revoke(s1, { token: "never-issued" })
    assert.deepStrictEqual([unknown.answer.status, s2.stats.tokensRevoked], [200, 0])
    assert.strictEqual(revoke(s1, {})[0].answer.error, "invalid_request")
    assert.strictEqual(
      revoke(s1, { token: "x", token_type_hint: "id_token" })[0].answer.error,
      "unsupported_token_type"
    )
  })
})

describe("faults and the record", () => {
  it("scripted faults come first, in order; then the rate's dice: roll under the rate, pick one of the list", () => {
    const scripted = State.inject(start(), [FakeAuthorizationServer.drop, FakeAuthorizationServer.status(503)])
    const [first, s1] = State.takeFault(scripted, 0.99, 0)
    const [second, s2] = State.takeFault(s1, 0.99, 0)
    const [none, s3] = State.takeFault(s2, 0, 0)
    assert.deepStrictEqual(
      [first, second, none],
      [FakeAuthorizationServer.drop, FakeAuthorizationServer.status(503), undefined]
    )
    assert.strictEqual(s3.stats.faultsInjected, 2)

    const rated = State.configure(start(), {
      faultRate: 0.25,
      rateFaults: [FakeAuthorizationServer.drop, FakeAuthorizationServer.hang]
    })
    assert.deepStrictEqual(State.takeFault(rated, 0.24, 0.5)[0], FakeAuthorizationServer.hang)
    assert.deepStrictEqual(State.takeFault(rated, 0.24, 0.49)[0], FakeAuthorizationServer.drop)
    assert.deepStrictEqual(State.takeFault(rated, 0.25, 0)[0], undefined)
    assert.strictEqual(State.takeFault(rated, 0.24, 0)[1].stats.faultsInjected, 1)
  })

  it("a request is counted when it arrives and recorded with its outcome, without any token", () => {
    const [issued, s1] = login(start())
    const arrived = State.arrive(s1)
    const [handled, s2] = State.tokenRequest(
      arrived,
      {
        authorization: basic(confidential.clientId, confidential.clientSecret!),
        form: form({ grant_type: "refresh_token", refresh_token: Redacted.value(issued.refreshToken) })
      },
      t0
    )
    const recorded = State.record(s2, { method: "POST", path: "/api/token", at: t0 }, State.outcomeOf(handled))
    assert.deepStrictEqual(Chunk.toArray(recorded.recorded), [
      {
        method: "POST",
        path: "/api/token",
        grantType: "refresh_token",
        clientId: confidential.clientId,
        clientAuth: "basic",
        status: 200,
        error: undefined,
        fault: undefined,
        at: t0
      }
    ])
    assert.strictEqual(recorded.stats.requests, 1)
  })

  it("the discovery document names the server's endpoints, unless one was set", () => {
    const document = bodyOf(State.discoveryDocument(start()))
    assert.deepStrictEqual(
      [document.issuer, document.token_endpoint, document.device_authorization_endpoint],
      ["http://127.0.0.1:1234", "http://127.0.0.1:1234/api/token", "http://127.0.0.1:1234/device/code"]
    )
    assert.deepStrictEqual(
      bodyOf(State.discoveryDocument(State.configure(start(), { discoveryDocument: Option.some({ issuer: "x" }) }))),
      { issuer: "x" }
    )
  })
})
