import { assert, describe, it } from "@effect/vitest"
import { Errors, Session, TokenManager, TokenRefresher, TokenStore } from "@token-refresher/core"
import { NodeTokenRefresher } from "@token-refresher/node"
import { MockTokenEndpoint } from "@token-refresher/testing"
import { FakeAuthorizationServer } from "@token-refresher/testing/node"
import { Cause, Context, Duration, Effect, Exit, Layer, Option, Random, Redacted } from "effect"
import * as fc from "fast-check"

const client = FakeAuthorizationServer.confidentialClient

/** The fake server, and the real Node layers (NodeTokenClient over undici) pointed at it. */
const setup = (options?: Partial<TokenRefresher.Options>, server?: FakeAuthorizationServer.Options) =>
  Effect.gen(function* () {
    const fake = yield* FakeAuthorizationServer.make({ rotate: false, ...server })
    const refresher = yield* Layer.build(
      NodeTokenRefresher.layer({
        tokenUrl: fake.tokenUrl,
        clientId: client.clientId,
        clientSecret: Redacted.make(client.clientSecret!),
        retry: { baseDelay: "20 millis", maxDelay: "100 millis" },
        ...options
      })
    ).pipe(Effect.map(Context.get(TokenRefresher.TokenRefresher)), Effect.orDie)
    const { refreshToken } = yield* fake.issueTokens()
    return { fake, refresher, refresh: refresher.refresh(refreshToken) }
  })

const statuses = (fake: FakeAuthorizationServer.Service) =>
  Effect.map(fake.requests, (requests) => requests.map((r) => r.status))

const networkError = (error: unknown) => {
  const e = error as Errors.NetworkError
  return { tag: e._tag, reason: e.reason, status: e.status, attempts: e.attempts }
}

describe("fault suite: the real Node layers against the fake server", () => {
  for (const status of [500, 502, 503, 504, 408]) {
    it.live(`${status}, then 200: one retry, and the tokens`, () =>
      Effect.gen(function* () {
        const { fake, refresh } = yield* setup()
        yield* fake.inject(FakeAuthorizationServer.status(status))
        const tokens = yield* refresh
        assert.match(Redacted.value(tokens.accessToken), /^fake-access-/)
        assert.deepStrictEqual(yield* statuses(fake), [status, 200])
      }).pipe(Effect.scoped)
    )
  }

  it.live("every attempt fails (503 × 4): NetworkError Status 503 after 4 attempts", () =>
    Effect.gen(function* () {
      const { fake, refresh } = yield* setup()
      yield* fake.inject(...Array.from({ length: 4 }, () => FakeAuthorizationServer.status(503)))
      const error = yield* Effect.flip(refresh)
      assert.deepStrictEqual(networkError(error), { tag: "NetworkError", reason: "Status", status: 503, attempts: 4 })
      assert.deepStrictEqual(yield* statuses(fake), [503, 503, 503, 503])
    }).pipe(Effect.scoped)
  )

  it.live("429 with Retry-After: 1 (seconds): waited for, then 200", () =>
    Effect.gen(function* () {
      const { fake, refresh } = yield* setup()
      yield* fake.inject(FakeAuthorizationServer.rateLimited(1))
      yield* refresh
      const [first, second] = yield* fake.requests
      assert.deepStrictEqual([first!.status, second!.status], [429, 200])
      assert.isAtLeast(second!.at - first!.at, 950)
    }).pipe(Effect.scoped)
  )

  it.live("429 with Retry-After as an IMF-fixdate: waited for, then 200", () =>
    Effect.gen(function* () {
      const { fake, refresh } = yield* setup()
      const date = new Date(Date.now() + 2000).toUTCString()
      yield* fake.inject(FakeAuthorizationServer.rateLimited(date))
      yield* refresh
      const [first, second] = yield* fake.requests
      assert.deepStrictEqual([first!.status, second!.status], [429, 200])
      // the retry waited for the date (whole seconds, so 1 to 2 s from now), not for a default backoff
      assert.isAtLeast(second!.at, Date.parse(date) - 10)
    }).pipe(Effect.scoped)
  )

  it.live("429 with Retry-After: 3600: NetworkError at once, carrying retryAfter; the next call is not sent", () =>
    Effect.gen(function* () {
      const { fake, refresh } = yield* setup()
      yield* fake.inject(FakeAuthorizationServer.rateLimited(3600))
      const error = (yield* Effect.flip(refresh)) as Errors.NetworkError
      assert.deepStrictEqual(networkError(error), { tag: "NetworkError", reason: "Status", status: 429, attempts: 1 })
      assert.strictEqual(Duration.toSeconds(error.retryAfter!), 3600)
      const held = (yield* Effect.flip(refresh)) as Errors.NetworkError
      assert.strictEqual(held.attempts, 0)
      assert.strictEqual((yield* fake.requests).length, 1)
    }).pipe(Effect.scoped)
  )

  it.live("a connection reset before the headers: retried, then 200", () =>
    Effect.gen(function* () {
      const { fake, refresh } = yield* setup()
      yield* fake.inject(FakeAuthorizationServer.drop)
      yield* refresh
      assert.deepStrictEqual(yield* statuses(fake), [0, 200])
    }).pipe(Effect.scoped)
  )

  it.live("a connection reset mid-body: retried (the answer was cut), then 200", () =>
    Effect.gen(function* () {
      const { fake, refresh } = yield* setup()
      yield* fake.inject(FakeAuthorizationServer.resetMidBody)
      yield* refresh
      assert.deepStrictEqual(yield* statuses(fake), [200, 200])
      assert.deepStrictEqual(
        (yield* fake.requests).map((r) => r.fault),
        ["ResetMidBody", undefined]
      )
    }).pipe(Effect.scoped)
  )

  it.live("a server that never answers: NetworkError Timeout after every attempt", () =>
    Effect.gen(function* () {
      const { fake, refresh } = yield* setup({
        timeout: "200 millis",
        retry: { maxRetries: 1, baseDelay: "10 millis" }
      })
      yield* fake.inject(FakeAuthorizationServer.hang, FakeAuthorizationServer.hang)
      const error = yield* Effect.flip(refresh)
      assert.deepStrictEqual(networkError(error), {
        tag: "NetworkError",
        reason: "Timeout",
        status: undefined,
        attempts: 2
      })
    }).pipe(Effect.scoped)
  )

  it.live("a trickling body: the deadline covers the body too, NetworkError Timeout", () =>
    Effect.gen(function* () {
      const { fake, refresh } = yield* setup({ timeout: "300 millis", retry: { maxRetries: 0 } })
      yield* fake.inject(FakeAuthorizationServer.trickle(50))
      const error = yield* Effect.flip(refresh)
      assert.deepStrictEqual(networkError(error), {
        tag: "NetworkError",
        reason: "Timeout",
        status: undefined,
        attempts: 1
      })
    }).pipe(Effect.scoped)
  )

  const hardening: ReadonlyArray<readonly [string, FakeAuthorizationServer.Fault, (error: unknown) => void]> = [
    [
      "a 2 MB body: DecodeError TooLarge",
      FakeAuthorizationServer.raw(200, "x".repeat(2 * 1024 * 1024), { "content-type": "application/json" }),
      (e) => assert.deepStrictEqual([tagOf(e), (e as Errors.DecodeError).reason], ["DecodeError", "TooLarge"])
    ],
    [
      "an access token with CR/LF: DecodeError",
      FakeAuthorizationServer.raw(
        200,
        JSON.stringify({ access_token: "a\r\nX-Injected: 1", token_type: "Bearer", expires_in: 3600 }),
        { "content-type": "application/json" }
      ),
      (e) =>
        assert.deepStrictEqual(
          [tagOf(e), (e as Errors.DecodeError).detail],
          ["DecodeError", "access_token: expected 1 to 65536 visible ASCII characters"]
        )
    ],
    [
      "invalid UTF-8 in a token (U+FFFD once decoded): DecodeError",
      FakeAuthorizationServer.raw(
        200,
        Buffer.concat([
          Buffer.from('{"access_token":"a'),
          Buffer.from([0xff, 0xfe]),
          Buffer.from('","token_type":"Bearer","expires_in":3600}')
        ]),
        { "content-type": "application/json" }
      ),
      (e) => assert.strictEqual(tagOf(e), "DecodeError")
    ],
    [
      "expires_in: 1e13: DecodeError, not a RangeError",
      FakeAuthorizationServer.raw(200, JSON.stringify({ access_token: "a", token_type: "Bearer", expires_in: 1e13 }), {
        "content-type": "application/json"
      }),
      (e) =>
        assert.deepStrictEqual(
          [tagOf(e), (e as Errors.DecodeError).detail],
          ["DecodeError", "expires_in: expected a number of seconds from 0 to 315360000 (ten years)"]
        )
    ],
    [
      "an error_description with ANSI escapes and 5,000 characters: cleaned and cut",
      FakeAuthorizationServer.raw(
        400,
        JSON.stringify({ error: "invalid_grant", error_description: `\u001b[2J\u001b[1A${"z".repeat(5000)}` }),
        { "content-type": "application/json" }
      ),
      (e) => {
        assert.strictEqual(tagOf(e), "InvalidGrant")
        assert.strictEqual((e as Errors.InvalidGrant).description, `[2J [1A${"z".repeat(293)}…`)
      }
    ]
  ]
  for (const [title, fault, check] of hardening) {
    it.live(title, () =>
      Effect.gen(function* () {
        const { fake, refresh } = yield* setup()
        yield* fake.inject(fault)
        check(yield* Effect.flip(refresh))
      }).pipe(Effect.scoped)
    )
  }

  it.live("Retry-After: -5 is not honoured as a date: the usual backoff applies", () =>
    Effect.gen(function* () {
      const { fake, refresh } = yield* setup({ retry: { baseDelay: "200 millis" } })
      yield* fake.inject(FakeAuthorizationServer.rateLimited("-5"))
      yield* refresh
      const [first, second] = yield* fake.requests
      // the jittered backoff is 160 to 240 ms; a "date in 2001" would have retried at once
      assert.isAtLeast(second!.at - first!.at, 150)
    }).pipe(Effect.scoped)
  )
})

const tagOf = (e: unknown) => (e as { readonly _tag: string })._tag

const typedTags = new Set(["InvalidGrant", "InvalidClient", "OAuthError", "NetworkError", "DecodeError"])

describe("any answer gives a typed result (fast-check)", () => {
  it.effect("any status with any bytes: tokens or a typed error, never a defect", () =>
    Effect.gen(function* () {
      const samples = fc.sample(
        fc.record({
          status: fc.integer({ min: 200, max: 599 }),
          body: fc.oneof(
            fc.uint8Array({ maxLength: 300 }),
            fc.json().map((json) => new TextEncoder().encode(json)),
            fc
              .record({
                access_token: fc.oneof(fc.string(), fc.integer(), fc.constant(undefined)),
                token_type: fc.oneof(fc.constantFrom("Bearer", "bearer", "mac"), fc.string()),
                expires_in: fc.oneof(fc.double(), fc.string(), fc.constant(undefined)),
                refresh_token: fc.oneof(fc.string(), fc.constant(undefined)),
                error: fc.oneof(fc.string(), fc.constant(undefined)),
                error_description: fc.oneof(fc.string(), fc.constant(undefined))
              })
              .map((fields) => new TextEncoder().encode(JSON.stringify(fields)))
          ),
          retryAfter: fc.option(fc.string(), { nil: undefined })
        }),
        { numRuns: 400, seed: 20261126 }
      )
      for (const sample of samples) {
        const exit = yield* TokenRefresher.refresh(Redacted.make("r")).pipe(
          Effect.provide(
            TokenRefresher.layer({
              tokenUrl: "https://accounts.example.com/token",
              clientId: "id",
              retry: { maxRetries: 0 }
            }).pipe(
              Layer.provide(
                MockTokenEndpoint.layer([
                  MockTokenEndpoint.text(new TextDecoder().decode(sample.body), {
                    status: sample.status,
                    headers: sample.retryAfter === undefined ? {} : { "retry-after": sample.retryAfter }
                  })
                ])
              ),
              Layer.orDie
            )
          ),
          Effect.exit
        )
        if (Exit.isFailure(exit)) {
          const failure = Cause.failureOption(exit.cause)
          assert.isTrue(Option.isSome(failure), `a defect for ${JSON.stringify(sample)}: ${Cause.pretty(exit.cause)}`)
          assert.isTrue(typedTags.has(tagOf(Option.getOrThrow(failure))))
        }
      }
    })
  )
})

describe("chaos: 200 fibers for 10 s against a rotating server with 1 s tokens and random faults", () => {
  it.live(
    "every call ends with a valid token or a typed NetworkError; the chain never breaks; the store ends current",
    () =>
      Effect.gen(function* () {
        const fake = yield* FakeAuthorizationServer.make({
          rotate: true,
          revokeFamilyOnReuse: true,
          accessTokenLifetime: "1 second"
        })
        const { refreshToken } = yield* fake.issueTokens()
        yield* fake.setFaultRate(0.4, [
          FakeAuthorizationServer.status(503),
          FakeAuthorizationServer.rateLimited(1),
          FakeAuthorizationServer.drop,
          FakeAuthorizationServer.delay("150 millis")
        ])
        const outcomes = { tokens: 0, networkErrors: 0, other: [] as Array<string> }
        const stack = yield* Layer.build(
          TokenManager.layer({ leeway: "300 millis" }).pipe(
            Layer.provideMerge(TokenStore.layerMemory(Session.seeded(refreshToken))),
            Layer.provide(
              NodeTokenRefresher.layer({
                tokenUrl: fake.tokenUrl,
                clientId: client.clientId,
                clientSecret: Redacted.make(client.clientSecret!),
                timeout: "2 seconds",
                retry: { baseDelay: "20 millis", maxDelay: "200 millis", maxRetryAfter: "2 seconds" }
              })
            ),
            Layer.orDie
          )
        )
        const manager = Context.get(stack, TokenManager.TokenManager)
        const until = Date.now() + 10_000
        const caller = Effect.gen(function* () {
          while (Date.now() < until) {
            const exit = yield* Effect.exit(manager.accessToken)
            if (Exit.isSuccess(exit)) {
              outcomes.tokens++
              // now and then the API says 401: that token is refreshed at once (one refresh for all who saw it)
              if ((yield* Random.next) < 0.01) yield* manager.invalidateToken(exit.value)
            } else {
              const failure = Cause.failureOption(exit.cause)
              if (Option.isSome(failure) && failure.value._tag === "NetworkError") outcomes.networkErrors++
              else outcomes.other.push(Cause.pretty(exit.cause).slice(0, 300))
            }
            yield* Effect.sleep(Duration.millis(yield* Random.nextIntBetween(5, 50)))
          }
        })
        yield* Effect.all(
          Array.from({ length: 200 }, () => caller),
          { concurrency: "unbounded", discard: true }
        )
        const stats = yield* fake.stats
        console.log(
          `chaos: ${outcomes.tokens} tokens, ${outcomes.networkErrors} NetworkError, ${outcomes.other.length} other; ` +
            `server: ${stats.refreshesServed} refreshes served, ${stats.refreshesRejected} rejected, ` +
            `${stats.faultsInjected} faults injected, ${stats.familiesRevoked} families revoked`
        )
        assert.deepStrictEqual(outcomes.other, [])
        assert.isAbove(outcomes.tokens, 1000)
        assert.strictEqual(stats.familiesRevoked, 0)
        assert.strictEqual(stats.refreshesRejected, 0)
        assert.isAbove(stats.refreshesServed, 20)
        assert.isAbove(stats.faultsInjected, 10)
        // the store holds the server's current refresh token: with faults off, it refreshes
        yield* fake.setFaultRate(0, [])
        // a 429 in the last second holds this client back for its Retry-After (1 s): that wait is over first
        yield* Effect.sleep("1100 millis")
        const stored = Option.getOrThrow(yield* Context.get(stack, TokenStore.TokenStore).get(TokenStore.defaultKey))
        const again = yield* Effect.either(Context.get(stack, TokenManager.TokenManager).refreshNow)
        assert.strictEqual(again._tag, "Right", `the stored refresh token was refused: ${JSON.stringify(again)}`)
        assert.strictEqual(stored._tag, "Active")
        assert.isTrue(Option.isSome(Session.refreshToken(stored)))
      }).pipe(Effect.scoped),
    30_000
  )
})
