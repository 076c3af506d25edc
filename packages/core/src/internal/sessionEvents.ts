import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { SessionEvent } from "../SessionEvent.js"

/** Where the managers of a `TokenSessions` publish what happens to their session. */
export class EventSink extends Context.Tag("@token-refresher/core/internal/EventSink")<
  EventSink,
  (event: SessionEvent) => Effect.Effect<void>
>() {}
