import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as Deadline from "../Deadline.js"
import { ReadText } from "../Deadline.js"

const decoder = new TextDecoder()

/**
 * The body as text, reading at most `maxBytes`, or `undefined` when it is longer: a `content-length` above the limit
 * answers before anything is read, and a longer body (chunked, say) stops being read, and its stream is cancelled, as
 * soon as it passes the limit, so memory stays bounded whatever the server sends.
 */
export const boundedText = (
  response: HttpClientResponse.HttpClientResponse,
  maxBytes: number
): Effect.Effect<string | undefined, HttpClientError.ResponseError> => {
  const declared = Number(response.headers["content-length"])
  if (Number.isFinite(declared) && declared > maxBytes) return Effect.succeed(undefined)
  // the client reads its own body once, with the limit (NodeTokenClient)
  if (ReadText in response) return (response as unknown as Deadline.ReadsText)[ReadText](maxBytes)
  return Stream.runFoldWhile(
    response.stream,
    { chunks: [] as Array<Uint8Array>, size: 0 },
    (acc) => acc.size <= maxBytes,
    (acc, chunk) => {
      acc.chunks.push(chunk)
      return { chunks: acc.chunks, size: acc.size + chunk.length }
    }
  ).pipe(
    Effect.map(({ chunks, size }) => {
      if (size > maxBytes) return undefined
      if (chunks.length === 1) return decoder.decode(chunks[0])
      const all = new Uint8Array(size)
      let offset = 0
      for (const chunk of chunks) {
        all.set(chunk, offset)
        offset += chunk.length
      }
      return decoder.decode(all)
    })
  )
}

/** C0 and C1 controls (ESC, CR, LF, NUL, …) and the bidirectional overrides that can disguise text. */
const unsafe = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]+/g

/**
 * Server-sent text made safe to put in a message or a terminal: control characters become a space, and it is cut at
 * `max` characters.
 */
export const sanitize = (text: string, max = 300): string => {
  const clean = text.replace(unsafe, " ").trim()
  return clean.length > max ? `${clean.slice(0, max)}…` : clean
}
