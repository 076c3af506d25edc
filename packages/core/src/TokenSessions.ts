/**
 * Many sessions in one process: one `TokenManager` per key at a time, created on first use and released when idle.
 *
 * @since 0.2.0
 */
import * as Context from "effect/Context"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Stream from "effect/Stream"
import type * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Jose from "./internal/jose.js"
import { EventSink } from "./internal/sessionEvents.js"
import * as internalSessions from "./internal/sessions.js"
import * as Metrics from "./internal/metrics.js"
import * as internalManager from "./internal/tokenManager.js"
import * as SessionEvent from "./SessionEvent.js"
import * as TokenManager from "./TokenManager.js"
import type * as DateTime from "effect/DateTime"
import type { InvalidGrant, RevocationUnsupported, RevokeError } from "./Errors.js"
import * as Session from "./Session.js"
import { TokenRefresher } from "./TokenRefresher.js"
import type { TokenSet } from "./TokenSet.js"
import { TokenStore, type TokenStoreError } from "./TokenStore.js"

/**
 * The `TokenSessions` service.
 *
 * @since 0.2.0
 * @category models
 */
export interface Service {
  /** A valid access token for the session `key` (its manager's `accessToken`). */
  readonly accessToken: (key: string) => Effect.Effect<Redacted.Redacted<string>, TokenManager.TokenError>
  /** The one shared manager for `key`, held while the scope lives. */
  readonly manager: (key: string) => Effect.Effect<TokenManager.Service, never, Scope.Scope>
  /**
   * Stores the tokens of a login under `key` (a `TokenSet` is stored as `Session.active`; a `Session` as it is, for an
   * import or a seed). It replaces whatever was there, a rejected session included; the live manager of `key`, if
   * any, stops serving what it cached.
   */
  readonly save: (key: string, session: TokenSet | Session.Session) => Effect.Effect<void, TokenStoreError>
  /**
   * Forgets the session `key` (a logout), in the store and in memory. With `revoke: true` its refresh token is first
   * revoked at the provider (RFC 7009) when the provider has a revocation endpoint; if that revocation fails, the
   * session is kept, so the logout can be tried again.
   */
  readonly remove: (
    key: string,
    options?: { readonly revoke?: boolean | undefined }
  ) => Effect.Effect<void, TokenStoreError | Exclude<RevokeError, RevocationUnsupported>>
  /**
   * A valid app token (client credentials) for `scope`: one manager, so one single flight, per set of scopes, kept
   * under `TokenManager.clientCredentialsKey(scope)` in the store. Different scopes never share a token.
   */
  readonly clientCredentials: (options?: {
    readonly scope?: ReadonlyArray<string> | undefined
  }) => Effect.Effect<Redacted.Redacted<string>, TokenManager.TokenError>
  /** What is known of the session `key`, without any token; `None` when nothing is stored under it. */
  readonly status: (key: string) => Effect.Effect<Option.Option<SessionStatus>, TokenStoreError>
  /**
   * A page of the stored sessions, in key order, without any token: at most `limit` keys are read (100 by default,
   * at most {@link maxPageSize}), and those in `state` (all, by default) are returned, so a page may hold fewer than
   * `limit` sessions (none, even) while `next` says there are more. `next` is the `after` of the next page; `None` on
   * the last. Works on every store (it pages with `TokenStore.keys`).
   */
  readonly list: (options?: ListOptions) => Effect.Effect<SessionPage, TokenStoreError>
  /**
   * What happens to the sessions of this process, as events ({@link SessionEvent.SessionEvent}), from the moment the
   * stream is run. Every subscriber gets every event; publishing never waits for a subscriber: one that falls more
   * than `eventBuffer` events behind loses the oldest (so a slow subscriber never slows a refresh).
   */
  readonly events: Stream.Stream<SessionEvent.SessionEvent>
}

/**
 * What {@link Service.list} takes.
 *
 * @since 0.5.0
 * @category models
 */
export interface ListOptions {
  /** Only the sessions in this state. Default: all. */
  readonly state?: Session.Session["_tag"] | undefined
  /** The page starts after this key (the `next` of the page before). */
  readonly after?: string | undefined
  /** How many keys to read. Default: 100; at most {@link maxPageSize}. */
  readonly limit?: number | undefined
}

/**
 * A page of {@link Service.list}.
 *
 * @since 0.5.0
 * @category models
 */
export interface SessionPage {
  readonly sessions: ReadonlyArray<SessionStatus>
  /** The `after` of the next page; `None` on the last. */
  readonly next: Option.Option<string>
}

/**
 * The most keys one page of `list` reads.
 *
 * @since 0.5.0
 * @category constants
 */
export const maxPageSize = 1000

/**
 * What the application may know of a session without seeing a token: its state, and the times that matter.
 *
 * @since 0.4.0
 * @category models
 */
export interface SessionStatus {
  readonly key: string
  /** `Seeded`: never used yet; `Active`: working; `Rejected`: the user must log in again. */
  readonly state: Session.Session["_tag"]
  /** `Active`: when the access token expires. */
  readonly expiresAt?: DateTime.Utc
  /** `Active`: when it was issued. */
  readonly issuedAt?: DateTime.Utc
  /** `Active`: when the user authorised the app, when known. */
  readonly authorizedAt?: DateTime.Utc
  /** `Active`: when the refresh token stops working whatever the refreshes, when known. */
  readonly refreshTokenExpiresAt?: DateTime.Utc
  /** `Seeded`: when the refresh token was put in the store. */
  readonly seededAt?: DateTime.Utc
  /** `Rejected`: when the provider refused the refresh token. */
  readonly rejectedAt?: DateTime.Utc
  /** `Rejected`: the provider's answer. */
  readonly error?: InvalidGrant
}

/**
 * The status of a stored session (see {@link SessionStatus}).
 *
 * @since 0.4.0
 * @category constructors
 */
export const statusOf = (key: string, session: Session.Session): SessionStatus => {
  switch (session._tag) {
    case "Seeded":
      return { key, state: "Seeded", seededAt: session.seededAt }
    case "Active": {
      const { authorizedAt, expiresAt, issuedAt, refreshTokenExpiresAt } = session.tokens
      return {
        key,
        state: "Active",
        expiresAt,
        issuedAt,
        ...Option.match(authorizedAt, { onNone: () => ({}), onSome: (at) => ({ authorizedAt: at }) }),
        ...Option.match(refreshTokenExpiresAt, { onNone: () => ({}), onSome: (at) => ({ refreshTokenExpiresAt: at }) })
      }
    }
    case "Rejected":
      return { key, state: "Rejected", rejectedAt: session.rejectedAt, error: session.error }
  }
}

/**
 * The tag of the `TokenSessions` service.
 *
 * @since 0.2.0
 * @category tags
 */
export class TokenSessions extends Context.Tag("@token-refresher/core/TokenSessions")<TokenSessions, Service>() {}

/**
 * The options of `TokenSessions.layer` and `TokenSessions.make`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** As `TokenManager.Options.leeway`. Default: 60 seconds. */
  readonly leeway?: Duration.DurationInput | undefined
  /** As `TokenManager.Options.refreshAhead`, for every live session. Default: false. */
  readonly refreshAhead?: boolean | undefined
  /** A manager unused this long is released (and its refresh-ahead fiber stopped). Default: 5 minutes. */
  readonly idleTimeToLive?: Duration.DurationInput | undefined
  /** As `TokenManager.Options.refreshTokenWarning`. Default: 7 days. */
  readonly refreshTokenWarning?: Duration.DurationInput | undefined
  /** How many events a subscriber of `events` may fall behind before it loses the oldest. Default: 1,024. */
  readonly eventBuffer?: number | undefined
}

/**
 * Builds the service. There is one manager, and so one single flight, per key at a time; a manager is released
 * between `idleTimeToLive` and 1.5 × `idleTimeToLive` after its last use, so memory does not grow with the number of
 * keys ever seen.
 *
 * A `Retry-After` from the token endpoint holds back every session of the process that uses the same
 * `TokenRefresher`: until it passes they fail at once with a `NetworkError` carrying `retryAfter`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (options?: Options): Effect.Effect<Service, never, TokenRefresher | TokenStore | Scope.Scope> =>
  Effect.gen(function* () {
    const store = yield* TokenStore
    const refresher = yield* TokenRefresher
    const pubsub = yield* PubSub.sliding<SessionEvent.SessionEvent>(Math.max(1, options?.eventBuffer ?? 1024))
    yield* Effect.addFinalizer(() => PubSub.shutdown(pubsub))
    const publish = (event: SessionEvent.SessionEvent) => Effect.asVoid(PubSub.publish(pubsub, event))
    // the managers publish what happens to their session here
    const context = Context.add(yield* Effect.context<TokenRefresher | TokenStore>(), EventSink, publish)
    const idleMillis = Duration.toMillis(Duration.decode(options?.idleTimeToLive ?? "5 minutes"))
    // what a manager of these sessions would use to tell a fresh token
    const leeway = Duration.decode(options?.leeway ?? internalManager.defaultLeeway)
    const minRefreshInterval = Duration.toMillis(Duration.decode(internalManager.defaultMinRefreshInterval))
    const warnWithin = Duration.toMillis(
      Duration.decode(options?.refreshTokenWarning ?? internalManager.defaultRefreshTokenWarning)
    )

    const keepManagers = options?.refreshAhead === true

    /**
     * Not `RcMap` with an `idleTimeToLive`: it keeps one sleeping fiber per idle entry (about 8 KB each, measured), so
     * 100,000 recently used sessions would hold about 800 MB. Here a session whose token is fresh is kept as that token
     * and its refresh time only (`Light`, a few hundred bytes); its manager (`Held`) lives only while a call needs it
     * (a refresh, a caller of `manager`), or for good under `refreshAhead`, whose refresh runs in the background. One
     * sweeper fiber drops the entries idle for longer than `idleTimeToLive`.
     */
    interface Light {
      readonly _tag: "Light"
      readonly accessToken: Redacted.Redacted<string>
      readonly refreshAt: number
      idleSince: number
    }
    interface Held {
      readonly _tag: "Held"
      readonly key: string
      readonly manager: TokenManager.Service
      /** The manager's fresh tokens and its reset, without an effect. */
      readonly internals: internalManager.Internals
      readonly scope: Scope.CloseableScope
      refs: number
      idleSince: number
      /** Dropped from the map (`save`/`remove`): closed when its last user lets go. */
      dropped: boolean
    }
    type Entry = Light | Held
    const entries = new Map<string, Entry>()
    /** `token_refresher_sessions_live`: the sessions held in memory, managers and fresh tokens alike. */
    const countLive = Effect.suspend(() => Metric.set(Metrics.sessionsLive, entries.size))

    /** The access token of `key` from memory, while it is fresh at `now`; the session's idle time starts again. */
    const freshToken = (key: string, now: number): Redacted.Redacted<string> | undefined => {
      const entry = entries.get(key)
      if (entry === undefined) return undefined
      if (entry._tag === "Light") {
        if (now >= entry.refreshAt) return undefined
        entry.idleSince = now
        return entry.accessToken
      }
      const fresh = entry.internals.fresh()
      if (fresh === undefined || now >= fresh.refreshAt) return undefined
      entry.idleSince = now
      return fresh.tokens.accessToken
    }

    const create = (key: string, scopes: ReadonlyArray<string> | undefined) =>
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const common = { key, leeway: options?.leeway, refreshAhead: options?.refreshAhead }
        const manager = yield* (
          scopes === undefined
            ? TokenManager.make({ ...common, refreshTokenWarning: options?.refreshTokenWarning })
            : TokenManager.makeClientCredentials({ ...common, scope: scopes })
        ).pipe(Scope.extend(scope), Effect.provide(context))
        const raced = entries.get(key)
        if (raced !== undefined && raced._tag === "Held") {
          // another fiber created one meanwhile: keep a single manager per key
          yield* Scope.close(scope, Exit.void)
          return raced
        }
        const internals = internalManager.internalsOf.get(manager)!
        const entry: Held = { _tag: "Held", key, manager, internals, scope, refs: 0, idleSince: 0, dropped: false }
        entries.set(key, entry)
        yield* countLive
        return entry
      })

    /**
     * The last user of a manager lets it go: a dropped one is closed; one with fresh tokens is closed and its tokens
     * kept as a `Light` entry (unless `refreshAhead` needs it); any other stays until it is idle for too long.
     */
    const release = (entry: Held) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        entry.refs--
        if (entry.refs > 0) return Effect.void
        entry.idleSince = now
        if (entry.dropped) return Scope.close(entry.scope, Exit.void)
        const fresh = entry.internals.fresh()
        if (keepManagers || fresh === undefined || entries.get(entry.key) !== entry) return Effect.void
        entries.set(entry.key, {
          _tag: "Light",
          accessToken: fresh.tokens.accessToken,
          refreshAt: fresh.refreshAt,
          idleSince: now
        })
        return Scope.close(entry.scope, Exit.void)
      })

    const managerOf = (
      key: string,
      scopes: ReadonlyArray<string> | undefined
    ): Effect.Effect<TokenManager.Service, never, Scope.Scope> =>
      Effect.uninterruptible(
        Effect.gen(function* () {
          const known = entries.get(key)
          const entry = known !== undefined && known._tag === "Held" ? known : yield* create(key, scopes)
          entry.refs++
          yield* Effect.addFinalizer(() => release(entry))
          return entry.manager
        })
      )

    const manager = (key: string) => managerOf(key, undefined)

    const sweep = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const idle: Array<Scope.CloseableScope> = []
      for (const [key, entry] of entries) {
        if (entry._tag === "Light") {
          if (now - entry.idleSince >= idleMillis) entries.delete(key)
        } else if (entry.refs === 0 && now - entry.idleSince >= idleMillis) {
          entries.delete(key)
          idle.push(entry.scope)
        }
      }
      return Effect.zipRight(
        Effect.forEach(idle, (scope) => Scope.close(scope, Exit.void), { discard: true }),
        countLive
      )
    })
    yield* Effect.forkScoped(
      Effect.forever(Effect.zipRight(Effect.sleep(Duration.millis(Math.max(100, idleMillis / 2))), sweep))
    )
    yield* Effect.addFinalizer(() =>
      Effect.forEach(
        [...entries.values()],
        (entry) => (entry._tag === "Held" ? Scope.close(entry.scope, Exit.void) : Effect.void),
        { discard: true }
      )
    )

    /**
     * The first reads in flight, by key: callers of one session that come together share one read. `forgets` counts
     * the sessions written or removed meanwhile, so that a read older than such a write is not kept.
     */
    const firstReads = new Map<string, Deferred.Deferred<Redacted.Redacted<string> | undefined, TokenStoreError>>()
    let forgets = 0

    /**
     * A session with no entry in memory: one read of the store. A session stored `Active` with a fresh token is kept
     * as a `Light` entry at once, with the refresh time a manager would give it, and its token is the answer: no
     * manager is made. Anything else (nothing stored, a seed, a refused session, a token to refresh, a refresh token
     * near its end, which a manager warns about) answers `undefined`, for a manager to handle.
     */
    const firstRead = (key: string): Effect.Effect<Redacted.Redacted<string> | undefined, TokenStoreError> =>
      Effect.suspend(() => {
        const running = firstReads.get(key)
        if (running !== undefined) return Deferred.await(running)
        const done = Deferred.unsafeMake<Redacted.Redacted<string> | undefined, TokenStoreError>(FiberId.none)
        firstReads.set(key, done)
        const forgetsBefore = forgets
        const read = Effect.flatMap(store.get(key), (stored) =>
          Effect.clockWith((clock) => {
            const now = clock.unsafeCurrentTimeMillis()
            if (Option.isNone(stored) || stored.value._tag !== "Active") return Effect.succeed(undefined)
            const tokens = stored.value.tokens
            const refreshAt = internalManager.refreshAtMillis(tokens, leeway, minRefreshInterval)
            const end = tokens.refreshTokenExpiresAt
            if (
              now >= refreshAt ||
              (Option.isSome(end) && end.value.epochMillis - now < warnWithin) ||
              entries.has(key) ||
              forgets !== forgetsBefore
            ) {
              return Effect.succeed(undefined)
            }
            Jose.bind(tokens)
            entries.set(key, { _tag: "Light", accessToken: tokens.accessToken, refreshAt, idleSince: now })
            return Effect.as(countLive, tokens.accessToken)
          })
        )
        // the callers that wait get the same answer, whatever ends the read (an interruption included)
        return Effect.onExit(read, (exit) =>
          Effect.suspend(() => {
            firstReads.delete(key)
            return Deferred.done(done, exit)
          })
        )
      })

    /** The live manager of `key` (if any) forgets what it holds, so it re-reads the store at its next call; then it is dropped. */
    const forget = (key: string) =>
      Effect.suspend(() => {
        forgets++
        const entry = entries.get(key)
        if (entry === undefined) return Effect.void
        entries.delete(key)
        if (entry._tag === "Light") return countLive
        entry.dropped = true
        entry.internals.forget()
        return Effect.zipRight(countLive, entry.refs === 0 ? Scope.close(entry.scope, Exit.void) : Effect.void)
      })

    // news from another instance of the store (another tab): a session written or removed there is read again here
    if (store.changes !== undefined) yield* Effect.forkScoped(Stream.runForEach(store.changes, forget))

    /**
     * A session with a fresh token in memory is answered from there: a map lookup and a clock read. A session not in
     * memory is read from the store, and kept there if its token is fresh (`firstRead`). Anything else (a token to
     * refresh, a refused session) goes through the session's manager, held for the length of the call.
     */
    const tokenOf = (
      key: string,
      scopes: ReadonlyArray<string> | undefined
    ): Effect.Effect<Redacted.Redacted<string>, TokenManager.TokenError> =>
      Effect.clockWith((clock) => {
        const token = freshToken(key, clock.unsafeCurrentTimeMillis())
        if (token !== undefined) return Effect.succeed(token)
        const viaManager = Effect.scoped(Effect.flatMap(managerOf(key, scopes), (m) => m.accessToken))
        return scopes !== undefined || keepManagers || entries.has(key)
          ? viaManager
          : Effect.flatMap(firstRead(key), (read) => (read !== undefined ? Effect.succeed(read) : viaManager))
      })

    const service: Service = {
      accessToken: (key) => tokenOf(key, undefined),
      manager,
      save: (key, session) =>
        Effect.zipRight(
          store.set(key, Session.isSession(session) ? session : Session.active(session)),
          Effect.zipRight(forget(key), publish(SessionEvent.Saved({ key })))
        ),
      remove: (key, removeOptions) =>
        Effect.gen(function* () {
          let revoked = false
          if (removeOptions?.revoke === true && refresher.provider.revocationUrl !== undefined) {
            const stored = yield* store.get(key)
            const refreshToken = Option.flatMap(stored, Session.refreshToken)
            const dpopKey = Option.getOrUndefined(Option.flatMap(stored, Session.dpopKey))
            if (Option.isSome(refreshToken)) {
              revoked = yield* refresher.revoke(refreshToken.value, { hint: "refresh_token", dpopKey }).pipe(
                Effect.as(true),
                Effect.catchTag("RevocationUnsupported", () => Effect.succeed(false))
              )
            }
          }
          yield* store.remove(key)
          yield* forget(key)
          yield* publish(SessionEvent.Removed({ key, revoked }))
        }),
      clientCredentials: (ccOptions) => {
        const key = TokenManager.clientCredentialsKey(ccOptions?.scope)
        return tokenOf(key, ccOptions?.scope ?? [])
      },
      status: (key) =>
        Effect.map(
          store.get(key),
          Option.map((session) => statusOf(key, session))
        ),
      list: (listOptions) => {
        const limit =
          listOptions?.limit === undefined || Number.isNaN(listOptions.limit)
            ? 100
            : Math.min(maxPageSize, Math.max(1, Math.floor(listOptions.limit)))
        return Effect.flatMap(store.keys({ after: listOptions?.after, limit }), (keys) =>
          Effect.map(
            Effect.forEach(
              keys,
              (key) =>
                Effect.map(
                  store.get(key),
                  Option.map((session) => statusOf(key, session))
                ),
              {
                concurrency: 16
              }
            ),
            (statuses): SessionPage => ({
              sessions: statuses.flatMap((status) =>
                Option.isSome(status) && (listOptions?.state === undefined || status.value.state === listOptions.state)
                  ? [status.value]
                  : []
              ),
              next: keys.length < limit ? Option.none() : Option.some(keys[keys.length - 1]!)
            })
          )
        )
      },
      events: Stream.fromPubSub(pubsub)
    }
    internalSessions.freshTokens.set(service, freshToken)
    return TokenSessions.of(service)
  })

/**
 * The `TokenSessions` service as a layer.
 *
 * @example
 * ```ts
 * import { HttpClient } from "@effect/platform"
 * import { BearerAuth, TokenSessions } from "@token-refresher/core"
 * import { NodeTokenClient, NodeTokenStore } from "@token-refresher/node"
 * import { Spotify } from "@token-refresher/spotify"
 * import { Effect, Layer } from "effect"
 *
 * const Sessions = TokenSessions.layer({ idleTimeToLive: "10 minutes" }).pipe(
 *   Layer.provide(Spotify.layerConfig().pipe(Layer.provide(NodeTokenClient.layer()))),
 *   Layer.provide(NodeTokenStore.layerFile("/var/lib/my-app/tokens.json"))
 * )
 *
 * // on behalf of one user: that user's token on the request, and that user's 401 recovery
 * const me = (userId: string) =>
 *   Effect.flatMap(HttpClient.HttpClient, (client) =>
 *     client.pipe(BearerAuth.forSession(userId)).get("https://api.spotify.com/v1/me")
 *   ).pipe(Effect.provide(Layer.merge(Sessions, NodeTokenClient.layer())))
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<TokenSessions, never, TokenRefresher | TokenStore> =>
  Layer.scoped(TokenSessions, make(options))

/**
 * A valid access token for the session `key`, with `TokenSessions` in context.
 *
 * @since 0.2.0
 * @category accessors
 */
export const accessToken = (
  key: string
): Effect.Effect<Redacted.Redacted<string>, TokenManager.TokenError, TokenSessions> =>
  Effect.flatMap(TokenSessions, (sessions) => sessions.accessToken(key))

/**
 * The one shared manager of the session `key`, held while the scope lives, with `TokenSessions` in context.
 *
 * @since 0.4.0
 * @category accessors
 */
export const manager = (key: string): Effect.Effect<TokenManager.Service, never, TokenSessions | Scope.Scope> =>
  Effect.flatMap(TokenSessions, (sessions) => sessions.manager(key))

/**
 * Stores the tokens of a login under `key`, with `TokenSessions` in context.
 *
 * @since 0.4.0
 * @category accessors
 */
export const save = (
  key: string,
  session: TokenSet | Session.Session
): Effect.Effect<void, TokenStoreError, TokenSessions> =>
  Effect.flatMap(TokenSessions, (sessions) => sessions.save(key, session))

/**
 * Forgets the session `key` (a logout), with `TokenSessions` in context.
 *
 * @since 0.4.0
 * @category accessors
 */
export const remove = (
  key: string,
  options?: { readonly revoke?: boolean | undefined }
): Effect.Effect<void, TokenStoreError | Exclude<RevokeError, RevocationUnsupported>, TokenSessions> =>
  Effect.flatMap(TokenSessions, (sessions) => sessions.remove(key, options))

/**
 * A valid app token (client credentials) for `scope`, with `TokenSessions` in context.
 *
 * @since 0.4.0
 * @category accessors
 */
export const clientCredentials = (options?: {
  readonly scope?: ReadonlyArray<string> | undefined
}): Effect.Effect<Redacted.Redacted<string>, TokenManager.TokenError, TokenSessions> =>
  Effect.flatMap(TokenSessions, (sessions) => sessions.clientCredentials(options))

/**
 * What is known of the session `key`, without any token, with `TokenSessions` in context.
 *
 * @since 0.4.0
 * @category accessors
 */
export const status = (key: string): Effect.Effect<Option.Option<SessionStatus>, TokenStoreError, TokenSessions> =>
  Effect.flatMap(TokenSessions, (sessions) => sessions.status(key))

/**
 * A page of the stored sessions, with the `TokenSessions` in context (see {@link Service.list}).
 *
 * @since 0.5.0
 * @category accessors
 */
export const list = (options?: ListOptions): Effect.Effect<SessionPage, TokenStoreError, TokenSessions> =>
  Effect.flatMap(TokenSessions, (sessions) => sessions.list(options))

/**
 * What happens to the sessions of this process, with the `TokenSessions` in context (see {@link Service.events}).
 *
 * @since 0.5.0
 * @category accessors
 */
export const events: Stream.Stream<SessionEvent.SessionEvent, never, TokenSessions> = Stream.unwrap(
  Effect.map(TokenSessions, (sessions) => sessions.events)
)
