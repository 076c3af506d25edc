import { FileSystem, HttpClient } from "@effect/platform"
import { NodeFileSystem, NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { BearerAuth, Errors, Session, TokenSessions } from "@token-refresher/core"
import { NodeTokenClient, NodeTokenStore } from "@token-refresher/node"
import { Spotify } from "@token-refresher/spotify"
import { FakeAuthorizationServer } from "@token-refresher/testing/node"
import { ConfigProvider, Effect, Layer, Redacted } from "effect"

describe("many users: the README's TokenSessions server setup over real HTTP", () => {
  it.scopedLive("each user's calls carry their own token, refreshed once per user, and a logout forgets the user", () =>
    Effect.gen(function* () {
      const server = yield* FakeAuthorizationServer.make({ rotate: true, revokeFamilyOnReuse: true })
      const fs = yield* FileSystem.FileSystem
      const file = `${yield* fs.makeTempDirectoryScoped()}/tokens.json`

      // the README's setup, with the fake server's URLs
      const Sessions = TokenSessions.layer().pipe(
        Layer.provide(Spotify.layerConfig().pipe(Layer.provide(NodeTokenClient.layer()))),
        Layer.provide(NodeTokenStore.layerFile(file))
      )
      const me = (userId: string) =>
        Effect.flatMap(HttpClient.HttpClient, (client) =>
          client.pipe(BearerAuth.forSession(userId)).get(`${server.apiUrl}/me`)
        ).pipe(Effect.flatMap((response) => response.json))

      const env = ConfigProvider.fromMap(
        new Map([
          ["SPOTIFY_CLIENT_ID", "fake-client-id"],
          ["SPOTIFY_CLIENT_SECRET", "fake-client-secret"],
          ["SPOTIFY_ACCOUNTS_URL", server.url]
        ])
      )
      yield* Effect.gen(function* () {
        const sessions = yield* TokenSessions.TokenSessions
        // two users log in (their tokens are saved expired, so the first call refreshes)
        const users = ["alice", "bob"]
        for (const user of users) {
          const issued = yield* server.issueTokens()
          yield* sessions.save(user, Session.seeded(issued.refreshToken))
        }
        const answers = yield* Effect.all(
          users.flatMap((user) => Array.from({ length: 10 }, () => me(user))),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(answers.length, 20)
        for (const answer of answers) assert.deepStrictEqual(answer, FakeAuthorizationServer.user)
        const stats = yield* server.stats
        assert.strictEqual(stats.refreshesServed, 2)
        assert.strictEqual(stats.refreshesRejected, 0)
        assert.strictEqual(stats.apiRejected, 0)
        const alice = Redacted.value(yield* sessions.accessToken("alice"))
        const bob = Redacted.value(yield* sessions.accessToken("bob"))
        assert.notStrictEqual(alice, bob)
        // logout
        yield* sessions.remove("alice")
        const loggedOut = yield* Effect.flip(sessions.accessToken("alice"))
        assert.deepStrictEqual(
          { ...loggedOut, message: loggedOut.message },
          {
            ...new Errors.NoToken({}),
            message: new Errors.NoToken({}).message
          }
        )
        assert.deepStrictEqual(Object.keys(JSON.parse(yield* fs.readFileString(file))), ["bob"])
      }).pipe(Effect.provide(Layer.merge(Sessions, NodeHttpClient.layerUndici)), Effect.withConfigProvider(env))
    }).pipe(Effect.provide(NodeFileSystem.layer))
  )
})
