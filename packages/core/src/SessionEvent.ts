/**
 * What happens to the sessions of a `TokenSessions`, as events (`TokenSessions.events`). No event holds a token.
 *
 * @since 0.5.0
 */
import * as Data from "effect/Data"
import type * as DateTime from "effect/DateTime"
import type { InvalidGrant, RefreshError } from "./Errors.js"

/**
 * An event of one session:
 * - `Refreshed`: this process refreshed the session (`rotated`: the provider sent a new refresh token);
 * - `Rejected`: this process got `invalid_grant` and recorded `Session.Rejected`: the user must log in again;
 * - `RefreshFailed`: the provider's answer to a refresh was another failure (the typed error: `NetworkError`,
 *   `DecodeError`, `OAuthError`, `InvalidClient`);
 * - `Saved` and `Removed`: a login stored (`TokenSessions.save`), a logout done (`TokenSessions.remove`);
 * - `RefreshTokenEnding`: a `SessionKeeper` sweep found that the refresh token ends within `refreshTokenWarning`;
 *   once per session and end across every replica (the report is recorded in the session);
 * - `KeptAlive`: an idle session was refreshed to keep its refresh token alive.
 *
 * @since 0.5.0
 * @category models
 */
export type SessionEvent = Data.TaggedEnum<{
  Refreshed: { readonly key: string; readonly rotated: boolean; readonly expiresAt: DateTime.Utc }
  Rejected: { readonly key: string; readonly error: InvalidGrant }
  RefreshFailed: { readonly key: string; readonly error: Exclude<RefreshError, InvalidGrant> }
  Saved: { readonly key: string }
  Removed: { readonly key: string; readonly revoked: boolean }
  RefreshTokenEnding: { readonly key: string; readonly endsAt: DateTime.Utc }
  KeptAlive: { readonly key: string }
}>

const constructors = Data.taggedEnum<SessionEvent>()

/**
 * @since 0.5.0
 * @category constructors
 */
export const Refreshed = constructors.Refreshed

/**
 * @since 0.5.0
 * @category constructors
 */
export const Rejected = constructors.Rejected

/**
 * @since 0.5.0
 * @category constructors
 */
export const RefreshFailed = constructors.RefreshFailed

/**
 * @since 0.5.0
 * @category constructors
 */
export const Saved = constructors.Saved

/**
 * @since 0.5.0
 * @category constructors
 */
export const Removed = constructors.Removed

/**
 * @since 0.5.0
 * @category constructors
 */
export const RefreshTokenEnding = constructors.RefreshTokenEnding

/**
 * @since 0.5.0
 * @category constructors
 */
export const KeptAlive = constructors.KeptAlive

/**
 * Whether a value is an event of a given tag: `SessionEvent.$is("Rejected")(event)`.
 *
 * @since 0.5.0
 * @category guards
 */
export const $is = constructors.$is

/**
 * Handles each tag of an event: `SessionEvent.$match(event, { Rejected: ..., ... })`.
 *
 * @since 0.5.0
 * @category pattern matching
 */
export const $match = constructors.$match
