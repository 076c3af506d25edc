import { assert, describe, it } from "@effect/vitest"
import { Errors, Provider, TokenRefresher } from "@token-refresher/core"
import { MockTokenEndpoint } from "@token-refresher/testing"
import { Duration, Effect, Exit, Fiber, Option, Redacted, TestClock } from "effect"
import { assertError, clientId, refresherWith, requests } from "./utils.js"

const provider = Provider.make({
  name: "example",
  tokenUrl: "https://auth.example.com/token",
  deviceAuthorizationUrl: "https://auth.example.com/device/code"
})

const deviceAnswer = (fields?: Record<string, unknown>) =>
  MockTokenEndpoint.json({
    device_code: "the-device-code",
    user_code: "WDJB-MJHT",
    verification_uri: "https://auth.example.com/device",
    verification_uri_complete: "https://auth.example.com/device?user_code=WDJB-MJHT",
    expires_in: 60,
    interval: 5,
    ...fields
  })

const refused = (error: string) => MockTokenEndpoint.json({ error }, { status: 400 })

const stack = (...replies: ReadonlyArray<MockTokenEndpoint.Reply>) =>
  refresherWith(replies, { provider, tokenUrl: undefined, clientSecret: undefined })

/** The device login, then its poll in a fiber while the test clock moves `seconds`, one second at a time. */
const pollFor = (seconds: number) =>
  Effect.gen(function* () {
    const authorization = yield* TokenRefresher.deviceAuthorization({ scope: ["read"] })
    const fiber = yield* Effect.fork(TokenRefresher.pollDeviceToken(authorization))
    for (let second = 0; second < seconds; second++) yield* TestClock.adjust("1 second")
    return { authorization, exit: yield* Fiber.await(fiber) }
  })

/** The typed failure of an exit (the test fails if it succeeded). */
const failureOf = <A, E extends { readonly _tag: string; readonly message: string }>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit) || exit.cause._tag !== "Fail") throw new Error(`expected a failure, got ${String(exit)}`)
  return exit.cause.error
}

/** When each request arrived, in seconds of the test clock, and its grant. */
const timeline = Effect.map(requests, (all) =>
  all.map((request) => [request.at / 1000, request.form.grant_type ?? request.url] as const)
)

describe("the device flow (RFC 8628)", () => {
  it.effect(
    "deviceAuthorization sends the client and scope; polls wait interval, +5 s after slow_down, and return the tokens",
    () =>
      Effect.gen(function* () {
        const { authorization, exit } = yield* pollFor(60)
        assert.deepStrictEqual(
          {
            ...authorization,
            deviceCode: Redacted.value(authorization.deviceCode),
            expiresIn: Duration.toSeconds(authorization.expiresIn),
            interval: Duration.toSeconds(authorization.interval),
            expiresAt: authorization.expiresAt.epochMillis
          },
          {
            deviceCode: "the-device-code",
            userCode: "WDJB-MJHT",
            verificationUri: "https://auth.example.com/device",
            verificationUriComplete: Option.some("https://auth.example.com/device?user_code=WDJB-MJHT"),
            expiresIn: 60,
            interval: 5,
            expiresAt: 60_000,
            dpopKey: Option.none()
          }
        )
        assert.isTrue(Exit.isSuccess(exit))
        assert.strictEqual(
          Redacted.value(Exit.isSuccess(exit) ? exit.value.accessToken : Redacted.make("")),
          "mock-access-token-5"
        )
        const [start, ...polls] = yield* requests
        assert.deepStrictEqual(
          [start!.url, start!.form],
          ["https://auth.example.com/device/code", { scope: "read", client_id: clientId }]
        )
        assert.deepStrictEqual(polls[0]!.form, {
          grant_type: "urn:ietf:params:oauth:grant-type:device_code",
          device_code: "the-device-code",
          client_id: clientId
        })
        // pending at 5 s, slow_down at 10 s (the interval becomes 10 s), pending at 20 s, tokens at 30 s
        assert.deepStrictEqual(yield* timeline, [
          [0, "https://auth.example.com/device/code"],
          [5, "urn:ietf:params:oauth:grant-type:device_code"],
          [10, "urn:ietf:params:oauth:grant-type:device_code"],
          [20, "urn:ietf:params:oauth:grant-type:device_code"],
          [30, "urn:ietf:params:oauth:grant-type:device_code"]
        ])
      }).pipe(
        Effect.provide(
          stack(
            deviceAnswer(),
            refused("authorization_pending"),
            refused("slow_down"),
            refused("authorization_pending"),
            MockTokenEndpoint.ok({ rotate: true })
          )
        )
      )
  )

  it.effect("access_denied is Denied, expired_token is Expired, each with the server's description", () =>
    Effect.gen(function* () {
      const denied = yield* pollFor(10)
      assertError(
        failureOf(denied.exit),
        new Errors.DeviceAuthorizationError({ reason: "Denied", provider: "example", description: "said no" })
      )
      const expired = yield* pollFor(10)
      assertError(
        failureOf(expired.exit),
        new Errors.DeviceAuthorizationError({ reason: "Expired", provider: "example" })
      )
    }).pipe(
      Effect.provide(
        stack(
          deviceAnswer(),
          MockTokenEndpoint.json({ error: "access_denied", error_description: "said no" }, { status: 400 }),
          deviceAnswer(),
          refused("expired_token")
        )
      )
    )
  )

  it.effect("the end of expires_in is Expired: the last poll is before it, and nothing is sent after", () =>
    Effect.gen(function* () {
      const { exit } = yield* pollFor(40)
      assertError(failureOf(exit), new Errors.DeviceAuthorizationError({ reason: "Expired", provider: "example" }))
      assert.deepStrictEqual(
        (yield* timeline).map(([at]) => at),
        [0, 5, 10, 15, 20, 25]
      )
    }).pipe(
      Effect.provide(
        stack(deviceAnswer({ expires_in: 30 }), ...Array.from({ length: 10 }, () => refused("authorization_pending")))
      )
    )
  )

  it.effect("GitHub answers its errors with 200: its preset's normalize makes them the same errors", () =>
    Effect.gen(function* () {
      const { exit } = yield* pollFor(20)
      assert.isTrue(Exit.isSuccess(exit))
      assert.deepStrictEqual(
        (yield* timeline).map(([at]) => at),
        [0, 5, 15]
      )
    }).pipe(
      Effect.provide(
        refresherWith(
          [
            deviceAnswer({ interval: undefined }),
            MockTokenEndpoint.json({ error: "slow_down" }),
            MockTokenEndpoint.ok()
          ],
          {
            provider: Provider.make({
              name: "example",
              tokenUrl: "https://auth.example.com/token",
              deviceAuthorizationUrl: "https://auth.example.com/device/code",
              normalize: (raw) =>
                raw.status === 200 && typeof (raw.body as { error?: unknown }).error === "string"
                  ? { ...raw, status: 400 }
                  : raw
            }),
            tokenUrl: undefined,
            clientSecret: undefined
          }
        )
      )
    )
  )

  it.effect(
    "Google's verification_url is read as verification_uri; a bad answer is a DecodeError naming paths only",
    () =>
      Effect.gen(function* () {
        const google = yield* TokenRefresher.deviceAuthorization()
        assert.strictEqual(google.verificationUri, "https://www.google.com/device")
        assert.isTrue(Option.isNone(google.verificationUriComplete))
        const bad = yield* Effect.flip(TokenRefresher.deviceAuthorization())
        assertError(
          bad as Errors.DecodeError,
          new Errors.DecodeError({
            status: 200,
            reason: "Schema",
            detail: "expires_in is invalid; interval is invalid"
          })
        )
        assert.notInclude(bad.message, "secret-device-code")
      }).pipe(
        Effect.provide(
          stack(
            deviceAnswer({
              verification_uri: undefined,
              verification_uri_complete: undefined,
              verification_url: "https://www.google.com/device"
            }),
            deviceAnswer({ device_code: "secret-device-code", expires_in: 10 ** 9, interval: 0 })
          )
        )
      )
  )

  it.effect("a provider without a device endpoint: Unsupported, and nothing is sent", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(TokenRefresher.deviceAuthorization())
      assertError(
        error as Errors.DeviceAuthorizationError,
        new Errors.DeviceAuthorizationError({ reason: "Unsupported", provider: "auth.example.com" })
      )
      assert.deepStrictEqual(yield* requests, [])
    }).pipe(Effect.provide(refresherWith([], { tokenUrl: "https://auth.example.com/token" })))
  )
})
