import { Effect } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

export interface Received {
  readonly method: string
  readonly url: string
  readonly headers: Http.IncomingHttpHeaders
  readonly body: string
}

export type Handler = (request: Received, response: Http.ServerResponse) => void

/** A real `node:http` server on 127.0.0.1 (port 0), closed with the scope; it records what reached it. */
export const testServer = (handler: Handler) =>
  Effect.acquireRelease(
    Effect.async<{ readonly url: string; readonly received: ReadonlyArray<Received> }>((resume) => {
      const received: Array<Received> = []
      const server = Http.createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          const entry = {
            method: request.method ?? "",
            url: request.url ?? "",
            headers: request.headers,
            body: Buffer.concat(chunks).toString("utf8")
          }
          received.push(entry)
          handler(entry, response)
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, received, server }))
      })
    }),
    (running) =>
      Effect.async<void>((resume) => {
        const server = (running as unknown as { server: Http.Server }).server
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

export const sendJson = (
  response: Http.ServerResponse,
  status: number,
  body: unknown,
  headers?: Http.OutgoingHttpHeaders
) => {
  response.writeHead(status, { "content-type": "application/json", ...headers })
  response.end(JSON.stringify(body))
}
