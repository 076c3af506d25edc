import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { Option, Redacted } from "effect"
import * as Grant from "../src/Grant.js"
import { deviceCodeGrantType, formOf, grantForm } from "../src/internal/tokenRefresher.js"

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

  it("of each grant is URLSearchParams' encoding of the grant's fields, in order, for any values (fast-check)", () => {
    const text = fc.oneof(fc.string({ unit: "binary", maxLength: 30 }), fc.constantFrom("a b", "+&=", "é", "🔑"))
    const scope = fc.array(fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 8 }), { maxLength: 3 })
    const scopeField = (scope: ReadonlyArray<string>) =>
      scope.length === 0 ? [] : [["scope", scope.join(" ")] as const]
    const grant = fc.oneof(
      fc.tuple(text, scope).map(([token, scope]) => ({
        grant: Grant.RefreshToken({ refreshToken: Redacted.make(token), scope, previous: Option.none() }),
        fields: [["grant_type", "refresh_token"], ["refresh_token", token], ...scopeField(scope)] as const
      })),
      fc.tuple(text, text, fc.option(text, { nil: undefined })).map(([code, redirectUri, verifier]) => ({
        grant: Grant.AuthorizationCode({
          code: Redacted.make(code),
          redirectUri,
          codeVerifier: Option.map(Option.fromNullable(verifier), Redacted.make)
        }),
        fields: [
          ["grant_type", "authorization_code"],
          ["code", code],
          ["redirect_uri", redirectUri],
          ...(verifier === undefined ? [] : [["code_verifier", verifier] as const])
        ] as const
      })),
      scope.map((scope) => ({
        grant: Grant.ClientCredentials({ scope }),
        fields: [["grant_type", "client_credentials"], ...scopeField(scope)] as const
      })),
      text.map((code) => ({
        grant: Grant.DeviceCode({ deviceCode: Redacted.make(code), dpopKey: undefined }),
        fields: [
          ["grant_type", deviceCodeGrantType],
          ["device_code", code]
        ] as const
      }))
    )
    fc.assert(
      fc.property(grant, ({ fields, grant }) => {
        assert.strictEqual(grantForm(grant), viaUrlSearchParams(fields))
      }),
      { numRuns: 3000 }
    )
  })
})
