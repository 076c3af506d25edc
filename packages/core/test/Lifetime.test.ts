import { assert, describe, it } from "@effect/vitest"
import {
  Errors,
  Provider,
  TokenManager,
  TokenRefresher,
  TokenSessions,
  TokenSet,
  TokenStore
} from "@token-refresher/core"
import { MockTokenEndpoint, TestStack } from "@token-refresher/testing"
import { DateTime, Duration, Effect, Encoding, Layer, Logger, Option, Redacted, TestClock } from "effect"
import {
  assertError,
  clientId,
  clientSecret,
  refresherWith,
  requestCount,
  requests,
  storedTokens,
  tokenUrl
} from "./utils.js"

const spotifyLike = Provider.make({
  name: "spotify-like",
  tokenUrl,
  rotatesRefreshTokens: true,
  refreshTokenLifetime: { from: "authorization", length: { months: 6 } }
})

const slidingLike = Provider.make({
  name: "sliding-like",
  tokenUrl,
  rotatesRefreshTokens: true,
  refreshTokenLifetime: { from: "issue", length: { days: 90 } }
})

const day = 86_400_000

const login = (authorizedAt: number, refreshTokenExpiresAt?: number) =>
  TokenSet.make({
    accessToken: "login-access",
    refreshToken: "login-refresh",
    expiresAt: authorizedAt + 3_600_000,
    issuedAt: authorizedAt,
    authorizedAt,
    refreshTokenExpiresAt
  })

const managerWith = (
  replies: Iterable<MockTokenEndpoint.Reply>,
  tokens: TokenSet.TokenSet,
  refresher: Partial<TokenRefresher.Options> = {},
  options?: TokenManager.Options
) =>
  TestStack.manager(replies, tokens, {
    refresher: { tokenUrl, clientId, clientSecret, ...refresher },
    manager: options
  })

const refreshNow = Effect.flatMap(TokenManager.TokenManager, (manager) => manager.refreshNow)
const accessToken = Effect.flatMap(TokenManager.TokenManager, (manager) => manager.accessToken)

/** The warnings logged while `effect` runs. */
const warningsOf = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const warnings: Array<{ readonly message: unknown; readonly annotations: Record<string, unknown> }> = []
    const logger = Logger.make(({ annotations, logLevel, message }) => {
      if (logLevel._tag === "Warning") {
        warnings.push({ message, annotations: Object.fromEntries(annotations) })
      }
    })
    yield* effect.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    return warnings
  })

describe("refresh-token lifetime", () => {
  it.effect("authorizedAt survives refreshes and rotations", () =>
    Effect.gen(function* () {
      yield* TestClock.adjust("2 hours")
      const first = yield* refreshNow
      yield* TestClock.adjust("2 hours")
      const second = yield* refreshNow
      assert.deepStrictEqual(
        Option.getOrUndefined(Option.map(first.refreshToken, Redacted.value)),
        "mock-refresh-token-1"
      )
      assert.deepStrictEqual(
        Option.getOrUndefined(Option.map(second.refreshToken, Redacted.value)),
        "mock-refresh-token-2"
      )
      assert.deepStrictEqual(Option.getOrUndefined(second.authorizedAt), DateTime.unsafeMake(0))
      assert.strictEqual(second.issuedAt.epochMillis, 4 * 3_600_000)
      const stored = yield* storedTokens()
      assert.deepStrictEqual(Option.getOrUndefined(stored.authorizedAt), DateTime.unsafeMake(0))
      // the request sent the newest refresh token each time
      assert.deepStrictEqual(
        (yield* requests).map((request) => request.form.refresh_token),
        ["login-refresh", "mock-refresh-token-1"]
      )
    }).pipe(
      Effect.provide(
        managerWith([MockTokenEndpoint.ok({ rotate: true }), MockTokenEndpoint.ok({ rotate: true })], login(0))
      )
    )
  )

  it.effect("refresh_token_expires_in is honoured (GitHub): the end is counted from when the request was sent", () =>
    Effect.gen(function* () {
      yield* TestClock.adjust("10 seconds")
      const tokens = yield* TokenRefresher.refresh(Redacted.make("r"))
      assert.deepStrictEqual(
        Option.getOrUndefined(tokens.refreshTokenExpiresAt),
        DateTime.unsafeMake(10_000 + 15_897_600_000)
      )
      assert.deepStrictEqual(
        Option.map(tokens.refreshTokenExpiresIn(DateTime.unsafeMake(20_000)), Duration.toMillis),
        Option.some(15_897_600_000 - 10_000)
      )
    }).pipe(
      Effect.provide(
        refresherWith([
          MockTokenEndpoint.json({
            access_token: "a",
            token_type: "bearer",
            expires_in: 28_800,
            refresh_token: "r2",
            refresh_token_expires_in: 15_897_600
          })
        ])
      )
    )
  )

  it.effect(
    "a lifetime from authorization (Spotify's six months) ends at authorizedAt + 6 months, whatever the refreshes",
    () =>
      Effect.gen(function* () {
        yield* TestClock.adjust(`${30 * day} millis`)
        const refreshed = yield* refreshNow
        const end = DateTime.add(DateTime.unsafeMake(0), { months: 6 })
        assert.deepStrictEqual(Option.getOrUndefined(refreshed.refreshTokenExpiresAt), end)
      }).pipe(
        Effect.provide(managerWith([MockTokenEndpoint.ok({ rotate: true })], login(0), { provider: spotifyLike }))
      )
  )

  it.effect("a sliding lifetime (Microsoft's 90 days from issue) restarts with each new refresh token", () =>
    Effect.gen(function* () {
      yield* TestClock.adjust(`${30 * day} millis`)
      const refreshed = yield* refreshNow
      assert.deepStrictEqual(Option.getOrUndefined(refreshed.refreshTokenExpiresAt), DateTime.unsafeMake(120 * day))
    }).pipe(
      Effect.provide(
        managerWith([MockTokenEndpoint.ok({ rotate: true })], login(0, 90 * day), { provider: slidingLike })
      )
    )
  )

  it.effect("a refresh that keeps the refresh token keeps its end", () =>
    Effect.gen(function* () {
      const refreshed = yield* refreshNow
      assert.deepStrictEqual(Option.getOrUndefined(refreshed.refreshTokenExpiresAt), DateTime.unsafeMake(50 * day))
    }).pipe(Effect.provide(managerWith([MockTokenEndpoint.ok()], login(0, 50 * day), { provider: slidingLike })))
  )

  it.effect("the manager warns once per session when the end is less than 7 days away (TestClock)", () =>
    Effect.gen(function* () {
      const warnings = yield* warningsOf(
        Effect.gen(function* () {
          // 8 days left: no warning
          yield* accessToken
          yield* TestClock.adjust(`${1.5 * day} millis`) // 6.5 days left, and the access token has expired
          yield* accessToken
          yield* TestClock.adjust("2 hours")
          yield* accessToken
          yield* refreshNow
        })
      )
      assert.strictEqual(yield* requestCount, 3)
      assert.strictEqual(warnings.length, 1)
      assert.deepStrictEqual(warnings[0]!.message, [
        "the refresh token reaches its end of life soon: the user must log in again before then"
      ])
      assert.strictEqual(warnings[0]!.annotations["key"], "default")
      assert.strictEqual(
        warnings[0]!.annotations["refreshTokenExpiresAt"],
        DateTime.formatIso(DateTime.unsafeMake(8 * day))
      )
    }).pipe(
      Effect.provide(
        managerWith(
          [MockTokenEndpoint.ok(), MockTokenEndpoint.ok(), MockTokenEndpoint.ok()],
          TokenSet.make({
            accessToken: "a",
            refreshToken: "r",
            expiresAt: 3_600_000,
            issuedAt: 0,
            authorizedAt: 0,
            refreshTokenExpiresAt: 8 * day
          })
        )
      )
    )
  )

  it.effect("the warning window is configurable", () =>
    Effect.gen(function* () {
      const warnings = yield* warningsOf(accessToken)
      assert.strictEqual(warnings.length, 0)
    }).pipe(Effect.provide(managerWith([], login(0, 2 * day), {}, { refreshTokenWarning: "1 day" })))
  )

  it.effect("an invalid_grant after the end says that the refresh token reached its end of life", () =>
    Effect.gen(function* () {
      yield* TestClock.adjust(`${10 * day} millis`)
      const error = yield* Effect.flip(refreshNow)
      assertError(
        error,
        new Errors.InvalidGrant({
          status: 400,
          description: "Refresh token expired",
          refreshTokenExpiredAt: DateTime.unsafeMake(7 * day)
        })
      )
      assert.match(error.message, /reached its end of life on 1970-01-08T00:00:00.000Z/)
    }).pipe(Effect.provide(managerWith([MockTokenEndpoint.invalidGrant("Refresh token expired")], login(0, 7 * day))))
  )
})

describe("revocation (RFC 7009)", () => {
  const revocationUrl = "https://accounts.example.com/oauth/revoke"

  it.effect(
    "revoke sends token and token_type_hint to the revocation endpoint, authenticated as the token requests",
    () =>
      Effect.gen(function* () {
        yield* TokenRefresher.revoke(Redacted.make("refresh-1"), { hint: "refresh_token" })
        const [request] = yield* requests
        assert.strictEqual(request!.method, "POST")
        assert.strictEqual(request!.url, revocationUrl)
        assert.deepStrictEqual(request!.form, { token: "refresh-1", token_type_hint: "refresh_token" })
        assert.strictEqual(
          request!.headers["authorization"],
          `Basic ${Encoding.encodeBase64("client-id:client-secret")}`
        )
      }).pipe(Effect.provide(refresherWith([MockTokenEndpoint.text("", { status: 200 })], { revocationUrl })))
  )

  it.effect("503 with Retry-After is retried; unsupported_token_type is an OAuthError", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(Effect.flip(TokenRefresher.revoke(Redacted.make("t"))))
      yield* TestClock.adjust("2 seconds")
      const error = yield* fiber.await.pipe(Effect.flatten)
      assertError(error, new Errors.OAuthError({ status: 400, error: "unsupported_token_type", description: "no" }))
      assert.strictEqual(yield* requestCount, 2)
    }).pipe(
      Effect.provide(
        refresherWith(
          [
            MockTokenEndpoint.text("", { status: 503, headers: { "retry-after": "1" } }),
            MockTokenEndpoint.json({ error: "unsupported_token_type", error_description: "no" }, { status: 400 })
          ],
          { revocationUrl }
        )
      )
    )
  )

  it.effect("without a revocation endpoint: RevocationUnsupported, and nothing is sent", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(TokenRefresher.revoke(Redacted.make("t")))
      assertError(error, new Errors.RevocationUnsupported({ provider: "accounts.spotify.com" }))
      assert.strictEqual(yield* requestCount, 0)
    }).pipe(Effect.provide(refresherWith([])))
  )

  const sessions = (replies: Iterable<MockTokenEndpoint.Reply>, options: Partial<TokenRefresher.Options>) =>
    TokenSessions.layer().pipe(
      Layer.provideMerge(TokenStore.layerMemory([["alice", login(0)]])),
      Layer.provideMerge(TokenRefresher.layer({ tokenUrl, clientId, clientSecret, ...options })),
      Layer.provideMerge(MockTokenEndpoint.layer(replies)),
      Layer.orDie
    )

  it.effect("TokenSessions.remove(key, { revoke: true }) revokes the refresh token, then forgets the session", () =>
    Effect.gen(function* () {
      const service = yield* TokenSessions.TokenSessions
      yield* service.remove("alice", { revoke: true })
      const [request] = yield* requests
      assert.deepStrictEqual(request!.form, { token: "login-refresh", token_type_hint: "refresh_token" })
      assert.isTrue(Option.isNone(yield* TokenStore.get("alice")))
      assertError(yield* Effect.flip(service.accessToken("alice")), new Errors.NoToken({}))
    }).pipe(Effect.provide(sessions([MockTokenEndpoint.text("", { status: 200 })], { revocationUrl })))
  )

  it.effect("a failed revocation keeps the session, so the logout can be tried again", () =>
    Effect.gen(function* () {
      const service = yield* TokenSessions.TokenSessions
      const error = yield* Effect.flip(service.remove("alice", { revoke: true }))
      assertError(error, new Errors.InvalidClient({ status: 401 }))
      assert.isTrue(Option.isSome(yield* TokenStore.get("alice")))
    }).pipe(Effect.provide(sessions([MockTokenEndpoint.text("", { status: 401 })], { revocationUrl })))
  )

  it.effect("without a revocation endpoint, remove(key, { revoke: true }) forgets the session and sends nothing", () =>
    Effect.gen(function* () {
      const service = yield* TokenSessions.TokenSessions
      yield* service.remove("alice", { revoke: true })
      assert.strictEqual(yield* requestCount, 0)
      assert.isTrue(Option.isNone(yield* TokenStore.get("alice")))
    }).pipe(Effect.provide(sessions([], {})))
  )
})
