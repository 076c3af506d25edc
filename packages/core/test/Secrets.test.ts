import { assert, describe, it } from "@effect/vitest"
import { TokenRefresher, TokenSet } from "@token-refresher/core"
import { MockTokenEndpoint } from "@token-refresher/testing"
import {
  Cause,
  Effect,
  Exit,
  Fiber,
  Inspectable,
  Layer,
  Logger,
  LogLevel,
  Redacted,
  Schema,
  TestClock,
  Option,
  DateTime
} from "effect"
import { recordingTracer } from "./utils.js"

const SECRET = "SENTINEL-CLIENT-SECRET-7f3a"
const REFRESH = "SENTINEL-REFRESH-TOKEN-91c2"
const ACCESS = "SENTINEL-ACCESS-TOKEN-44be"
const ROTATED = "SENTINEL-ROTATED-TOKEN-0d18"
const BASIC = Buffer.from(`client-id:${SECRET}`).toString("base64")
const sentinels = [SECRET, REFRESH, ACCESS, ROTATED, BASIC]

const assertClean = (label: string, text: string) => {
  for (const sentinel of sentinels) {
    assert.isFalse(text.includes(sentinel), `${label} leaks ${sentinel}: ${text}`)
  }
}

/** Runs one refresh against `reply` with every log line and span recorded, and checks that nothing leaks. */
const runAndInspect = (replies: ReadonlyArray<MockTokenEndpoint.Reply>) =>
  Effect.gen(function* () {
    const logs: Array<string> = []
    const logger = Logger.make(({ annotations, cause, logLevel, message }) => {
      logs.push(
        `${logLevel.label} ${Inspectable.toStringUnknown(message)} ${Inspectable.toStringUnknown(annotations)} ${Cause.pretty(
          cause
        )}`
      )
    })
    const { spans, tracer } = yield* recordingTracer
    const layer = TokenRefresher.layer({
      tokenUrl: "https://accounts.spotify.com/api/token",
      clientId: "client-id",
      clientSecret: Redacted.make(SECRET)
    }).pipe(Layer.provide(MockTokenEndpoint.layer(replies)))
    const fiber = yield* TokenRefresher.refresh(Redacted.make(REFRESH)).pipe(
      Effect.provide(layer),
      Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
      Logger.withMinimumLogLevel(LogLevel.All),
      Effect.withTracer(tracer),
      Effect.exit,
      Effect.fork
    )
    yield* TestClock.adjust("5 minutes")
    const exit = yield* Fiber.join(fiber)

    assert.isAbove(logs.length, 0, "the refresh logs at debug level")
    assertClean("logs", logs.join("\n"))
    assert.isTrue(spans.some((span) => span.name === "TokenRefresher.refresh"))
    for (const span of spans) {
      assertClean(`span ${span.name}`, JSON.stringify(Object.fromEntries(span.attributes)))
    }
    if (Exit.isFailure(exit)) {
      const error = Cause.squash(exit.cause) as Error
      assertClean("message", error.message)
      assertClean("String()", String(error))
      assertClean("JSON.stringify", JSON.stringify(error))
      assertClean("Cause.pretty", Cause.pretty(exit.cause))
      assertClean("inspect", Inspectable.toStringUnknown(error))
    } else {
      const tokens = exit.value
      assertClean("String(tokens)", String(tokens))
      assertClean("JSON.stringify(tokens)", JSON.stringify(tokens))
      assertClean("inspect tokens", Inspectable.toStringUnknown(tokens))
      assert.strictEqual(Redacted.value(tokens.accessToken), ACCESS, "the value is still there for who asks for it")
    }
    return exit
  })

describe("secrets never leak through messages, logs, spans, JSON.stringify or String()", () => {
  const cases: ReadonlyArray<readonly [string, ReadonlyArray<MockTokenEndpoint.Reply>, string]> = [
    [
      "success with rotation",
      [MockTokenEndpoint.ok({ accessToken: ACCESS, rotate: true, refreshToken: ROTATED })],
      "Success"
    ],
    ["InvalidGrant", [MockTokenEndpoint.invalidGrant()], "InvalidGrant"],
    ["InvalidClient", [MockTokenEndpoint.invalidClient()], "InvalidClient"],
    ["OAuthError", [MockTokenEndpoint.json({ error: "invalid_request" }, { status: 400 })], "OAuthError"],
    ["NetworkError Status", Array.from({ length: 4 }, () => MockTokenEndpoint.serverError(503)), "NetworkError"],
    ["NetworkError Transport", Array.from({ length: 4 }, () => MockTokenEndpoint.transportError()), "NetworkError"],
    ["NetworkError Timeout", Array.from({ length: 4 }, () => MockTokenEndpoint.hang), "NetworkError"],
    ["NetworkError Retry-After", [MockTokenEndpoint.rateLimited(3600)], "NetworkError"],
    [
      "DecodeError: tokens in a body of the wrong shape",
      [
        MockTokenEndpoint.json({
          access_token: ACCESS,
          refresh_token: { nested: ROTATED },
          token_type: "mac",
          expires_in: ACCESS
        })
      ],
      "DecodeError"
    ],
    ["DecodeError: a token where an object should be", [MockTokenEndpoint.json(ACCESS)], "DecodeError"],
    [
      "DecodeError: not JSON",
      [MockTokenEndpoint.text(`access_token=${ACCESS}&refresh_token=${ROTATED}`)],
      "DecodeError"
    ],
    ["DecodeError: HTML error page", [MockTokenEndpoint.text(`<p>${ACCESS}</p>`, { status: 403 })], "DecodeError"]
  ]
  for (const [name, replies, outcome] of cases) {
    it.effect(name, () =>
      Effect.gen(function* () {
        const exit = yield* runAndInspect(replies)
        assert.strictEqual(
          Exit.isSuccess(exit) ? "Success" : (Cause.squash(exit.cause) as { _tag: string })._tag,
          outcome
        )
      })
    )
  }

  it("a TokenSet prints and serialises without its tokens, and its encoded form is plain JSON", () => {
    const tokens = new TokenSet.TokenSet({
      accessToken: Redacted.make(ACCESS),
      refreshToken: Option.some(Redacted.make(REFRESH)),
      tokenType: "Bearer",
      expiresAt: DateTime.unsafeMake(0),
      scope: ["a", "b"],
      issuedAt: DateTime.unsafeMake(0)
    })
    assertClean("String", String(tokens))
    assertClean("JSON.stringify", JSON.stringify(tokens))
    assert.deepStrictEqual(Schema.encodeSync(TokenSet.TokenSet)(tokens), {
      accessToken: ACCESS,
      refreshToken: REFRESH,
      tokenType: "Bearer",
      expiresAt: "1970-01-01T00:00:00.000Z",
      scope: ["a", "b"],
      issuedAt: "1970-01-01T00:00:00.000Z"
    })
    const json = Schema.encodeSync(TokenSet.TokenSetFromJson)(tokens)
    const back = Schema.decodeSync(TokenSet.TokenSetFromJson)(json)
    assert.strictEqual(Redacted.value(Option.getOrThrow(back.refreshToken)), REFRESH)
  })
})
