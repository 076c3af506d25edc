import { HttpClient, HttpClientRequest } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { MockTokenEndpoint } from "@token-refresher/testing"
import { Cause, Effect, Exit, Fiber, TestClock } from "effect"

const post = (form: Record<string, string>) =>
  HttpClient.execute(
    HttpClientRequest.post("https://auth.example.com/token").pipe(
      HttpClientRequest.setHeader("authorization", "Basic abc"),
      HttpClientRequest.bodyUrlParams(form)
    )
  )

describe("MockTokenEndpoint", () => {
  it.effect("answers in script order and records method, url, headers and form", () =>
    Effect.gen(function* () {
      const first = yield* post({ grant_type: "refresh_token", refresh_token: "r1", scope: "a b" })
      assert.strictEqual(first.status, 200)
      assert.deepStrictEqual(yield* first.json, {
        access_token: "mock-access-token-1",
        token_type: "Bearer",
        scope: "a b",
        expires_in: 3600,
        refresh_token: "mock-refresh-token-1"
      })
      const second = yield* post({ grant_type: "refresh_token", refresh_token: "r2" })
      assert.strictEqual(second.status, 429)
      assert.strictEqual(second.headers["retry-after"], "7")
      const mock = yield* MockTokenEndpoint.MockTokenEndpoint
      const [recorded] = yield* mock.requests
      const { headers, ...rest } = recorded!
      assert.strictEqual(headers.authorization, "Basic abc")
      assert.strictEqual(headers["content-type"], "application/x-www-form-urlencoded")
      assert.deepStrictEqual(rest, {
        index: 1,
        method: "POST",
        url: "https://auth.example.com/token",
        contentType: "application/x-www-form-urlencoded",
        body: "grant_type=refresh_token&refresh_token=r1&scope=a+b",
        form: { grant_type: "refresh_token", refresh_token: "r1", scope: "a b" },
        at: 0
      })
      assert.strictEqual(yield* mock.count, 2)
      assert.strictEqual(yield* mock.remaining, 0)
    }).pipe(
      Effect.provide(
        MockTokenEndpoint.layer([MockTokenEndpoint.ok({ rotate: true }), MockTokenEndpoint.rateLimited(7)])
      )
    )
  )

  it.effect("a request beyond the script is a defect that names it", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(post({ grant_type: "refresh_token" }))
      assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
      assert.match(
        Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "",
        /request #1 \(POST https:\/\/auth\.example\.com\/token\) arrived, but the script has no reply left/
      )
    }).pipe(Effect.provide(MockTokenEndpoint.layer([])))
  )

  it.effect("transport errors are RequestError Transport; hang never answers", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(post({}))
      assert.strictEqual(error._tag, "RequestError")
      assert.strictEqual(error._tag === "RequestError" && error.reason, "Transport")
      const fiber = yield* Effect.fork(post({}))
      yield* TestClock.adjust("1 hour")
      assert.isNull(fiber.unsafePoll())
      yield* Fiber.interrupt(fiber)
    }).pipe(
      Effect.provide(MockTokenEndpoint.layer([MockTokenEndpoint.transportError("reset"), MockTokenEndpoint.hang]))
    )
  )

  it.effect("a handler decides replies from the request", () =>
    Effect.gen(function* () {
      const ok = yield* post({ refresh_token: "good" })
      const bad = yield* post({ refresh_token: "bad" })
      assert.deepStrictEqual([ok.status, bad.status], [200, 400])
      assert.deepStrictEqual(yield* bad.json, { error: "invalid_grant", error_description: "Refresh token revoked" })
    }).pipe(
      Effect.provide(
        MockTokenEndpoint.layer((request) =>
          request.form.refresh_token === "good"
            ? MockTokenEndpoint.ok()
            : MockTokenEndpoint.invalidGrant("Refresh token revoked")
        )
      )
    )
  )
})
