import * as Data from "effect/Data"
import * as Equal from "effect/Equal"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type * as Errors from "../Errors.js"
import type * as Session from "../Session.js"
import type { TokenSet } from "../TokenSet.js"

/**
 * What one manager knows of its session, in memory. Each case is a state the manager can be in; nothing else is
 * representable.
 */
export type State = Data.TaggedEnum<{
  /** Nothing known yet, or the store held nothing (or a seed) when last read: the next call reads the store. */
  Unknown: {}
  /** The tokens the store holds, served while `now < refreshAt`. */
  Fresh: { readonly tokens: TokenSet; readonly refreshAt: number }
  /** The API refused the access token (a 401): refresh before serving, even before `refreshAt`. */
  Stale: { readonly tokens: TokenSet }
  /** Newer than the store: the write failed. The next call writes them (under the lock) before anything else. */
  Unsaved: { readonly tokens: TokenSet; readonly refreshAt: number; readonly stale: boolean }
  /** The provider refused the refresh token: fail with `error`, send nothing, until the store holds another one. */
  Refused: { readonly refreshToken: Option.Option<Redacted.Redacted<string>>; readonly error: Errors.InvalidGrant }
}>

export const State = Data.taggedEnum<State>()

export const unknown: State = State.Unknown()

/** The tokens memory holds, whatever the state. */
export const tokensOf = (state: State): Option.Option<TokenSet> =>
  state._tag === "Fresh" || state._tag === "Stale" || state._tag === "Unsaved"
    ? Option.some(state.tokens)
    : Option.none()

const sameTokens = (a: TokenSet, b: TokenSet): boolean =>
  a === b || (Equal.equals(a.accessToken, b.accessToken) && Equal.equals(a.refreshToken, b.refreshToken))

/** Whether `stored` is an `Active` session of the same tokens as `tokens`. */
export const storesTokens = (stored: Option.Option<Session.Session>, tokens: TokenSet): boolean =>
  Option.isSome(stored) && stored.value._tag === "Active" && sameTokens(tokens, stored.value.tokens)

/** Whether `stored` is what memory already holds, so that reading it changes nothing. */
export const holds = (state: State, stored: Option.Option<Session.Session>): boolean => {
  if (Option.isNone(stored)) return false
  const session = stored.value
  switch (session._tag) {
    case "Active":
      return Option.exists(tokensOf(state), (tokens) => storesTokens(stored, tokens))
    case "Rejected":
      return state._tag === "Refused" && Equal.equals(state.refreshToken, session.refreshToken)
    case "Seeded":
      return false
  }
}

/** The state after reading `stored` from the store, for tokens refreshed at `refreshAtOf(tokens)`. */
export const adopt = (stored: Option.Option<Session.Session>, refreshAtOf: (tokens: TokenSet) => number): State => {
  if (Option.isNone(stored)) return unknown
  const session = stored.value
  switch (session._tag) {
    case "Active":
      return State.Fresh({ tokens: session.tokens, refreshAt: refreshAtOf(session.tokens) })
    case "Rejected":
      return State.Refused({ refreshToken: session.refreshToken, error: session.error })
    case "Seeded":
      return unknown
  }
}

/** A 401 for `token` (or for whatever token is current, when `token` is `None`). */
export const invalidated = (state: State, token: Option.Option<Redacted.Redacted<string>>): State => {
  const current = tokensOf(state)
  if (Option.isNone(current)) return state
  if (Option.isSome(token) && !Equal.equals(current.value.accessToken, token.value)) return state
  switch (state._tag) {
    case "Fresh":
      return State.Stale({ tokens: state.tokens })
    case "Unsaved":
      return State.Unsaved({ ...state, stale: true })
    default:
      return state
  }
}

/** New tokens were granted; they are in memory only until `saved`. */
export const refreshed = (tokens: TokenSet, refreshAt: number): State =>
  State.Unsaved({ tokens, refreshAt, stale: false })

/** The store now holds `tokens`. */
export const saved = (state: State, tokens: TokenSet): State =>
  state._tag === "Unsaved" && state.tokens === tokens && !state.stale
    ? State.Fresh({ tokens, refreshAt: state.refreshAt })
    : state._tag === "Unsaved" && state.tokens === tokens
      ? State.Stale({ tokens })
      : state

/** Whether memory can answer at `now` without the store or the token endpoint. */
export const usableAt = (state: State, now: number): state is Data.TaggedEnum.Value<State, "Fresh"> =>
  state._tag === "Fresh" && now < state.refreshAt
