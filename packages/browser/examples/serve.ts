/**
 * Serves the example page against the fake authorization server (CORS on), both on 127.0.0.1:
 *
 *   pnpm --filter @token-refresher/browser example
 *
 * then open the printed URL (in several tabs, to see them share one session). The browser tests drive the same page.
 */
import { FakeAuthorizationServer } from "@token-refresher/testing/node"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as esbuild from "esbuild"
import * as Fs from "node:fs"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as Path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const here = Path.dirname(fileURLToPath(import.meta.url))

/** The client the page logs in as: the fake server's public client. */
export const clientId = "fake-public-client-id"

/**
 * A browser bundle of `entry` (ESM, `platform: "browser"`), with the workspace's packages read from their sources.
 * `minify` for the size figure; the tests read it unminified.
 */
export const bundle = (entry: string, options?: { readonly minify?: boolean }) =>
  Effect.promise(() =>
    esbuild.build({
      entryPoints: [entry],
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      conditions: ["@token-refresher/source"],
      minify: options?.minify ?? false,
      metafile: true,
      write: false,
      logLevel: "silent"
    })
  ).pipe(
    Effect.map((result) => ({
      code: result.outputFiles[0]!.text,
      /** Every module read, and how many bytes of each are left in the bundle (tree-shaken ones: 0). */
      inputs: Object.entries(Object.values(result.metafile.outputs)[0]!.inputs).map(([path, { bytesInOutput }]) => ({
        path,
        bytes: bytesInOutput
      }))
    }))
  )

/** One file the static server answers with. */
export interface File {
  readonly type: string
  readonly body: string
}

/** A static server on 127.0.0.1 (`port` 0: a free one) that answers `files` by path, and 404 otherwise. */
export const serveStatic = (
  files: (path: string) => File | undefined,
  port = 0
): Effect.Effect<string, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.async<Http.Server>((resume) => {
        const server = Http.createServer((request, response) => {
          const file = files(new URL(request.url ?? "/", "http://page").pathname)
          if (file === undefined) {
            response.writeHead(404, { "content-type": "text/plain" }).end("not found")
            return
          }
          response.writeHead(200, { "content-type": file.type, "cache-control": "no-store" }).end(file.body)
        })
        server.listen(port, "127.0.0.1", () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.async<void>((resume) => {
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    ),
    (server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  )

/**
 * The fake authorization server (rotating refresh tokens, reuse detection, CORS) and the example page served
 * against it. Returns both, for a test to drive.
 */
export const serveExample = (options?: {
  readonly port?: number | undefined
  readonly server?: FakeAuthorizationServer.Options | undefined
}) =>
  Effect.gen(function* () {
    const server = yield* FakeAuthorizationServer.make({ revokeFamilyOnReuse: true, ...options?.server, cors: true })
    const app = yield* bundle(Path.join(here, "app.ts"))
    const html = Fs.readFileSync(Path.join(here, "index.html"), "utf8")
      .replace("%ISSUER%", server.url)
      .replace("%CLIENT_ID%", clientId)
    const url = yield* serveStatic(
      (path) =>
        path === "/"
          ? { type: "text/html; charset=utf-8", body: html }
          : path === "/app.js"
            ? { type: "text/javascript; charset=utf-8", body: app.code }
            : undefined,
      options?.port
    )
    return { url: `${url}/`, server }
  })

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  Effect.runFork(
    Effect.scoped(
      Effect.gen(function* () {
        const { server, url } = yield* serveExample({ port: Number(process.env.PORT ?? 5173) })
        yield* Effect.log(`the example page: ${url} (the fake authorization server: ${server.url}); Ctrl-C stops`)
        return yield* Effect.never
      })
    )
  )
}
