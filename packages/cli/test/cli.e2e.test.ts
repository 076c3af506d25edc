import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { NodeContext } from "@effect/platform-node"
import { Session, TokenSet } from "@token-refresher/core"
import { NodeTokenStore } from "@token-refresher/node"
import { FakeAuthorizationServer } from "@token-refresher/testing/node"
import { DateTime, Effect, Option, Redacted } from "effect"
import { readFileSync } from "node:fs"
import * as Path from "node:path"
import { bin, run, start } from "./cli.js"

/** A fake accounts server, a temporary home, and the environment the CLI sees. */
const setup = (options?: FakeAuthorizationServer.Options) =>
  Effect.gen(function* () {
    const server = yield* FakeAuthorizationServer.make(options)
    const fs = yield* FileSystem.FileSystem
    const home = yield* fs.makeTempDirectoryScoped({ prefix: "token-refresher-cli-" })
    const store = Path.join(home, "tokens", "spotify.json")
    const env = {
      HOME: home,
      SPOTIFY_ACCOUNTS_URL: server.url,
      SPOTIFY_CLIENT_ID: "fake-client-id",
      SPOTIFY_CLIENT_SECRET: "fake-client-secret"
    }
    return { server, fs, home, store, env }
  }).pipe(Effect.provide(NodeFileSystem.layer))

const seededWith = (options: FakeAuthorizationServer.Options) =>
  Effect.gen(function* () {
    const context = yield* setup(options)
    const issued = yield* context.server.issueTokens()
    return {
      ...context,
      seed: Redacted.value(issued.refreshToken),
      env: { ...context.env, SPOTIFY_REFRESH_TOKEN: Redacted.value(issued.refreshToken) }
    }
  })

const seeded = seededWith({ rotate: true })

/** The session stored in the file `store` under `key`, read through the file store. */
const savedSession = (store: string, key = "spotify") =>
  Effect.flatMap(NodeTokenStore.makeFile(store), (s) => s.get(key)).pipe(
    Effect.map(Option.getOrThrow),
    Effect.scoped,
    Effect.provide(NodeContext.layer)
  )

/** The tokens of the `Active` session stored in the file `store` under `key`, as plain strings. */
const savedTokens = (store: string, key = "spotify") =>
  Effect.map(savedSession(store, key), (session) => {
    const tokens = Option.getOrThrow(Session.tokens(session))
    return {
      accessToken: Redacted.value(tokens.accessToken),
      refreshToken: Redacted.value(Option.getOrThrow(tokens.refreshToken)),
      authorizedAt: tokens.authorizedAt
    }
  })

/** Writes `session` under `key` in the file `store`, as an earlier command would have. */
const saveSession = (store: string, key: string, session: Session.Session) =>
  Effect.flatMap(NodeTokenStore.makeFile(store), (s) => s.set(key, session)).pipe(
    Effect.scoped,
    Effect.provide(NodeContext.layer)
  )

/** What `logout` prints on stderr while the seed variable is still exported. */
const stillSetNotice =
  "token-refresher: SPOTIFY_REFRESH_TOKEN is still set, and the next command will seed the store from it again: run `unset SPOTIFY_REFRESH_TOKEN`\n"

/** One line on stderr, no stack trace. */
const assertOneLine = (stderr: string) => {
  assert.strictEqual(stderr.trimEnd().split("\n").length, 1, stderr)
  assert.notMatch(stderr, /\n\s+at /)
  assert.match(stderr, /^token-refresher: /)
}

describe("token-refresher CLI (built, as a child process, against the fake server)", () => {
  it.live("--version and --help on every command", () =>
    Effect.gen(function* () {
      const version = yield* run(["--version"], {})
      assert.strictEqual(version.code, 0)
      const pkg = JSON.parse(readFileSync(Path.join(Path.dirname(bin), "..", "package.json"), "utf8"))
      assert.strictEqual(version.stdout.trim(), pkg.version)
      for (const command of [
        "login",
        "token",
        "refresh",
        "status",
        "sessions",
        "keep-alive",
        "logout",
        "fake-server"
      ]) {
        const help = yield* run([command, "--help"], {})
        assert.strictEqual(help.code, 0, command)
        assert.include(help.stdout, command)
      }
      // stdout is a pipe here: no colour codes
      const login = yield* run(["login", "--help"], {})
      assert.notInclude(login.stdout, "\u001b[")
      assert.include(login.stdout, "Default: 8888")
      // usage lines name the program
      assert.include(login.stdout, "$ token-refresher login [--scope text]")
      assert.include(login.stdout, "Default: 300")
      const top = yield* run(["--help"], {})
      assert.include(top.stdout, "Exit codes: 0 done, 2 bad command line")
      assert.include(top.stdout, "SPOTIFY_CLIENT_ID")
      assert.include(top.stdout, "Keep a Spotify (or any OAuth 2.0 provider's) access token fresh")
    })
  )

  it.scoped("login: PKCE through the loopback redirect, then the tokens are saved", () =>
    Effect.gen(function* () {
      const { fs, server, store, env } = yield* setup()
      const login = yield* start(
        ["login", "--port", "0", "--store", store, "--scope", "user-read-private,streaming"],
        env
      )
      const [authorizeUrl] = yield* login.waitFor(/http:\/\/127\.0\.0\.1:\d+\/authorize\?\S+/)
      const url = new URL(authorizeUrl!)
      assert.strictEqual(url.searchParams.get("client_id"), "fake-client-id")
      assert.strictEqual(url.searchParams.get("code_challenge_method"), "S256")
      assert.strictEqual(url.searchParams.get("scope"), "user-read-private streaming")
      assert.match(url.searchParams.get("redirect_uri")!, /^http:\/\/127\.0\.0\.1:\d+\/callback$/)

      // a browser would follow the redirects: do it with a plain HTTP client
      const approved = yield* Effect.promise(() => fetch(authorizeUrl!, { redirect: "manual" }))
      assert.strictEqual(approved.status, 302)
      const callback = yield* Effect.promise(() => fetch(approved.headers.get("location")!))
      assert.strictEqual(callback.status, 200)
      assert.include(yield* Effect.promise(() => callback.text()), "Logged in")

      const result = yield* login.result
      assert.strictEqual(result.code, 0, result.stderr)
      assert.include(result.stdout, `Logged in. Tokens saved to ${store}`)
      assert.include(result.stdout, "scopes: user-read-private streaming")
      const saved = yield* savedTokens(store)
      assert.match(saved.refreshToken, /^fake-refresh-/)
      assert.notInclude(result.stdout, saved.refreshToken)
      assert.notInclude(result.stdout, saved.accessToken)
      assert.strictEqual(((yield* fs.stat(store)).mode & 0o777).toString(8), "600")
      const stats = yield* server.stats
      assert.strictEqual(stats.codesExchanged, 1)
      const exchange = (yield* server.requests).find((r) => r.grantType === "authorization_code")!
      assert.strictEqual(exchange.clientAuth, "basic")
    })
  )

  it.scoped("login ignores a forged redirect (400, and it keeps waiting), then completes with the real one", () =>
    Effect.gen(function* () {
      const { store, env } = yield* setup()
      const login = yield* start(["login", "--port", "0", "--store", store], env)
      const [authorizeUrl, port] = yield* login.waitFor(
        /http:\/\/127\.0\.0\.1:\d+\/authorize\?\S*redirect_uri=http%3A%2F%2F127\.0\.0\.1%3A(\d+)%2Fcallback\S*/
      )
      // what any web page could make the browser send with an <img>
      const forged = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/callback?code=stolen&state=forged`))
      assert.strictEqual(forged.status, 400)
      assert.include(yield* Effect.promise(() => forged.text()), "Not this login")
      const approved = yield* Effect.promise(() => fetch(authorizeUrl!, { redirect: "manual" }))
      const callback = yield* Effect.promise(() => fetch(approved.headers.get("location")!))
      assert.strictEqual(callback.status, 200)
      assert.include(yield* Effect.promise(() => callback.text()), "Logged in")
      const result = yield* login.result
      assert.strictEqual(result.code, 0, result.stderr)
      assert.include(result.stdout, "Logged in.")
    })
  )

  it.scoped("a code the server refuses is a login failure (exit 8), in the terminal and in the browser", () =>
    Effect.gen(function* () {
      const { store, env } = yield* setup()
      const login = yield* start(["login", "--port", "0", "--store", store], env)
      const [authorizeUrl] = yield* login.waitFor(/http:\/\/127\.0\.0\.1:\d+\/authorize\?\S+/)
      const approved = yield* Effect.promise(() => fetch(authorizeUrl!, { redirect: "manual" }))
      const location = new URL(approved.headers.get("location")!)
      location.searchParams.set("code", "bogus")
      const callback = yield* Effect.promise(() => fetch(location))
      assert.strictEqual(callback.status, 400)
      assert.include(yield* Effect.promise(() => callback.text()), "Login failed")
      const result = yield* login.result
      assert.strictEqual(result.code, 8)
      assertOneLine(result.stderr)
      assert.strictEqual(
        result.stderr,
        "token-refresher: login failed: the authorization code was refused (Invalid authorization code): start the login again\n"
      )
    })
  )

  it.scoped(
    "errors name what the user typed: --accounts-url, --client-id, --timeout; debug adds the pretty cause",
    () =>
      Effect.gen(function* () {
        const { env, home, store } = yield* setup()
        const insecure = yield* run(["token", "--store", store, "--accounts-url", "http://example.com"], env)
        assert.strictEqual(insecure.code, 2)
        assert.strictEqual(
          insecure.stderr,
          "token-refresher: --accounts-url must be https (http only for 127.0.0.1, [::1] or localhost), got http://example.com\n"
        )
        const noClient = yield* run(["token", "--store", store], { HOME: home })
        assert.strictEqual(noClient.code, 2)
        assert.strictEqual(
          noClient.stderr,
          "token-refresher: SPOTIFY_CLIENT_ID is not set: export SPOTIFY_CLIENT_ID=… (your app's client id from the Spotify developer dashboard), or pass --client-id\n"
        )
        const notNumber = yield* run(["login", "--store", store, "--port", "abc"], env)
        assert.strictEqual(notNumber.code, 2)
        assert.include(notNumber.stderr, "--port must be an integer, got 'abc'")
        assert.notInclude(notNumber.stderr, "a integer")
        const negative = yield* run(["login", "--store", store, "--timeout", "-1"], env)
        assert.strictEqual(negative.code, 2)
        assert.strictEqual(negative.stderr, "token-refresher: --timeout must be a whole number of seconds above 0\n")
        const debug = yield* run(["token", "--store", store], {
          ...env,
          SPOTIFY_REFRESH_TOKEN: "",
          TOKEN_REFRESHER_DEBUG: "1"
        })
        assert.strictEqual(debug.code, 3)
        const [line, ...pretty] = debug.stderr.trimEnd().split("\n")
        assert.match(line!, /^token-refresher: no tokens are stored/)
        assert.match(pretty.join("\n"), /NoToken/)
        assert.notMatch(debug.stderr, /"_tag"/)
      })
  )

  it.scoped("Ctrl-C exits 130 and SIGTERM 143", () =>
    Effect.gen(function* () {
      const { store, env } = yield* setup()
      for (const [signal, code] of [
        ["SIGINT", 130],
        ["SIGTERM", 143]
      ] as const) {
        const login = yield* start(["login", "--port", "0", "--store", store], env)
        yield* login.waitFor(/Waiting for the redirect/)
        process.kill(login.pid, signal)
        const result = yield* login.result
        assert.strictEqual(result.code, code, `${signal}: ${result.stderr}`)
      }
    })
  )

  it.scoped("token prints the access token and nothing else; it refreshes once and then reuses the saved one", () =>
    Effect.gen(function* () {
      const { server, store, env } = yield* seeded
      const first = yield* run(["token", "--store", store], env)
      assert.strictEqual(first.code, 0, first.stderr)
      assert.match(first.stdout, /^fake-access-[\w-]+\n$/)
      assert.strictEqual(first.stderr, "")
      const second = yield* run(["token", "--store", store], env)
      assert.strictEqual(second.stdout, first.stdout)
      assert.strictEqual((yield* server.stats).refreshesServed, 1)
      // the token works against the API
      const me = yield* Effect.promise(() =>
        fetch(`${server.apiUrl}/me`, { headers: { authorization: `Bearer ${first.stdout.trim()}` } })
      )
      assert.strictEqual(me.status, 200)
    })
  )

  it.scoped("8 concurrent `token` processes on an expired, rotating store: all print the same token, 1 refresh", () =>
    Effect.gen(function* () {
      const { server, store, env } = yield* setup({ rotate: true, revokeFamilyOnReuse: true, tokenDelay: "400 millis" })
      const issued = yield* server.issueTokens()
      yield* saveSession(store, "spotify", Session.seeded(issued.refreshToken))
      const results = yield* Effect.all(
        Array.from({ length: 8 }, () => run(["token", "--store", store], env)),
        { concurrency: "unbounded" }
      )
      for (const result of results) assert.strictEqual(result.code, 0, result.stderr)
      assert.match(results[0]!.stdout, /^fake-access-[\w-]+\n$/)
      assert.deepStrictEqual(
        results.map((r) => r.stdout),
        results.map(() => results[0]!.stdout)
      )
      const stats = yield* server.stats
      assert.strictEqual(stats.refreshesServed, 1)
      assert.strictEqual(stats.refreshesRejected, 0)
    })
  )

  it.scoped("8 `token` processes that start together on an empty store seed it once, under the lock", () =>
    Effect.gen(function* () {
      const { server, store, env, seed } = yield* seededWith({
        rotate: true,
        revokeFamilyOnReuse: true,
        tokenDelay: "400 millis"
      })
      const results = yield* Effect.all(
        Array.from({ length: 8 }, () => run(["token", "--store", store], env)),
        { concurrency: "unbounded" }
      )
      for (const result of results) assert.strictEqual(result.code, 0, result.stderr)
      assert.deepStrictEqual(
        results.map((r) => r.stdout),
        results.map(() => results[0]!.stdout)
      )
      const stats = yield* server.stats
      assert.strictEqual(stats.refreshesServed, 1)
      assert.strictEqual(stats.refreshesRejected, 0)
      // a late process does not write the (used) seed over the rotated token
      const late = yield* run(["token", "--store", store], env)
      assert.strictEqual(late.code, 0, late.stderr)
      assert.strictEqual(late.stdout, results[0]!.stdout)
      const saved = yield* savedTokens(store)
      assert.notStrictEqual(saved.refreshToken, seed)
    })
  )

  it.scoped("log lines go to stderr only: a too-open file's warning (once) and --log-level debug", () =>
    Effect.gen(function* () {
      const { store, env, fs } = yield* seeded
      const first = yield* run(["token", "--store", store], env)
      assert.strictEqual(first.code, 0, first.stderr)
      yield* fs.chmod(store, 0o644)
      const warned = yield* run(["token", "--store", store], env)
      assert.strictEqual(warned.stdout, first.stdout)
      assert.strictEqual(warned.stderr.match(/may be read by other users/g)?.length, 1, warned.stderr)
      const debug = yield* run(["--log-level", "debug", "refresh", "--store", store], env)
      assert.strictEqual(debug.code, 0, debug.stderr)
      assert.include(debug.stderr, "token request succeeded")
      assert.notInclude(debug.stdout, "token request succeeded")
    })
  )

  it.scoped("refresh prints a summary without tokens, unless --show-tokens; status shows no secrets", () =>
    Effect.gen(function* () {
      const { server, store, env } = yield* seeded
      const refreshed = yield* run(["refresh", "--store", store], env)
      assert.strictEqual(refreshed.code, 0, refreshed.stderr)
      assert.match(refreshed.stdout, /access token expires in 60 min/)
      assert.include(refreshed.stdout, "refresh token: rotated (the new one is saved)")
      const saved = yield* savedTokens(store)
      assert.notInclude(refreshed.stdout, saved.accessToken)
      assert.notInclude(refreshed.stdout, saved.refreshToken)

      const shown = yield* run(["refresh", "--store", store, "--show-tokens"], env)
      const again = yield* savedTokens(store)
      assert.include(shown.stdout, `access_token: ${again.accessToken}`)
      assert.include(shown.stdout, `refresh_token: ${again.refreshToken}`)
      assert.strictEqual((yield* server.stats).refreshesServed, 2)

      const status = yield* run(["status", "--store", store], { HOME: env.HOME })
      assert.strictEqual(status.code, 0, status.stderr)
      assert.include(status.stdout, `Token store: ${store} (mode 0600)`)
      assert.match(status.stdout, /access token: expires in 60 min/)
      assert.include(status.stdout, "scopes: user-read-private user-read-email")
      assert.notInclude(status.stdout, again.accessToken)
      assert.notInclude(status.stdout, again.refreshToken)
    })
  )

  it.scoped("the store defaults to $XDG_CONFIG_HOME/token-refresher/spotify.json, else ~/.config/…", () =>
    Effect.gen(function* () {
      // no rotation: both stores are seeded from the same SPOTIFY_REFRESH_TOKEN
      const { env, home, fs } = yield* seededWith({ rotate: false })
      assert.strictEqual((yield* run(["token"], env)).code, 0)
      assert.isTrue(yield* fs.exists(Path.join(home, ".config", "token-refresher", "spotify.json")))
      const xdg = Path.join(home, "xdg")
      assert.strictEqual((yield* run(["token"], { ...env, XDG_CONFIG_HOME: xdg })).code, 0)
      assert.isTrue(yield* fs.exists(Path.join(xdg, "token-refresher", "spotify.json")))
    })
  )

  it.scoped(
    "sessions and keep-alive: the store's sessions without a token; one sweep, exit 3 when one was refused",
    () =>
      Effect.gen(function* () {
        const { server, store, env } = yield* setup({ rotate: true })
        const now = Date.now()
        const day = 86_400_000
        // three sessions in the CLI's store: idle for two years (Google would have dropped it), fresh, and refused
        const idle = yield* server.issueTokens()
        const fresh = yield* server.issueTokens()
        const active = (issued: FakeAuthorizationServer.IssuedTokens, issuedAt: number) =>
          Session.active(
            TokenSet.make({
              accessToken: issued.accessToken,
              refreshToken: issued.refreshToken,
              issuedAt,
              expiresAt: now + 3_600_000
            })
          )
        yield* saveSession(store, "alice", active(idle, now - 2 * 365 * day))
        yield* saveSession(store, "bob", active(fresh, now - 60_000))
        yield* saveSession(store, "carol", Session.seeded("revoked-refresh-token", now))

        const listed = yield* run(["sessions", "--store", store, "--json"], env)
        assert.strictEqual(listed.code, 0, listed.stderr)
        const lines = listed.stdout
          .trim()
          .split("\n")
          .map((line) => JSON.parse(line) as Record<string, unknown>)
        assert.deepStrictEqual(
          lines.map((line) => [line.key, line.state]),
          [
            ["alice", "Active"],
            ["bob", "Active"],
            ["carol", "Seeded"]
          ]
        )
        for (const secret of [idle.accessToken, idle.refreshToken, fresh.accessToken, fresh.refreshToken]) {
          assert.notInclude(listed.stdout, Redacted.value(secret))
        }
        const seededOnly = yield* run(["sessions", "--store", store, "--state", "seeded"], env)
        assert.deepStrictEqual(
          seededOnly.stdout
            .trim()
            .split("\n")
            .map((line) => line.split("  ")[0]),
          ["carol"]
        )

        // Spotify documents no idle timeout: nothing is due, nothing is sent
        const swept = yield* run(["keep-alive", "--store", store, "--json"], env)
        assert.strictEqual(swept.code, 0, swept.stderr)
        const report = JSON.parse(swept.stdout.trim()) as Record<string, number>
        assert.deepStrictEqual([report.scanned, report.keptAlive, report.rejected], [3, 0, 0])
        assert.strictEqual((yield* server.stats).refreshesServed, 0)

        // every refresh token is revoked at the server; a sweep of the sessions idle for 30 days refreshes alice only
        yield* server.revokeRefreshTokens
        const refusedSweep = yield* run(["keep-alive", "--store", store, "--after-days", "30"], env)
        assert.strictEqual(refusedSweep.code, 3, refusedSweep.stderr)
        assert.match(
          refusedSweep.stdout,
          /^Swept 3 sessions in \d+ ms: 0 kept alive, 0 ending soon, 1 rejected, 0 failed, 0 skipped\n$/
        )
        assert.strictEqual(
          refusedSweep.stderr,
          "token-refresher: 1 session was refused by the provider during the keep-alive: their users must log in again\n"
        )
        const refused = yield* run(["sessions", "--store", store, "--state", "rejected"], env)
        assert.strictEqual(refused.code, 0, refused.stderr)
        assert.match(
          refused.stdout,
          /^alice {2}Rejected {2}rejected \S+ \(invalid_grant \(HTTP 400\): Refresh token revoked\)\n$/
        )
        assert.strictEqual((yield* server.stats).refreshesRejected, 1)
      })
  )

  describe("each failure is one clear line on stderr with its own exit code, and no secret", () => {
    /** One line on stderr, no secret of the setup in it. */
    const assertClean = (stderr: string, env: Record<string, string>) => {
      assertOneLine(stderr)
      assert.notInclude(stderr, "fake-client-secret")
      if (env.SPOTIFY_REFRESH_TOKEN !== undefined) assert.notInclude(stderr, env.SPOTIFY_REFRESH_TOKEN)
    }

    it.scoped("2: no client id", () =>
      Effect.gen(function* () {
        const { home, store } = yield* seeded
        const result = yield* run(["token", "--store", store], { HOME: home })
        assert.strictEqual(result.code, 2)
        assertClean(result.stderr, {})
        assert.include(result.stderr, "SPOTIFY_CLIENT_ID is not set")
      })
    )

    it.scoped("2: an unknown flag", () =>
      Effect.gen(function* () {
        const { env } = yield* seeded
        assert.strictEqual((yield* run(["token", "--no-such-flag"], env)).code, 2)
      })
    )

    it.scoped("3: nothing stored", () =>
      Effect.gen(function* () {
        const { env, store } = yield* seeded
        const result = yield* run(["token", "--store", store], { ...env, SPOTIFY_REFRESH_TOKEN: "" })
        assert.strictEqual(result.code, 3)
        assert.strictEqual(
          result.stderr,
          `token-refresher: no tokens are stored (${store}): run \`token-refresher login\`, or set SPOTIFY_REFRESH_TOKEN to seed the store\n`
        )
      })
    )

    it.scoped("3: a revoked refresh token", () =>
      Effect.gen(function* () {
        const { env, server, store } = yield* seeded
        yield* server.revokeRefreshTokens
        const result = yield* run(["token", "--store", store], env)
        assert.strictEqual(result.code, 3)
        assertClean(result.stderr, env)
        assert.strictEqual(
          result.stderr,
          "token-refresher: the refresh token was revoked or has expired (Spotify says: Refresh token revoked): run `token-refresher login` to log in again\n"
        )
      })
    )

    it.scoped("4: a wrong client secret", () =>
      Effect.gen(function* () {
        const { env, store } = yield* seeded
        const result = yield* run(["token", "--store", store], { ...env, SPOTIFY_CLIENT_SECRET: "wrong" })
        assert.strictEqual(result.code, 4)
        assertClean(result.stderr, env)
        assert.strictEqual(
          result.stderr,
          "token-refresher: the client credentials were rejected (Spotify says: Invalid client secret): check SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET\n"
        )
        assert.notInclude(result.stderr, "wrong")
      })
    )

    it.scoped("5: the accounts service is down", () =>
      Effect.gen(function* () {
        const { env, home } = yield* seeded
        const result = yield* run(["token", "--store", Path.join(home, "other.json")], {
          ...env,
          SPOTIFY_ACCOUNTS_URL: "http://127.0.0.1:9"
        })
        assert.strictEqual(result.code, 5)
        assertClean(result.stderr, env)
        assert.match(result.stderr, /could not be reached .* after 4 attempts\. Check the connection and try again\./)
      })
    )

    it.scoped("6: an answer that is not JSON", () =>
      Effect.gen(function* () {
        const { env, home, server } = yield* seeded
        yield* server.inject(FakeAuthorizationServer.malformedJson)
        const result = yield* run(["refresh", "--store", Path.join(home, "third.json")], {
          ...env,
          SPOTIFY_REFRESH_TOKEN: (yield* server.issueTokens()).refreshToken.pipe(Redacted.value)
        })
        assert.strictEqual(result.code, 6)
        assertOneLine(result.stderr)
        assert.strictEqual(
          result.stderr,
          "token-refresher: The token endpoint's answer (HTTP 200) could not be used: expected a JSON token response, got 23 characters of application/json.\n"
        )
      })
    )

    it.scoped("7: a token file that is not one", () =>
      Effect.gen(function* () {
        const { env, fs, store } = yield* seeded
        yield* fs.makeDirectory(Path.dirname(store), { recursive: true })
        yield* fs.writeFileString(store, "not json")
        const result = yield* run(["token", "--store", store], env)
        assert.strictEqual(result.code, 7)
        assertClean(result.stderr, env)
        assert.include(result.stderr, store)
      })
    )

    it.scoped("9: the fake server's port is taken", () =>
      Effect.gen(function* () {
        const { server } = yield* seeded
        const result = yield* run(["fake-server", "--port", new URL(server.url).port], {})
        assert.strictEqual(result.code, 9)
        assertOneLine(result.stderr)
        assert.include(result.stderr, "EADDRINUSE")
      })
    )
  })

  it.scoped("token --client-credentials prints an app token, saved and reused until it expires", () =>
    Effect.gen(function* () {
      const { env, server, store } = yield* setup()
      const first = yield* run(["token", "--client-credentials", "--scope", "catalog", "--store", store], env)
      assert.strictEqual(first.code, 0, first.stderr)
      assert.match(first.stdout, /^fake-access-[\w-]+\n$/)
      assert.strictEqual(first.stderr, "")
      const second = yield* run(["token", "--client-credentials", "--scope", "catalog", "--store", store], env)
      assert.strictEqual(second.stdout, first.stdout)
      const grants = (yield* server.requests).filter((r) => r.grantType === "client_credentials")
      assert.deepStrictEqual(
        grants.map((r) => [r.status, r.clientAuth]),
        [[200, "basic"]]
      )
      assert.strictEqual((yield* server.stats).clientCredentialsIssued, 1)
      // the app token is kept apart from any user's session
      const me = yield* Effect.promise(() =>
        fetch(`${server.apiUrl}/me`, { headers: { authorization: `Bearer ${first.stdout.trim()}` } })
      )
      assert.strictEqual(me.status, 200)
    })
  )

  it.scoped("logout (Spotify): forgets the tokens and says how to remove the app's access; then token exits 3", () =>
    Effect.gen(function* () {
      const { env, fs, server, store } = yield* seeded
      assert.strictEqual((yield* run(["token", "--store", store], env)).code, 0)
      const out = yield* run(["logout", "--store", store], { ...env, SPOTIFY_REFRESH_TOKEN: "" })
      assert.strictEqual(out.code, 0, out.stderr)
      assert.strictEqual(
        out.stdout,
        `Logged out: the tokens were removed from ${store}.\n` +
          "  Spotify has no way for an app to revoke a token: to end the app's access too, remove it at https://www.spotify.com/account/apps/\n"
      )
      assert.strictEqual(out.stderr, "")
      assert.deepStrictEqual(JSON.parse(yield* fs.readFileString(store)), {})
      assert.strictEqual((yield* server.stats).tokensRevoked, 0)
      const after = yield* run(["token", "--store", store], { ...env, SPOTIFY_REFRESH_TOKEN: "" })
      assert.strictEqual(after.code, 3)
    })
  )

  it.scoped("logout with SPOTIFY_REFRESH_TOKEN still exported says to unset it, since `token` would seed from it", () =>
    Effect.gen(function* () {
      const { env, fs, home, server, store } = yield* seeded
      assert.strictEqual((yield* run(["token", "--store", store], env)).code, 0)
      const logoutLines =
        `Logged out: the tokens were removed from ${store}.\n` +
        "  Spotify has no way for an app to revoke a token: to end the app's access too, remove it at https://www.spotify.com/account/apps/\n"
      const out = yield* run(["logout", "--store", store], env)
      assert.strictEqual(out.code, 0, out.stderr)
      assert.strictEqual(out.stdout, logoutLines)
      assert.strictEqual(out.stderr, stillSetNotice)
      assert.notInclude(out.stderr, env.SPOTIFY_REFRESH_TOKEN)
      assert.deepStrictEqual(JSON.parse(yield* fs.readFileString(store)), {})

      // what the notice warns of: the seed was used (and rotated) by the first `token`, so it is dead now
      const reseeded = yield* run(["token", "--store", store], env)
      assert.strictEqual(reseeded.code, 3)
      assert.strictEqual(
        reseeded.stderr,
        "token-refresher: the refresh token was revoked or has expired (Spotify says: Invalid refresh token): run `token-refresher login` to log in again\n"
      )
      const rejected = yield* savedSession(store)
      assert(rejected instanceof Session.Rejected, `stored: ${rejected._tag}`)
      assert.deepStrictEqual([rejected.error.status, rejected.error.description], [400, "Invalid refresh token"])

      // the dead session is not sent again: status shows it, and `token` fails without a request
      const status = yield* run(["status", "--store", store], { HOME: home })
      assert.strictEqual(status.code, 3)
      assert.strictEqual(
        status.stdout,
        `Token store: ${store} (mode 0600)\n` +
          "  provider: spotify\n" +
          `  session: rejected by the provider on ${DateTime.formatIso(rejected.rejectedAt)}: log in again\n` +
          "  provider's answer: invalid_grant (HTTP 400): Invalid refresh token\n"
      )
      assert.strictEqual(
        status.stderr,
        "token-refresher: the refresh token was revoked or has expired (Spotify says: Invalid refresh token): run `token-refresher login` to log in again\n"
      )
      assert.notInclude(status.stdout, env.SPOTIFY_REFRESH_TOKEN)
      const rejectedBefore = (yield* server.stats).refreshesRejected
      assert.strictEqual((yield* run(["token", "--store", store], env)).code, 3)
      assert.strictEqual((yield* server.stats).refreshesRejected, rejectedBefore)

      // without the variable (unset, or empty), logout says nothing more
      const { SPOTIFY_REFRESH_TOKEN: _, ...unset } = env
      for (const without of [unset, { ...env, SPOTIFY_REFRESH_TOKEN: "" }]) {
        const clean = yield* run(["logout", "--store", store], without)
        assert.strictEqual(clean.code, 0, clean.stderr)
        assert.strictEqual(clean.stdout, logoutLines)
        assert.strictEqual(clean.stderr, "")
      }
      assert.deepStrictEqual(JSON.parse(yield* fs.readFileString(store)), {})
    })
  )

  it.scoped("status of a seeded session: no access token yet, when it was seeded, and no request", () =>
    Effect.gen(function* () {
      const { home, server, store } = yield* setup()
      yield* saveSession(store, "spotify", Session.seeded("seed-refresh-token", "2030-01-02T03:04:05Z"))
      const status = yield* run(["status", "--store", store], { HOME: home })
      assert.strictEqual(status.code, 0, status.stderr)
      assert.strictEqual(
        status.stdout,
        `Token store: ${store} (mode 0600)\n` +
          "  provider: spotify\n" +
          "  access token: none yet (seeded; the first use refreshes)\n" +
          "  seeded: 2030-01-02T03:04:05.000Z\n"
      )
      assert.strictEqual(status.stderr, "")
      assert.strictEqual((yield* server.requests).length, 0)
    })
  )

  it.scoped("login --issuer (discovery), status with the refresh token's end, then logout revokes at the server", () =>
    Effect.gen(function* () {
      const { fs, home, server } = yield* setup()
      const env = { HOME: home, OAUTH_CLIENT_ID: "fake-client-id", OAUTH_CLIENT_SECRET: "fake-client-secret" }
      const store = Path.join(home, "issuer.json")
      const login = yield* start(["login", "--issuer", server.issuer, "--port", "0", "--store", store], env)
      const [authorizeUrl] = yield* login.waitFor(/http:\/\/127\.0\.0\.1:\d+\/authorize\?\S+/)
      const approved = yield* Effect.promise(() => fetch(authorizeUrl!, { redirect: "manual" }))
      yield* Effect.promise(() => fetch(approved.headers.get("location")!))
      const result = yield* login.result
      assert.strictEqual(result.code, 0, result.stderr)
      const key = new URL(server.issuer).host
      assert.deepStrictEqual(Object.keys(JSON.parse(yield* fs.readFileString(store))), [key])
      const saved = yield* savedTokens(store, key)

      const status = yield* run(["status", "--issuer", server.issuer, "--store", store], { HOME: home })
      assert.strictEqual(status.code, 0, status.stderr)
      assert.include(status.stdout, `provider: ${key}`)
      assert.include(status.stdout, "refresh token: present, no known end")
      assert.include(status.stdout, `logged in: ${DateTime.formatIso(Option.getOrThrow(saved.authorizedAt))}`)

      const out = yield* run(["logout", "--issuer", server.issuer, "--store", store], env)
      assert.strictEqual(out.code, 0, out.stderr)
      assert.include(out.stdout, `Logged out: the refresh token was revoked at ${key}`)
      assert.strictEqual((yield* server.stats).tokensRevoked, 1)
      const revocation = (yield* server.requests).find((r) => r.path === "/revoke")!
      assert.deepStrictEqual([revocation.status, revocation.clientAuth], [200, "basic"])
      assert.deepStrictEqual(JSON.parse(yield* fs.readFileString(store)), {})
    })
  )

  it.scoped("login --device: the code and the page on stderr, the approval, the session saved; denied is exit 8", () =>
    Effect.gen(function* () {
      const { fs, home, server } = yield* setup({ deviceInterval: "1 second" })
      const env = { HOME: home, OAUTH_CLIENT_ID: "fake-public-client-id" }
      const store = Path.join(home, "device.json")
      const login = yield* start(["login", "--device", "--issuer", server.issuer, "--store", store], env)
      const [, page, code] = yield* login.waitFor(/open (\S+) in a browser[^\n]*\n\n {2}([A-Z]{4}-[A-Z]{4})\n/)
      assert.strictEqual(page, `${server.url}/device`)
      assert.isTrue(yield* server.approveDevice(code!))
      const result = yield* login.result
      assert.strictEqual(result.code, 0, result.stderr)
      assert.include(result.stdout, `Logged in. Tokens saved to ${store}`)
      assert.notInclude(result.stdout, code!)
      const key = new URL(server.issuer).host
      assert.deepStrictEqual(Object.keys(JSON.parse(yield* fs.readFileString(store))), [key])
      const polls = (yield* server.requests).filter(
        (r) => r.grantType === "urn:ietf:params:oauth:grant-type:device_code"
      )
      assert.deepStrictEqual(polls.at(-1)!.status, 200)

      const denied = yield* start(["login", "--device", "--issuer", server.issuer, "--store", store], env)
      const [, , deniedCode] = yield* denied.waitFor(/open (\S+) in a browser[^\n]*\n\n {2}([A-Z]{4}-[A-Z]{4})\n/)
      yield* server.approveDevice(deniedCode!, { approve: false })
      const refused = yield* denied.result
      assert.strictEqual(refused.code, 8, refused.stderr)
      assert.include(refused.stderr, "login failed: The user denied the device login")
    })
  )

  it.scoped("login --device with Spotify, which has no device endpoint: exit 2, naming the loopback login", () =>
    Effect.gen(function* () {
      const { env, server, store } = yield* setup()
      const result = yield* run(["login", "--device", "--store", store], env)
      assert.strictEqual(result.code, 2, result.stderr)
      assertOneLine(result.stderr)
      assert.include(result.stderr, "spotify has no device authorization endpoint: log in with `token-refresher login`")
      assert.strictEqual((yield* server.requests).length, 0)
    })
  )

  it.scoped("status shows when a Spotify refresh token ends: six months after the login", () =>
    Effect.gen(function* () {
      const { env, server, store } = yield* setup()
      const login = yield* start(["login", "--port", "0", "--store", store], env)
      const [authorizeUrl] = yield* login.waitFor(/http:\/\/127\.0\.0\.1:\d+\/authorize\?\S+/)
      const approved = yield* Effect.promise(() => fetch(authorizeUrl!, { redirect: "manual" }))
      yield* Effect.promise(() => fetch(approved.headers.get("location")!))
      const result = yield* login.result
      assert.strictEqual(result.code, 0, result.stderr)
      assert.match(result.stdout, /refresh token: present, ends in 1(8[1-4]) days \(at \S+\); log in again before then/)
      const status = yield* run(["status", "--store", store], { HOME: env.HOME })
      assert.match(status.stdout, /refresh token: present, ends in 1(8[1-4]) days/)
      assert.strictEqual((yield* server.stats).codesExchanged, 1)
    })
  )

  it.scoped("a 0.2 file's Spotify session under `default` is moved to the key `spotify`", () =>
    Effect.gen(function* () {
      const { env, fs, server, store } = yield* setup({ rotate: false })
      const issued = yield* server.issueTokens()
      yield* saveSession(store, "default", Session.seeded(issued.refreshToken))
      const token = yield* run(["token", "--store", store], env)
      assert.strictEqual(token.code, 0, token.stderr)
      assert.deepStrictEqual(Object.keys(JSON.parse(yield* fs.readFileString(store))), ["spotify"])
    })
  )

  it.scoped("fake-server prints its URL and a ready client id, secret and refresh token", () =>
    Effect.gen(function* () {
      const server = yield* start(["fake-server", "--rotate", "--lifetime", "5"], {})
      const [, url] = yield* server.waitFor(/export SPOTIFY_ACCOUNTS_URL=(\S+)/)
      const [, refreshToken] = yield* server.waitFor(/export SPOTIFY_REFRESH_TOKEN=(\S+)/)
      const [, clientId] = yield* server.waitFor(/export SPOTIFY_CLIENT_ID=(\S+)/)
      const [, clientSecret] = yield* server.waitFor(/export SPOTIFY_CLIENT_SECRET=(\S+)/)
      assert.deepStrictEqual([clientId, clientSecret], ["fake-client-id", "fake-client-secret"])
      assert.match(url!, /^http:\/\/127\.0\.0\.1:\d+$/)
      // the printed id, secret and refresh token work together: a refresh with exactly them succeeds
      const answer = yield* Effect.promise(() =>
        fetch(`${url}/api/token`, {
          method: "POST",
          headers: {
            authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString("base64")}`,
            "content-type": "application/x-www-form-urlencoded"
          },
          body: `grant_type=refresh_token&refresh_token=${refreshToken}`
        }).then((r) => r.json())
      )
      assert.strictEqual(answer.expires_in, 5)
      assert.match(answer.refresh_token, /^fake-refresh-/)
    })
  )
})
