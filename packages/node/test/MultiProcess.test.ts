import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { FileSystem, Path } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Session, TokenStore } from "@token-refresher/core"
import { NodeTokenStore } from "@token-refresher/node"
import { FakeAuthorizationServer } from "@token-refresher/testing/node"
import * as MultiProcess from "@token-refresher/testing/MultiProcess"
import { Effect, Layer, Option, Redacted, Schedule } from "effect"
import * as Fs from "node:fs"
import { fixture, runScript } from "./child.js"

const NodeFs = Layer.merge(NodeFileSystem.layer, NodePath.layer)

/** A rotating server that revokes the whole family on reuse, and a token file seeded with an expired session. */
const setup = (options: FakeAuthorizationServer.Options) =>
  Effect.gen(function* () {
    const server = yield* FakeAuthorizationServer.make({ rotate: true, revokeFamilyOnReuse: true, ...options })
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const file = path.join(yield* fs.makeTempDirectoryScoped({ prefix: "token-refresher-mp-" }), "tokens.json")
    const issued = yield* server.issueTokens()
    const store = yield* NodeTokenStore.makeFile(file)
    yield* store.set(TokenStore.defaultKey, Session.seeded(issued.refreshToken))
    return { server, file, store, seed: Redacted.value(issued.refreshToken) }
  }).pipe(Effect.provide(NodeFs), Effect.orDie)

/** The common worker arguments: the fake server, how long to run (ms), callers, leeway (ms). */
const worker = (server: FakeAuthorizationServer.Service, millis: number, callers: number, leeway: number) =>
  MultiProcess.workerArgs({ accountsUrl: server.url, millis, callers, leeway })

/**
 * libfaketime, which `.ci/run` installs (Debian's `faketime`): preloaded into a process, it moves that process's clock.
 * Without it the clock test is skipped with one line, except in CI, where that is an error.
 */
const libfaketime = [
  "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
  "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"
].find((candidate) => Fs.existsSync(candidate))
if (libfaketime === undefined) {
  if (["1", "true"].includes(process.env.CI ?? ""))
    throw new Error("CI is set but libfaketime is not installed: .ci/run must install faketime")
  console.warn("the file lock's clock test is skipped: no libfaketime (apt-get install faketime)")
}

describe("many processes on one token file", () => {
  it.scopedLive(
    "6 processes × 20 callers for 10 s, 2 s tokens, rotation with family revocation: no invalid_grant, one refresh per expiry",
    () =>
      Effect.gen(function* () {
        const lifetime = 2000
        const leeway = 500
        const { server, file, store, seed } = yield* setup({ accessTokenLifetime: `${lifetime} millis` })
        // the processes load at their own speed on 2 cores; they all start calling once the last one is ready
        yield* MultiProcess.runTogether({
          processes: 6,
          spawn: (env) => runScript(fixture("refresh-worker.ts"), [...worker(server, 10_000, 20, leeway), file], env),
          server,
          lifetime,
          leeway,
          minCalls: 1000
        })
        // the file holds a refresh token the server issued (its last refresh succeeded), rotated from the seed
        const last = Option.getOrThrow(yield* store.get(TokenStore.defaultKey))
        assert.strictEqual(last._tag, "Active")
        const lastRefreshToken = Redacted.value(Option.getOrThrow(Session.refreshToken(last)))
        assert.isTrue(lastRefreshToken.startsWith("fake-refresh-"))
        assert.notStrictEqual(lastRefreshToken, seed)
      }),
    90_000
  )

  it.scopedLive(
    "a process killed (SIGKILL) while it holds the lock mid-refresh: another takes the lock at once (its pid is gone), and the chain goes on",
    () =>
      Effect.gen(function* () {
        const { server, file, store } = yield* setup({ tokenDelay: "4 seconds" })
        const fs = yield* Effect.provide(FileSystem.FileSystem, NodeFs)
        const doomed = yield* runScript(fixture("refresh-worker.ts"), [...worker(server, 1, 1, 1000), file])
        // it holds the lock, and its refresh request is with the (slow) server
        yield* Effect.repeat(fs.exists(`${file}.lock`), {
          until: (exists) => exists,
          schedule: Schedule.spaced("20 millis")
        }).pipe(Effect.orDie)
        yield* Effect.sleep("500 millis")
        const killed = yield* doomed.kill
        assert.strictEqual(killed.signal, "SIGKILL")
        assert.isTrue(yield* Effect.orDie(fs.exists(`${file}.lock`)), "the dead process left its lock behind")
        yield* server.setTokenDelay(0)

        // its pid is gone: the lock is taken at once, long before its lease (5 s for this store) runs out
        const taking = Date.now()
        yield* Effect.orDie(store.withLock(TokenStore.defaultKey)(Effect.void))
        assert.isBelow(Date.now() - taking, 1000)

        const next = yield* runScript(fixture("refresh-worker.ts"), [...worker(server, 1, 1, 1000), file])
        // timed from the moment it has loaded (a cold start takes seconds on a busy 2-core machine)
        yield* next.waitFor(/^ready$/m)
        const started = Date.now()
        const result = yield* next.result
        const took = Date.now() - started
        assert.strictEqual(result.code, 0, result.stderr)
        const summary = MultiProcess.summaryOf(result)
        assert.deepStrictEqual(summary.errors, {})
        assert.strictEqual(summary.accepted, summary.calls)
        // the lock is free again: it refreshes at once, well within the 2 s lease the dead holder would have left
        assert.isBelow(took, 2000 + 3000, `took ${took} ms`)
        const stats = yield* server.stats
        assert.strictEqual(stats.refreshesRejected, 0)
        assert.strictEqual(stats.refreshesServed, 1)
        assert.strictEqual(stats.familiesRevoked, 0)
        // the chain goes on: the stored token is the one the server issued last, and it refreshes
        const stored = Option.getOrThrow(Option.flatMap(yield* store.get(TokenStore.defaultKey), Session.tokens))
        const served = (yield* server.requests).filter((r) => r.grantType === "refresh_token" && r.status === 200)
        assert.strictEqual(served.length, 1)
        assert.isTrue(Redacted.value(stored.accessToken).startsWith("fake-access-"))
      }),
    60_000
  )

  it.scopedLive.skipIf(libfaketime === undefined)(
    "two processes, one with its clock 10 minutes ahead (faketime +10m), 30 s of refreshes: the lock of a live holder is never taken, no reuse",
    () =>
      Effect.gen(function* () {
        const { server, file, store } = yield* setup({})
        const clockWorker = (env: Record<string, string>) =>
          runScript(fixture("clock-worker.ts"), [server.url, file, "30000"], env)
        const [ahead, onTime] = yield* Effect.all([
          clockWorker({ LD_PRELOAD: libfaketime!, FAKETIME: "+10m", FAKETIME_DONT_FAKE_MONOTONIC: "1" }),
          clockWorker({})
        ])
        const [a, b] = yield* Effect.all([ahead.result, onTime.result], { concurrency: "unbounded" })
        assert.strictEqual(a.code, 0, a.stderr)
        assert.strictEqual(b.code, 0, b.stderr)
        const [fromAhead, fromOnTime] = [a, b].map(
          (result) =>
            JSON.parse(result.stdout.trim().split("\n").at(-1)!) as {
              readonly refreshes: number
              readonly now: number
              readonly errors: Record<string, number>
            }
        )
        // the clock was moved: the process ahead started 10 minutes after the other, by its own clock
        assert.isAbove(fromAhead!.now - fromOnTime!.now, 9 * 60_000)
        assert.deepStrictEqual([fromAhead!.errors, fromOnTime!.errors], [{}, {}])
        assert.isAbove(fromAhead!.refreshes, 10)
        assert.isAbove(fromOnTime!.refreshes, 10)
        const stats = yield* server.stats
        assert.strictEqual(stats.refreshesRejected, 0)
        assert.strictEqual(stats.familiesRevoked, 0)
        // a refreshNow that finds the session refreshed by the other process meanwhile takes that (no request)
        assert.isAtLeast(stats.refreshesServed, 20)
        assert.isAtMost(stats.refreshesServed, fromAhead!.refreshes + fromOnTime!.refreshes)
        console.log(
          `clock test: ${stats.refreshesServed} refreshes served, none reused (refreshNow: ${fromAhead!.refreshes} by the process 10 minutes ahead, ${fromOnTime!.refreshes} by the other)`
        )
        const last = Option.getOrThrow(yield* store.get(TokenStore.defaultKey))
        assert.strictEqual(last._tag, "Active")
      }),
    90_000
  )

  it.scopedLive(
    "Rejected across processes: the refresh token one process saw refused fails the other at once, with nothing sent, until a new login",
    () =>
      Effect.gen(function* () {
        const server = yield* FakeAuthorizationServer.make({ rotate: true })
        const fs = yield* FileSystem.FileSystem
        const path = yield* Path.Path
        const dir = yield* fs.makeTempDirectoryScoped({ prefix: "token-refresher-rejected-" })
        const file = path.join(dir, "tokens.json")
        const key = "alice"
        const store = yield* NodeTokenStore.makeFile(file)
        yield* store.set(key, Session.seeded((yield* server.issueTokens()).refreshToken))

        /** A worker process on the file: `send` writes its next command file and waits for the answer. */
        const start = (name: string) =>
          Effect.gen(function* () {
            const commands = path.join(dir, name)
            yield* fs.makeDirectory(commands)
            const child = yield* runScript(fixture("session-worker.ts"), [server.url, file, key, commands])
            yield* child.waitFor(/^ready$/m)
            let sent = 0
            const send = (command: Record<string, string>) =>
              Effect.gen(function* () {
                const n = ++sent
                const target = path.join(commands, `${n}.json`)
                yield* fs.writeFileString(`${target}.tmp`, JSON.stringify(command))
                yield* fs.rename(`${target}.tmp`, target)
                const [, answer] = yield* child.waitFor(new RegExp(`^${n} (.*)$`, "m"))
                return JSON.parse(answer!) as Record<string, unknown>
              }).pipe(Effect.orDie)
            return { send }
          })
        const tokenRequests = Effect.map(server.requests, (requests) =>
          requests.filter((request) => request.path === "/api/token")
        )
        const a = yield* start("A")
        const b = yield* start("B")

        // both hold the session: A refreshes the seed, B reads what A stored
        const first = yield* a.send({ op: "token" })
        assert.match(String(first.token), /^fake-access-/)
        assert.deepStrictEqual(yield* b.send({ op: "token" }), first)
        assert.strictEqual((yield* tokenRequests).length, 1)

        // the provider revokes the session: A's refresh is refused
        yield* server.revokeRefreshTokens
        const refused = yield* a.send({ op: "refresh" })
        assert.deepStrictEqual(refused, {
          error: "InvalidGrant",
          status: 400,
          description: "Refresh token revoked",
          message:
            "The refresh token was rejected (invalid_grant, HTTP 400: Refresh token revoked): it is revoked, expired, " +
            "already used or belongs to another client. The user must authorise again."
        })
        const afterA = yield* tokenRequests
        assert.deepStrictEqual(
          afterA.map((request) => [request.grantType, request.status, request.error]),
          [
            ["refresh_token", 200, undefined],
            ["refresh_token", 400, "invalid_grant"]
          ]
        )
        assert.strictEqual(Option.getOrThrow(yield* store.get(key))._tag, "Rejected")

        // B, which still held a token, fails at once with A's error (as after a 401, and on every call), sending nothing
        assert.deepStrictEqual(yield* b.send({ op: "refresh" }), refused)
        assert.deepStrictEqual(yield* b.send({ op: "token" }), refused)
        assert.deepStrictEqual(yield* a.send({ op: "token" }), refused)
        assert.deepStrictEqual(yield* b.send({ op: "status" }), { state: "Rejected" })
        assert.strictEqual((yield* tokenRequests).length, afterA.length, "no token request after A's")

        // a new login, saved by B, brings both back
        const login = yield* server.issueTokens()
        assert.deepStrictEqual(
          yield* b.send({
            op: "save",
            accessToken: Redacted.value(login.accessToken),
            refreshToken: Redacted.value(login.refreshToken)
          }),
          { saved: true }
        )
        assert.deepStrictEqual(yield* b.send({ op: "token" }), { token: Redacted.value(login.accessToken) })
        assert.deepStrictEqual(yield* a.send({ op: "token" }), { token: Redacted.value(login.accessToken) })
        assert.strictEqual((yield* tokenRequests).length, afterA.length)
        // and its refresh token works
        const refreshed = yield* a.send({ op: "refresh" })
        assert.match(String(refreshed.token), /^fake-access-/)
        assert.notStrictEqual(refreshed.token, Redacted.value(login.accessToken))
        assert.deepStrictEqual(
          (yield* tokenRequests).slice(afterA.length).map((request) => [request.grantType, request.status]),
          [["refresh_token", 200]]
        )
        assert.deepStrictEqual(yield* b.send({ op: "status" }), { state: "Active" })
      }).pipe(Effect.provide(NodeFs)),
    60_000
  )
})
