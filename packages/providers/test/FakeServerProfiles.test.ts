import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { TokenRefresher } from "@token-refresher/core"
import { Providers } from "@token-refresher/providers"
import { FakeAuthorizationServer } from "@token-refresher/testing/node"
import { Context, Effect, Layer, Redacted } from "effect"
// the profiles as data: the test kit keeps them internal, so they are read from its source
import * as Profiles from "../../testing/src/internal/fakeServer/profiles.js"

// Every profile of the fake server against the client that is meant to read it: the preset of the same name in
// @token-refresher/providers (its `normalize`), else the core's RFC 6749 reading (rfc6749, as Spotify; auth0). The
// refusals come from the profile's data, so a new profile is covered here without a new line.

const client = { clientId: "app-id", clientSecret: "app-secret" }

const profiles = Object.keys(Profiles.profiles) as ReadonlyArray<FakeAuthorizationServer.Profile>

/** A refusal, how to provoke it, and the typed error the core must make of it in any provider's form. */
interface Refusal {
  readonly failure: Profiles.Failure
  readonly tag: "InvalidGrant" | "InvalidClient"
  readonly secret: string
  readonly refreshToken: (issued: FakeAuthorizationServer.IssuedTokens) => Redacted.Redacted<string>
}

const refusals: ReadonlyArray<Refusal> = [
  {
    failure: { error: "invalid_grant", description: "Invalid refresh token", refused: "refresh_token" },
    tag: "InvalidGrant",
    secret: client.clientSecret,
    refreshToken: () => Redacted.make("not-a-token")
  },
  {
    failure: { error: "invalid_client", description: "Invalid client secret", refused: "other" },
    tag: "InvalidClient",
    secret: "wrong-secret",
    refreshToken: (issued) => issued.refreshToken
  }
]

describe("each profile's refusals, read by its provider's client (real HTTP)", () => {
  it("every preset of @token-refresher/providers has a profile of its name", () => {
    assert.deepStrictEqual(
      Providers.all.map((provider) => provider.name).filter((name) => !profiles.includes(name as never)),
      []
    )
  })

  for (const profile of profiles) {
    const provider = Providers.byName(profile)
    for (const refusal of refusals) {
      const { error } = refusal.failure
      it.live(`${profile} (${provider === undefined ? "core" : "preset"}): ${error} is ${refusal.tag}`, () =>
        Effect.gen(function* () {
          const server = yield* FakeAuthorizationServer.make({ profile, clients: [client] })
          const refresher = yield* Layer.build(
            TokenRefresher.layer({
              ...(provider === undefined ? {} : { provider }),
              tokenUrl: server.tokenUrl,
              clientId: client.clientId,
              clientSecret: Redacted.make(refusal.secret),
              retry: { maxRetries: 0 }
            }).pipe(Layer.provide(NodeHttpClient.layerUndici))
          ).pipe(Effect.map(Context.get(TokenRefresher.TokenRefresher)), Effect.orDie)
          const issued = yield* server.issueTokens({ clientId: client.clientId })

          const refused = yield* Effect.flip(refresher.refresh(refusal.refreshToken(issued)))
          assert.strictEqual(refused._tag, refusal.tag, refused.message)
          // what went over the wire is the profile's own form of the refusal
          const sent = Profiles.errorAnswer(Profiles.profiles[profile], refusal.failure)
          const requests = yield* server.requests
          assert.deepStrictEqual(
            requests.map((request) => [request.status, request.error]),
            [[sent.status, error]]
          )
        }).pipe(Effect.scoped)
      )
    }
  }
})
