import { assert } from "@effect/vitest"
import { Session, TokenRefresher, TokenSet, TokenStore } from "@token-refresher/core"
import { MockTokenEndpoint, TestStack } from "@token-refresher/testing"
import { Effect, Option, Redacted, Schema, Tracer } from "effect"

export const tokenUrl = "https://accounts.spotify.com/api/token"
export const clientId = "client-id"
export const clientSecret = Redacted.make("client-secret")
export const savedRefreshToken = Redacted.make("saved-refresh-token")

/** The refresher over a mock endpoint scripted with `replies`; the mock's record stays in context. */
export const refresherWith = (replies: Iterable<MockTokenEndpoint.Reply>, options?: Partial<TokenRefresher.Options>) =>
  TestStack.refresher(replies, { tokenUrl, clientId, clientSecret, ...options })

export const refreshFailure = (options?: TokenRefresher.RefreshOptions) =>
  Effect.flip(TokenRefresher.refresh(savedRefreshToken, options))

export const requests = Effect.flatMap(MockTokenEndpoint.MockTokenEndpoint, (mock) => mock.requests)

export const requestCount = Effect.flatMap(MockTokenEndpoint.MockTokenEndpoint, (mock) => mock.count)

/**
 * Compares an error with the expected one field by field (and by message). Errors raised inside a span are proxies
 * that carry the span, which chai's deep equality cannot walk.
 */
export const assertError = <E extends { readonly _tag: string; readonly message: string }>(actual: E, expected: E) =>
  assert.deepStrictEqual({ ...actual, message: actual.message }, { ...expected, message: expected.message })

/** A tracer that wraps the current one and keeps every span it creates, for assertions on names and attributes. */
export const recordingTracer = Effect.map(Effect.tracer, (native) => {
  const spans: Array<Tracer.Span> = []
  const tracer = Tracer.make({
    span: (...args) => {
      const span = native.span(...args)
      spans.push(span)
      return span
    },
    context: native.context
  })
  return { tracer, spans }
})

/** The tokens of the `Active` session `key` in the store in context; a test failure for any other state. */
export const storedTokens = (key: string = TokenStore.defaultKey) =>
  Effect.map(TokenStore.get(key), (stored) => {
    assert.isTrue(Option.isSome(stored) && stored.value._tag === "Active", `session ${key} is Active`)
    return Option.getOrThrow(Option.flatMap(stored, Session.tokens))
  })

/** A session as a store's backend keeps it: its JSON text. */
export const encoded = (session: Session.Session | TokenSet.TokenSet): string =>
  Schema.encodeSync(Session.SessionFromJson)(Session.isSession(session) ? session : Session.active(session))

/** The string key-value store under a `TokenStore.make` in tests: what a backend holds. */
export const stringBackend = (entries: Map<string, string>) => ({
  location: "test",
  get: (key: string) => Effect.sync(() => Option.fromNullable(entries.get(key))),
  set: (key: string, value: string) => Effect.sync(() => void entries.set(key, value)),
  remove: (key: string) => Effect.sync(() => void entries.delete(key)),
  keys: () => Effect.sync(() => [...entries.keys()].sort())
})

/** A backend's JSON text read back as a session. */
export const decoded = (text: string): Session.Session => Schema.decodeSync(Session.SessionFromJson)(text)
