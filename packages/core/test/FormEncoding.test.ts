import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { formOf } from "../src/internal/tokenRefresher.js"

/** What `URLSearchParams` writes for the same fields: the encoding the form had before it was hand-written. */
const viaUrlSearchParams = (fields: ReadonlyArray<readonly [string, string]>) =>
  new URLSearchParams(fields as Array<[string, string]>).toString()

describe("the token request's form", () => {
  it("is encoded exactly as URLSearchParams encodes it, for any names and values (fast-check)", () => {
    const text = fc.oneof(
      fc.string({ unit: "binary", maxLength: 40 }),
      // lone surrogates, which encodeURIComponent refuses
      fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), maxLength: 3 }),
      fc.constantFrom("", " ", "+", "&=", "!'()~*-._", "a b", "é", "🔑", "%41")
    )
    fc.assert(
      fc.property(fc.array(fc.tuple(text, text), { maxLength: 6 }), (fields) => {
        assert.strictEqual(formOf(fields), viaUrlSearchParams(fields))
      }),
      { numRuns: 5000 }
    )
  })

  it("joins the parts in order", () => {
    assert.strictEqual(
      formOf([["grant_type", "refresh_token"]], [], [["client_id", "my app"]]),
      "grant_type=refresh_token&client_id=my+app"
    )
  })
})
