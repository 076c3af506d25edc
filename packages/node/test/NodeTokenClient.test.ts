import { HttpClient, HttpClientRequest } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Deadline, Errors, TokenRefresher } from "@token-refresher/core"
import { NodeTokenClient } from "@token-refresher/node"
import { Deferred, Duration, Effect, Fiber, Layer, Option, Redacted, Stream } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

const tokenBody = JSON.stringify({ access_token: "a", token_type: "Bearer", expires_in: 3600 })

/** A server whose handler may misbehave; it counts the connections opened to it. */
const server = (handler: (request: Http.IncomingMessage, response: Http.ServerResponse) => void) =>
  Effect.acquireRelease(
    Effect.async<{ readonly url: string; readonly connections: () => number; readonly server: Http.Server }>(
      (resume) => {
        let connections = 0
        const http = Http.createServer((request, response) => {
          request.resume()
          request.on("end", () => handler(request, response))
        })
        http.keepAliveTimeout = 10_000
        http.on("connection", () => connections++)
        http.listen(0, "127.0.0.1", () =>
          resume(
            Effect.succeed({
              url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
              connections: () => connections,
              server: http
            })
          )
        )
      }
    ),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

/** A token answer that starts, then gets one more byte every 100 ms, for ever (until the client goes). */
const trickle = (response: Http.ServerResponse) => {
  response.writeHead(200, { "content-type": "application/json" })
  response.write('{"access_token":')
  const timer = setInterval(() => response.write(" "), 100)
  response.on("close", () => clearInterval(timer))
}

/** A server that never answers; `closed` is done when a client's connection goes away. */
/** A server that never answers: `received` once a request has come, `closed` once its connection has closed. */
const silentServer = Effect.flatMap(Effect.all([Deferred.make<void>(), Deferred.make<void>()]), ([received, closed]) =>
  Effect.map(
    server((request) => {
      request.socket.once("close", () => Deferred.unsafeDone(closed, Effect.void))
      Deferred.unsafeDone(received, Effect.void)
    }),
    (s) => ({ received, closed, s })
  )
)

const refresher = (url: string, options?: Partial<TokenRefresher.Options>, client?: NodeTokenClient.Options) =>
  TokenRefresher.layer({ tokenUrl: `${url}/token`, clientId: "id", retry: { maxRetries: 0 }, ...options }).pipe(
    Layer.provide(NodeTokenClient.layer(client)),
    Layer.orDie
  )

describe("NodeTokenClient (real HTTP on 127.0.0.1)", () => {
  it.live("20 sequential refreshes reuse their keep-alive connections", () =>
    Effect.gen(function* () {
      const s = yield* server((_, response) =>
        response.writeHead(200, { "content-type": "application/json" }).end(tokenBody)
      )
      yield* Effect.repeatN(TokenRefresher.refresh(Redacted.make("r")), 19).pipe(Effect.provide(refresher(s.url)))
      // keep-alive: not one connection per request (raw undici itself opens a second one on the second request)
      assert.isAtMost(s.connections(), 2)
    }).pipe(Effect.scoped)
  )

  it.live("64 refreshes at once open at most `connections` connections (default 16; 4 here)", () =>
    Effect.gen(function* () {
      const s = yield* server((_, response) =>
        setTimeout(() => response.writeHead(200, { "content-type": "application/json" }).end(tokenBody), 20)
      )
      yield* Effect.all(
        Array.from({ length: 64 }, () => TokenRefresher.refresh(Redacted.make("r"))),
        { concurrency: "unbounded", discard: true }
      ).pipe(Effect.provide(refresher(s.url, {}, { connections: 4 })))
      assert.isAtMost(s.connections(), 4)
      assert.isAtLeast(s.connections(), 2)
    }).pipe(Effect.scoped)
  )

  /** `NodeTokenClient` wrapped by the application (a header added): an `HttpClient` without `Deadline.Exchange`. */
  const wrapped = (headers: Record<string, string>) =>
    Layer.merge(
      Layer.effect(
        HttpClient.HttpClient,
        Effect.map(HttpClient.HttpClient, HttpClient.mapRequest(HttpClientRequest.setHeaders(headers)))
      ),
      Layer.succeed(Deadline.Enforced, true)
    ).pipe(Layer.provide(NodeTokenClient.layer()))

  it.live("wrapped by the application, the client still gets tokens and enforces the deadline through the fiber", () =>
    Effect.gen(function* () {
      const s = yield* server((request, response) => {
        if (request.headers["x-slow"] === undefined) return void response.writeHead(200).end(tokenBody)
        trickle(response)
      })
      const layer = (headers: Record<string, string>) =>
        TokenRefresher.layer({
          tokenUrl: `${s.url}/token`,
          clientId: "id",
          retry: { maxRetries: 0 },
          timeout: "400 millis"
        }).pipe(Layer.provide(wrapped(headers)), Layer.orDie)
      const client = yield* HttpClient.HttpClient.pipe(Effect.provide(wrapped({})))
      assert.isFalse(Deadline.Exchange in client)
      const tokens = yield* TokenRefresher.refresh(Redacted.make("r")).pipe(Effect.provide(layer({})))
      assert.strictEqual(Redacted.value(tokens.accessToken), "a")
      const error = yield* Effect.flip(
        TokenRefresher.refresh(Redacted.make("r")).pipe(Effect.provide(layer({ "x-slow": "1" })))
      )
      assert.deepStrictEqual([error._tag, (error as Errors.NetworkError).reason], ["NetworkError", "Timeout"])
    }).pipe(Effect.scoped)
  )

  it.live("the client enforces the deadline over the whole body: a trickling body is a NetworkError Timeout", () =>
    Effect.gen(function* () {
      const s = yield* server((_, response) => trickle(response))
      const error = yield* Effect.flip(
        TokenRefresher.refresh(Redacted.make("r")).pipe(Effect.provide(refresher(s.url, { timeout: "400 millis" })))
      )
      assert.deepStrictEqual(
        {
          tag: error._tag,
          reason: (error as Errors.NetworkError).reason,
          attempts: (error as Errors.NetworkError).attempts
        },
        { tag: "NetworkError", reason: "Timeout", attempts: 1 }
      )
      assert.strictEqual(
        error.message,
        "The token endpoint did not answer in time (no answer within 400ms) after 1 attempt."
      )
    }).pipe(Effect.scoped)
  )

  it.live(
    "requests with the same timeout each time out at their own deadline; one answered in between is not stopped",
    () =>
      Effect.gen(function* () {
        // "/token" never answers, "/fast" answers at once; both clients time out after 400 ms
        const s = yield* server((request, response) => {
          if (request.url === "/fast") response.writeHead(200, { "content-type": "application/json" }).end(tokenBody)
        })
        const timedRefresh = (path: string) =>
          Effect.suspend(() => {
            const started = performance.now()
            return TokenRefresher.refresh(Redacted.make("r")).pipe(
              Effect.provide(refresher(s.url, { tokenUrl: `${s.url}${path}`, timeout: "400 millis" })),
              Effect.either,
              Effect.map((result) => ({ result, millis: performance.now() - started }))
            )
          })
        const first = yield* Effect.fork(timedRefresh("/token"))
        yield* Effect.sleep("150 millis")
        const second = yield* Effect.fork(timedRefresh("/token"))
        const answered = yield* timedRefresh("/fast")
        const [one, two] = yield* Effect.all([Fiber.join(first), Fiber.join(second)]).pipe(
          Effect.timeoutFail({ duration: "3 seconds", onTimeout: () => "a deadline never passed" })
        )
        assert.isTrue(answered.result._tag === "Right")
        for (const { result } of [one, two]) {
          assert.deepStrictEqual(
            result._tag === "Left" ? [result.left._tag, (result.left as Errors.NetworkError).reason] : result._tag,
            ["NetworkError", "Timeout"]
          )
        }
        // each at its own deadline: the second was not stopped when the first's passed (it had run for 250 ms then)
        assert.isAtLeast(one.millis, 399)
        assert.isBelow(one.millis, 400 + 150)
        assert.isAtLeast(two.millis, 399)
        assert.isBelow(two.millis, 400 + 1000)
      }).pipe(Effect.scoped)
  )

  it.live("40 requests with 40 timeout lengths at once (more lengths than share queues): each stops at its own", () =>
    Effect.gen(function* () {
      const s = yield* server(() => {})
      const client = yield* HttpClient.HttpClient
      const lengths = Array.from({ length: 40 }, (_, i) => 300 + i * 10)
      const results = yield* Effect.forEach(
        lengths,
        (millis) =>
          Effect.suspend(() => {
            const started = performance.now()
            return client.get(`${s.url}/x`).pipe(
              Effect.locally(Deadline.current, Option.some(Duration.millis(millis))),
              Effect.flip,
              Effect.map((error) => ({ millis, took: performance.now() - started, cause: error.cause }))
            )
          }),
        { concurrency: "unbounded" }
      )
      for (const { cause, millis, took } of results) {
        assert.isTrue(Deadline.isTimeout(cause), `${millis} ms: ${String(cause)}`)
        assert.isAtLeast(took, millis - 1)
        assert.isBelow(took, millis + 300)
      }
    }).pipe(Effect.provide(NodeTokenClient.layer({ connections: 64 })), Effect.scoped)
  )

  it.live("a timeout longer than setTimeout takes (30 days) is kept: answered, with no TimeoutOverflowWarning", () =>
    Effect.gen(function* () {
      const s = yield* server((_, response) =>
        response.writeHead(200, { "content-type": "application/json" }).end(tokenBody)
      )
      const warnings: Array<string> = []
      const onWarning = (warning: Error) => warnings.push(warning.name)
      process.on("warning", onWarning)
      yield* Effect.addFinalizer(() => Effect.sync(() => process.off("warning", onWarning)))
      const tokens = yield* TokenRefresher.refresh(Redacted.make("r")).pipe(
        Effect.provide(refresher(s.url, { timeout: "30 days" }))
      )
      // a warning is emitted on the next tick
      yield* Effect.sleep("50 millis")
      assert.strictEqual(Redacted.value(tokens.accessToken), "a")
      assert.deepStrictEqual(warnings, [])
    }).pipe(Effect.scoped)
  )

  it.live("an endless chunked body stops at maxResponseBytes: DecodeError TooLarge, and memory stays bounded", () =>
    Effect.gen(function* () {
      const chunk = Buffer.alloc(64 * 1024, 0x20)
      const s = yield* server((_, response) => {
        response.writeHead(200, { "content-type": "application/json" })
        const pump = () => {
          while (!response.destroyed && response.write(chunk)) {
            // write until the socket pushes back
          }
          if (!response.destroyed) response.once("drain", pump)
        }
        pump()
      })
      const before = process.memoryUsage().rss
      const error = yield* Effect.flip(
        TokenRefresher.refresh(Redacted.make("r")).pipe(Effect.provide(refresher(s.url, { timeout: "10 seconds" })))
      )
      const grown = process.memoryUsage().rss - before
      assert.deepStrictEqual([error._tag, (error as Errors.DecodeError).reason], ["DecodeError", "TooLarge"])
      assert.isBelow(grown, 64 * 1024 * 1024)
    }).pipe(Effect.scoped)
  )

  it.effect("the layer says it enforces the deadline; it is an ordinary HttpClient", () =>
    Effect.gen(function* () {
      assert.isTrue(yield* Deadline.Enforced)
      const client = yield* HttpClient.HttpClient
      assert.isFunction(client.execute)
    }).pipe(Effect.provide(NodeTokenClient.layer()))
  )

  it.live("as a general client: GET, JSON, headers, and a body read once", () =>
    Effect.gen(function* () {
      const s = yield* server((request, response) =>
        response
          .writeHead(200, { "content-type": "application/json", "x-seen": request.headers["x-asked"] ?? "" })
          .end(JSON.stringify({ ok: true, path: request.url }))
      )
      const response = yield* HttpClient.get(`${s.url}/v1/me?x=1`, { headers: { "x-asked": "yes" } }).pipe(
        Effect.provide(NodeTokenClient.layer())
      )
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers["x-seen"], "yes")
      assert.deepStrictEqual(yield* response.json, { ok: true, path: "/v1/me?x=1" })
    }).pipe(Effect.scoped)
  )

  it.live("a body is read once: a second read fails with ResponseError Decode", () =>
    Effect.gen(function* () {
      const s = yield* server((_, response) => response.writeHead(200).end("once"))
      const response = yield* HttpClient.get(`${s.url}/x`).pipe(Effect.provide(NodeTokenClient.layer()))
      assert.strictEqual(yield* response.text, "once")
      const second = yield* Effect.flip(response.text)
      assert.deepStrictEqual([second._tag, second.reason], ["ResponseError", "Decode"])
      assert.strictEqual((second.cause as Error).message, "the body has already been read")
    }).pipe(Effect.scoped)
  )

  it.live("a 4 MB body streams through in order to a slow reader", () =>
    Effect.gen(function* () {
      // 64 chunks of 64 KB, each filled with its own index
      const s = yield* server((_, response) => {
        response.writeHead(200, { "content-type": "application/octet-stream" })
        let i = 0
        const pump = () => {
          while (i < 64) {
            if (!response.write(Buffer.alloc(64 * 1024, i++))) return void response.once("drain", pump)
          }
          response.end()
        }
        pump()
      })
      const response = yield* HttpClient.get(`${s.url}/big`)
      const seen = { bytes: 0, ordered: true }
      yield* response.stream.pipe(
        // a slow reader: the body must wait for it, not pile up
        Stream.tap(() => Effect.sleep("1 millis")),
        Stream.runForEach((chunk) =>
          Effect.sync(() => {
            for (let k = 0; k < chunk.length; k += 4096) {
              if (chunk[k] !== Math.floor((seen.bytes + k) / (64 * 1024))) seen.ordered = false
            }
            seen.bytes += chunk.length
          })
        )
      )
      assert.deepStrictEqual(seen, { bytes: 64 * 64 * 1024, ordered: true })
    }).pipe(Effect.scoped, Effect.provide(NodeTokenClient.layer()))
  )

  it.live("an interrupted request closes its connection; a refused connection is a RequestError Transport", () =>
    Effect.gen(function* () {
      const { closed, received, s } = yield* silentServer
      const client = yield* HttpClient.HttpClient
      const fiber = yield* Effect.fork(client.get(`${s.url}/hang`))
      yield* Deferred.await(received)
      yield* Fiber.interrupt(fiber)
      yield* Deferred.await(closed).pipe(Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => "not closed" }))

      const port = (s.server.address() as AddressInfo).port
      yield* Effect.promise(() => new Promise<void>((resolve) => s.server.close(() => resolve())))
      const refused = yield* Effect.flip(client.get(`http://127.0.0.1:${port}/x`))
      assert.deepStrictEqual([refused._tag, refused.reason], ["RequestError", "Transport"])
    }).pipe(Effect.scoped, Effect.provide(NodeTokenClient.layer()))
  )

  it.live("a refresh whose fiber is interrupted aborts its request: the server sees the connection close", () =>
    Effect.gen(function* () {
      const { closed, received, s } = yield* silentServer
      // the client lives on (its layer is built out here): only the request may close the connection
      const context = yield* Layer.build(refresher(s.url, { timeout: "20 seconds" }))
      const fiber = yield* Effect.fork(Effect.provide(TokenRefresher.refresh(Redacted.make("r")), context))
      yield* Deferred.await(received)
      yield* Fiber.interrupt(fiber)
      yield* Deferred.await(closed).pipe(Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => "not closed" }))
    }).pipe(Effect.scoped)
  )

  it.effect("the client offers the whole exchange to the TokenRefresher (Deadline.Exchange)", () =>
    Effect.gen(function* () {
      const client = yield* HttpClient.HttpClient
      assert.isTrue(Deadline.Exchange in client)
    }).pipe(Effect.provide(NodeTokenClient.layer()))
  )
})
