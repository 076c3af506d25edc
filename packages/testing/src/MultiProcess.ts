/**
 * A kit for tests that run real Node processes against one shared store: start a script as a child process (killable
 * with `SIGKILL`), run the callers of one process, and check a whole run against the fake server's record. Import it
 * from `@token-refresher/testing/MultiProcess`; its checks throw `node:assert` errors, which every test runner reports.
 *
 * @since 0.2.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Session, TokenManager, TokenRefresher, type TokenStore } from "@token-refresher/core"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as assert from "node:assert/strict"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { confidentialOptions, type Service as FakeServer } from "./FakeAuthorizationServer.js"

/**
 * How a child process ended, and what it printed.
 *
 * @since 0.2.0
 * @category models
 */
export interface Result {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * A running child process.
 *
 * @since 0.2.0
 * @category models
 */
export interface Child {
  readonly pid: number
  /** Succeeds when `pattern` appears on stdout (else on stderr); dies if the process exits first. */
  readonly waitFor: (pattern: RegExp) => Effect.Effect<RegExpMatchArray>
  readonly result: Effect.Effect<Result>
  /** `SIGTERM`, and waits for it to exit. */
  readonly stop: Effect.Effect<Result>
  /** `SIGKILL`: the process cannot clean anything up. */
  readonly kill: Effect.Effect<Result>
}

/**
 * Runs `node <args>` in a new process with exactly `env` plus `PATH`. It is killed when the scope closes, and after
 * `timeoutMs` (default 3 minutes) in any case, so no test can hang on it or leave it running.
 *
 * @since 0.2.0
 * @category constructors
 */
export const spawnNode = (options: {
  readonly args: ReadonlyArray<string>
  readonly env?: Record<string, string> | undefined
  readonly cwd?: string | undefined
  readonly timeoutMs?: number | undefined
}): Effect.Effect<Child, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync((): Child => {
      const child = spawn(process.execPath, options.args, {
        cwd: options.cwd,
        env: { PATH: process.env.PATH ?? "", ...options.env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stdout = ""
      let stderr = ""
      const listeners = new Set<() => void>()
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString("utf8")
        for (const listener of listeners) listener()
      })
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString("utf8")
        for (const listener of listeners) listener()
      })
      const killer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 180_000)
      const done = new Promise<Result>((resolve) =>
        child.on("close", (code, signal) => {
          clearTimeout(killer)
          for (const listener of listeners) listener()
          resolve({ code, signal, stdout, stderr })
        })
      )
      const signal = (name: NodeJS.Signals) =>
        Effect.suspend(() => {
          child.kill(name)
          return Effect.promise(() => done)
        })
      return {
        pid: child.pid!,
        waitFor: (pattern) =>
          Effect.async<RegExpMatchArray>((resume) => {
            const check = () => {
              const match = stdout.match(pattern) ?? stderr.match(pattern)
              if (match !== null) {
                listeners.delete(check)
                resume(Effect.succeed(match))
              } else if (child.exitCode !== null || child.signalCode !== null) {
                listeners.delete(check)
                resume(
                  Effect.dieMessage(
                    `node ${options.args.join(" ")} exited before printing ${pattern}: ${stdout}${stderr}`
                  )
                )
              }
            }
            listeners.add(check)
            check()
          }),
        result: Effect.promise(() => done),
        stop: signal("SIGTERM"),
        kill: signal("SIGKILL")
      }
    }),
    (child) => Effect.ignore(child.kill)
  )

/**
 * Runs a TypeScript file in a new Node process, from source through tsx (`cwd` must be where `tsx` is installed), as
 * {@link spawnNode}.
 *
 * @since 0.2.0
 * @category constructors
 */
export const runScript = (options: {
  readonly script: string
  readonly args?: ReadonlyArray<string> | undefined
  readonly env?: Record<string, string> | undefined
  readonly cwd: string
  readonly timeoutMs?: number | undefined
}): Effect.Effect<Child, never, Scope.Scope> =>
  spawnNode({
    args: ["--conditions=@token-refresher/source", "--import", "tsx", options.script, ...(options.args ?? [])],
    env: options.env,
    cwd: options.cwd,
    timeoutMs: options.timeoutMs
  })

/**
 * What one process's callers saw.
 *
 * @since 0.2.0
 * @category models
 */
export interface Summary {
  readonly calls: number
  /** The API accepted the token. */
  readonly accepted: number
  /** The API refused a token that was still valid when the request got there: a failure. */
  readonly rejected: number
  /**
   * The API refused a token whose request took longer than the token had left when it was handed out: the process
   * or the server stalled (2 cores, 8 busy processes), not a token that was wrong.
   */
  readonly late: number
  /** The least time (ms) a handed-out token had left. */
  readonly minLeft: number
  /** Failures to get a token, by tag (`InvalidGrant`, `TokenStoreError`, …). */
  readonly errors: Record<string, number>
  /**
   * When this process sent each of its refresh requests (epoch ms, its own clock), where the caller records them, as
   * {@link worker} does. The refresher computes a token's expiry from the moment it sent the request, so these times
   * show when each refresh was due however long its answer took to come back.
   *
   * @since 0.7.0
   */
  readonly refreshesSent?: ReadonlyArray<number> | undefined
}

/**
 * The body of one process: `callers` fibers share the `TokenManager` in context; each asks for a token and at once
 * calls the fake server's `GET /v1/me` with it, until `millis` have passed, then the process prints its
 * {@link Summary} as one JSON line. It prints `ready` first, and waits until `startAt` (epoch millis), or until
 * `startFile` exists and then until the time it holds (what {@link runTogether} writes once every process is
 * ready), so that processes that load at different speeds start calling together.
 *
 * @since 0.2.0
 * @category constructors
 */
export const callers = (options: {
  readonly apiUrl: string
  readonly millis: number
  readonly callers: number
  readonly startAt?: number | undefined
  /**
   * A file that holds the start time (epoch millis) once it exists; waited for up to 2 minutes.
   *
   * @since 0.7.0
   */
  readonly startFile?: string | undefined
  /** Filled in by the caller as the process sends refresh requests; printed with the summary. */
  readonly refreshesSent?: ReadonlyArray<number> | undefined
}): Effect.Effect<void, never, TokenManager.TokenManager | HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const manager = yield* TokenManager.TokenManager
    const client = yield* HttpClient.HttpClient
    yield* Console.log("ready")
    const startAt = options.startFile === undefined ? (options.startAt ?? 0) : yield* startTimeIn(options.startFile)
    const now = yield* Clock.currentTimeMillis
    if (startAt > now) yield* Effect.sleep(startAt - now)
    const deadline = Math.max(now, startAt) + options.millis
    const summary = {
      calls: 0,
      accepted: 0,
      rejected: 0,
      late: 0,
      minLeft: Number.MAX_SAFE_INTEGER,
      errors: {} as Record<string, number>
    }
    const call = manager.accessToken.pipe(
      Effect.flatMap((token) =>
        Effect.gen(function* () {
          const handedOut = Date.now()
          const current = Option.flatMap(yield* manager.current, Session.tokens)
          const left =
            Option.isSome(current) && Equal.equals(current.value.accessToken, token)
              ? current.value.expiresAt.epochMillis - handedOut
              : undefined
          if (left !== undefined) summary.minLeft = Math.min(summary.minLeft, left)
          const response = yield* client.execute(
            HttpClientRequest.get(`${options.apiUrl}/me`).pipe(HttpClientRequest.bearerToken(token))
          )
          if (response.status === 200) return "accepted" as const
          return left !== undefined && left > 0 && Date.now() - handedOut >= left
            ? ("late" as const)
            : ("rejected" as const)
        })
      ),
      Effect.catchAll((error) => Effect.succeed(error._tag))
    )
    const caller = Effect.gen(function* () {
      // at least one call, however short the run
      do {
        const outcome = yield* call
        summary.calls++
        if (outcome === "accepted" || outcome === "late" || outcome === "rejected") summary[outcome]++
        else summary.errors[outcome] = (summary.errors[outcome] ?? 0) + 1
        // a steady load, not a saturating one: 2 cores run 8 of these processes, the database and the fake server,
        // whose answers must stay well within the tokens' last second
        yield* Effect.sleep(`${200 + Math.floor(Math.random() * 200)} millis`)
      } while ((yield* Clock.currentTimeMillis) < deadline)
    })
    yield* Effect.all(
      Array.from({ length: options.callers }, () => caller),
      { concurrency: "unbounded" }
    )
    yield* Console.log(JSON.stringify({ ...summary, refreshesSent: options.refreshesSent }))
  })

/** The start time that `file` holds, once it exists (looked for every 10 ms, for 2 minutes at most). */
const startTimeIn = (file: string): Effect.Effect<number> =>
  Effect.suspend(() => {
    const text = Fs.existsSync(file) ? Fs.readFileSync(file, "utf8") : ""
    return text === "" ? Effect.fail("not yet" as const) : Effect.succeed(Number(text))
  }).pipe(
    Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 12_000 }),
    Effect.orElse(() => Effect.dieMessage(`no start time in ${file} after 2 minutes`))
  )

/**
 * The arguments every worker script takes first, as {@link worker} reads them: the fake server's URL, how long to run
 * (ms), how many callers, the leeway (ms). The store's own arguments follow.
 *
 * @since 0.2.0
 * @category constructors
 */
export const workerArgs = (options: {
  readonly accountsUrl: string
  readonly millis: number
  readonly callers: number
  readonly leeway: number
}): ReadonlyArray<string> => [
  options.accountsUrl,
  String(options.millis),
  String(options.callers),
  String(options.leeway)
]

/**
 * The body of a worker script: reads {@link workerArgs} from the command line (and `START_FILE` or `START_AT` from
 * the environment),
 * and runs {@link callers} with a `TokenManager` on `store`, refreshing at the fake server as its confidential client
 * over `httpClient`. `storeArgs` are the arguments after the common ones, for the script to build `store` from.
 *
 * @since 0.2.0
 * @category constructors
 */
export const worker = <E>(
  store: (storeArgs: ReadonlyArray<string>) => Layer.Layer<TokenStore.TokenStore, E>,
  httpClient: Layer.Layer<HttpClient.HttpClient>
): Effect.Effect<void> => {
  const [accountsUrl, millis, callerCount, leeway, ...storeArgs] = process.argv.slice(2)
  // the refresher's requests are all token requests: each is timed as it leaves
  const refreshesSent: Array<number> = []
  const timed = Layer.effect(
    HttpClient.HttpClient,
    Effect.map(
      HttpClient.HttpClient,
      HttpClient.tapRequest(() => Effect.sync(() => refreshesSent.push(Date.now())))
    )
  )
  const manager = TokenManager.layer({ leeway: `${Number(leeway)} millis` }).pipe(
    Layer.provide(TokenRefresher.layer(confidentialOptions(accountsUrl!)).pipe(Layer.provide(timed))),
    Layer.provide(store(storeArgs))
  )
  return callers({
    apiUrl: `${accountsUrl}/v1`,
    millis: Number(millis),
    callers: Number(callerCount),
    startAt: Number(process.env.START_AT ?? 0),
    startFile: process.env.START_FILE,
    refreshesSent
  }).pipe(Effect.provide(manager.pipe(Layer.provideMerge(httpClient))), Effect.orDie)
}

/**
 * Starts `processes` workers, waits until every one has loaded (printed `ready`), then lets them all start calling at
 * the same moment, waits for them, and checks the run with {@link assertOneRefreshPerExpiry}. `spawn` starts one
 * worker with the given extra environment (`START_FILE`: where the start time appears). Prints the run's figures.
 * `loadMillis` bounds the wait for the workers to load (default 60 s): a loaded machine takes its time, and nobody
 * starts before the last one is ready.
 *
 * @since 0.2.0
 * @category assertions
 */
export const runTogether = (options: {
  readonly processes: number
  readonly spawn: (env: Record<string, string>) => Effect.Effect<Child, never, Scope.Scope>
  readonly loadMillis?: number | undefined
  readonly server: FakeServer
  readonly lifetime: number
  readonly leeway: number
  readonly minCalls: number
}) =>
  Effect.gen(function* () {
    const loadMillis = options.loadMillis ?? 60_000
    const startFile = yield* Effect.acquireRelease(
      Effect.sync(() =>
        Path.join(Os.tmpdir(), `token-refresher-start-${process.pid}-${Math.random().toString(36).slice(2)}`)
      ),
      (file) => Effect.sync(() => Fs.rmSync(file, { force: true }))
    )
    const workers = yield* Effect.all(
      Array.from({ length: options.processes }, () => options.spawn({ START_FILE: startFile }))
    )
    yield* Effect.all(
      workers.map((w) => w.waitFor(/^ready$/m)),
      { concurrency: "unbounded", discard: true }
    ).pipe(
      Effect.timeoutFail({
        duration: loadMillis,
        onTimeout: () => `the workers were not all ready within ${loadMillis} ms`
      }),
      Effect.orDie
    )
    // every worker is ready: they start in 250 ms, together (written whole, then renamed into place)
    yield* Effect.sync(() => {
      Fs.writeFileSync(`${startFile}.tmp`, String(Date.now() + 250))
      Fs.renameSync(`${startFile}.tmp`, startFile)
    })
    const results = yield* Effect.all(
      workers.map((w) => w.result),
      { concurrency: "unbounded" }
    )
    const run = yield* assertOneRefreshPerExpiry(options.server, results.map(summaryOf), options)
    yield* Console.log(
      `${run.calls} calls, ${run.late} late (their request outlived the token), ${run.refreshes} refreshes in ${run.window} ms`
    )
    return run
  })

/**
 * The {@link Summary} a finished process printed last.
 *
 * @since 0.2.0
 * @category accessors
 */
export const summaryOf = (result: Result): Summary => {
  assert.strictEqual(result.code, 0, result.stderr)
  return JSON.parse(result.stdout.trim().split("\n").pop()!)
}

/**
 * Checks a whole run of processes against the fake server's record, for tokens that live `lifetime` ms and are
 * refreshed `leeway` ms before they expire:
 *
 * - no process got an error (no `InvalidGrant`), the server rejected no refresh and revoked no token family;
 * - every handed-out token was valid, and the server accepted every token that was still valid when its request got
 *   there (requests that outlived their token are counted as `late`, and must stay under 5%);
 * - one refresh per expiry: no more than the run's length allows, and, where the processes recorded when they sent
 *   their refreshes ({@link Summary.refreshesSent}), each one sent no earlier than the one before plus the refresh
 *   interval (`lifetime - leeway`, less 100 ms for timers). The refresher dates a token from the moment it sent the
 *   request, so a slow answer (a loaded machine) does not move this check, where the server's own times would; without
 *   those records, two refreshes that reached the server within half an interval fail.
 *
 * Returns the figures, for the test to print.
 *
 * @since 0.2.0
 * @category assertions
 */
export const assertOneRefreshPerExpiry = (
  server: FakeServer,
  summaries: ReadonlyArray<Summary>,
  options: { readonly lifetime: number; readonly leeway: number; readonly minCalls: number }
) =>
  Effect.gen(function* () {
    const stats = yield* server.stats
    const requests = yield* server.requests
    const refreshes = requests.filter((r) => r.grantType === "refresh_token")
    const apiCalls = requests.filter((r) => r.path === "/v1/me")
    assert.deepStrictEqual(
      summaries.map((s) => s.errors),
      summaries.map(() => ({}))
    )
    assert.strictEqual(stats.refreshesRejected, 0)
    assert.strictEqual(stats.familiesRevoked, 0)
    const calls = summaries.reduce((n, s) => n + s.calls, 0)
    assert.ok(calls > options.minCalls, `${calls} calls`)
    assert.deepStrictEqual(
      summaries.map((s) => s.rejected),
      summaries.map(() => 0)
    )
    for (const s of summaries) assert.ok(s.minLeft > 0, `a token was handed out with ${s.minLeft} ms left`)
    const late = summaries.reduce((n, s) => n + s.late, 0)
    assert.ok(late < calls / 20, `${late} of ${calls} requests outlived their token`)
    assert.strictEqual(
      summaries.reduce((n, s) => n + s.accepted + s.late, 0),
      calls
    )
    const window = apiCalls[apiCalls.length - 1]!.at - apiCalls[0]!.at
    const interval = options.lifetime - options.leeway
    const sent = summaries.every((s) => s.refreshesSent !== undefined)
      ? summaries.flatMap((s) => s.refreshesSent!).sort((a, b) => a - b)
      : undefined
    if (sent !== undefined) {
      // every refresh the processes sent reached the server, and none went to it that they did not send
      assert.strictEqual(sent.length, refreshes.length, `${sent.length} refreshes sent, ${refreshes.length} received`)
      const gaps = sent.slice(1).map((at, i) => at - sent[i]!)
      assert.ok(
        Math.min(...gaps) >= interval - Math.min(100, interval / 10),
        `gaps between the refreshes as sent: ${gaps.join(", ")} ms`
      )
    } else {
      const gaps = refreshes.slice(1).map((r, i) => r.at - refreshes[i]!.at)
      // two refreshes for one expiry would be milliseconds apart; request latency moves them by a few hundred
      assert.ok(Math.min(...gaps) >= interval / 2, `gaps between refreshes: ${gaps.join(", ")} ms`)
    }
    assert.ok(refreshes.length <= Math.ceil(window / interval) + 1, `${refreshes.length} refreshes in ${window} ms`)
    assert.ok(
      refreshes.length >= Math.floor(window / options.lifetime),
      `${refreshes.length} refreshes in ${window} ms`
    )
    assert.strictEqual(refreshes[refreshes.length - 1]!.status, 200)
    return { calls, late, refreshes: refreshes.length, window }
  })
