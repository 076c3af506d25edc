import { assert, describe, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import { fastTokenResponse, parseTokenResponse, slowParse } from "../../src/internal/tokenResponse.js"

/** Tokens as servers send them, and as hostile ones do. */
const token = fc.oneof(
  fc.stringMatching(/^[\x21-\x7e]{1,40}$/),
  fc.constantFrom("", " ", "a b", "tok\r\nen", "tök", "\u0000", "x".repeat(65_536), "x".repeat(65_537)),
  fc.string(),
  fc.integer(),
  fc.constant(null)
)

/** Numbers of seconds, and what is not one. */
const seconds = fc.oneof(
  fc.integer({ min: 0, max: 400_000_000 }),
  fc.double({ noNaN: true }),
  fc.constantFrom(-1, 0, -0, 3600.5, 315_360_000, 315_360_001, 1e308, Number.MAX_SAFE_INTEGER),
  fc.constantFrom("3600", "", "1e3", "-5", "abc", " 60 "),
  fc.boolean(),
  fc.constant(null)
)

const tokenType = fc.oneof(
  fc.constantFrom("Bearer", "bearer", "BEARER", "bEaReR", "DPoP", "mac", ""),
  fc.string(),
  fc.integer()
)

/** A token answer: each field present or absent, valid or not, and fields no one asked for. */
const answer = fc.record(
  {
    access_token: token,
    token_type: tokenType,
    expires_in: seconds,
    expires_at: seconds,
    refresh_token: token,
    refresh_token_expires_in: seconds,
    scope: fc.oneof(fc.string(), fc.integer(), fc.array(fc.string())),
    extra: fc.jsonValue()
  },
  { requiredKeys: [] }
)

/** Anything JSON.parse can give: answers, and any other value, including the JSON of truncated answers. */
const body = fc.oneof(
  { weight: 4, arbitrary: answer },
  { weight: 1, arbitrary: fc.jsonValue() },
  {
    weight: 1,
    arbitrary: fc.tuple(answer, fc.nat()).map(([value, cut]) => {
      const text = JSON.stringify(value)
      try {
        return JSON.parse(text.slice(0, cut % (text.length + 1))) as unknown
      } catch {
        return text.slice(0, cut % (text.length + 1))
      }
    })
  }
)

describe("the token answer's fast path", () => {
  it("agrees with the Schema path on every body: the same TokenResponse, or the fallback to the same error", () => {
    fc.assert(
      fc.property(body, (json) => {
        const fast = fastTokenResponse(json)
        const slow = slowParse(json)
        if (fast !== undefined) {
          // what the fast path accepts, the Schema accepts, as the same value
          assert.isTrue(Either.isRight(slow), `the Schema refused what the fast path took: ${JSON.stringify(json)}`)
          assert.deepStrictEqual(fast, Either.getOrThrow(slow))
        }
        assert.deepStrictEqual(parseTokenResponse(json), slow)
      }),
      { numRuns: 20_000 }
    )
  })

  it("takes the common good answer itself", () => {
    const json = { access_token: "a", token_type: "Bearer", expires_in: 3600, refresh_token: "r", scope: "x y" }
    assert.deepStrictEqual(fastTokenResponse(json), json)
  })
})
