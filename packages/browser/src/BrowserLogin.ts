/**
 * A login in the browser: the authorization code flow with PKCE, by redirect. `start` (or `redirect`) on the way out,
 * `complete` on the redirect URI.
 *
 * @since 0.6.0
 */
import {
  type Errors,
  Pkce,
  Provider,
  TokenRefresher,
  TokenSessions,
  type TokenSet,
  TokenStore
} from "@token-refresher/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

/**
 * Why a login did not complete:
 * - `StateMismatch`: the redirect's `state` is not the one this tab's `start` made (a redirect this tab did not start,
 *   a forged one, or a login started in another tab or already completed);
 * - `Denied`: the provider sent an error instead of a code (the user refused, say): its `error` and description;
 * - `MissingCode`: the redirect has neither a code nor an error;
 * - `Unsupported`: the provider has no authorization endpoint, or the page has no `sessionStorage`.
 *
 * @since 0.6.0
 * @category errors
 */
export class LoginError extends Schema.TaggedError<LoginError>("@token-refresher/browser/LoginError")("LoginError", {
  reason: Schema.Literal("StateMismatch", "Denied", "MissingCode", "Unsupported"),
  /** The provider's `error` code, with `Denied` (`access_denied`, say). */
  error: Schema.optional(Schema.String),
  /** The provider's `error_description`, or what is missing. */
  description: Schema.optional(Schema.String)
}) {
  override get message(): string {
    switch (this.reason) {
      case "StateMismatch":
        return "The login's redirect does not match a login started in this tab (its state differs): start it again."
      case "Denied":
        return `The provider refused the login: ${this.error ?? "no error code"}${
          this.description === undefined ? "" : ` (${this.description})`
        }.`
      case "MissingCode":
        return "The login's redirect carries no authorization code."
      case "Unsupported":
        return `The login cannot start here: ${this.description ?? "unsupported"}.`
    }
  }
}

/**
 * What {@link start} takes.
 *
 * @since 0.6.0
 * @category models
 */
export interface StartOptions {
  /** The provider: a preset's `provider`, or `Provider.discover(issuer)`. It needs an authorization endpoint. */
  readonly provider: Provider.Provider
  readonly clientId: string
  /** The page that calls {@link complete}: registered with the provider, and on this origin. */
  readonly redirectUri: string
  readonly scope?: ReadonlyArray<string> | undefined
  /** The session the login is saved under. Default: `TokenStore.defaultKey`. */
  readonly key?: string | undefined
  /** Provider-specific parameters of the authorization request. */
  readonly params?: Readonly<Record<string, string>> | undefined
}

/**
 * What {@link complete} takes.
 *
 * @since 0.6.0
 * @category models
 */
export interface CompleteOptions {
  /** The redirect's URL. Default: the page's (`location.href`), which is then cleaned of the login's parameters. */
  readonly url?: string | URL | undefined
  /** The session to save under. Default: the `key` given to {@link start}, else `TokenStore.defaultKey`. */
  readonly key?: string | undefined
}

/**
 * The name of the `sessionStorage` item that holds the login in progress (its verifier and `state`) between
 * {@link start} and {@link complete}. `sessionStorage` is the tab's own and dies with it.
 *
 * @since 0.6.0
 * @category constants
 */
export const pendingItem = "token-refresher:login"

const Pending = Schema.parseJson(
  Schema.Struct({
    state: Schema.String,
    verifier: Schema.String,
    redirectUri: Schema.String,
    key: Schema.String
  })
)
const encodePending = Schema.encodeSync(Pending)
const decodePending = Schema.decodeUnknownOption(Pending)

/** The parameters of an authorization response, removed from the address bar once read. */
const responseParams = ["code", "state", "error", "error_description", "error_uri", "iss"] as const

const sessionStorageOf = (): Storage | undefined => {
  try {
    return globalThis.sessionStorage
  } catch {
    return undefined
  }
}

const unsupported = (description: string) => new LoginError({ reason: "Unsupported", description })

/**
 * Starts a login: makes a PKCE verifier and a `state`, keeps them in this tab's `sessionStorage`, and returns the
 * authorization URL to send the user to. A second `start` replaces the first.
 *
 * @since 0.6.0
 * @category constructors
 */
export const start = (options: StartOptions): Effect.Effect<string, LoginError> =>
  Effect.gen(function* () {
    const storage = sessionStorageOf()
    if (storage === undefined) return yield* unsupported("this page has no sessionStorage")
    const pkce = yield* Pkce.make
    const state = yield* Pkce.randomString(16)
    const url = Provider.authorizationUrl(options.provider, {
      clientId: options.clientId,
      redirectUri: options.redirectUri,
      state,
      scope: options.scope,
      codeChallenge: pkce.challenge,
      params: options.params
    })
    if (Option.isNone(url)) return yield* unsupported(`${options.provider.name} has no authorization endpoint`)
    const pending = encodePending({
      state,
      verifier: Redacted.value(pkce.verifier),
      redirectUri: options.redirectUri,
      key: options.key ?? TokenStore.defaultKey
    })
    yield* Effect.try({
      try: () => storage.setItem(pendingItem, pending),
      catch: () => unsupported("sessionStorage refused the login's verifier")
    })
    return url.value
  })

/**
 * {@link start}, then sends the page to the authorization URL (`location.assign`).
 *
 * @since 0.6.0
 * @category constructors
 */
export const redirect = (options: StartOptions): Effect.Effect<void, LoginError> =>
  Effect.flatMap(start(options), (url) => Effect.sync(() => globalThis.location.assign(url)))

/**
 * Completes a login on the redirect URI: checks the `state` against the login this tab started, exchanges the code
 * (with the PKCE verifier), and saves the session through `TokenSessions.save`, so every tab's managers see it. The
 * login's parameters (`code`, `state`, and an error's) are removed from the address bar (`history.replaceState`) in
 * every outcome, and the login in progress is forgotten: a code is used once. Returns the tokens saved.
 *
 * @since 0.6.0
 * @category constructors
 */
export const complete = (
  options?: CompleteOptions
): Effect.Effect<
  { readonly key: string; readonly tokens: TokenSet.TokenSet },
  LoginError | Errors.RefreshError | TokenStore.TokenStoreError,
  TokenRefresher.TokenRefresher | TokenSessions.TokenSessions
> =>
  Effect.gen(function* () {
    const ownPage = options?.url === undefined
    const url = new URL(options?.url ?? globalThis.location.href)
    const params = url.searchParams
    const storage = sessionStorageOf()
    const pending = storage === undefined ? Option.none() : decodePending(storage.getItem(pendingItem))
    yield* Effect.sync(() => {
      storage?.removeItem(pendingItem)
      if (ownPage && typeof globalThis.history?.replaceState === "function") {
        const clean = new URL(url)
        for (const name of responseParams) clean.searchParams.delete(name)
        globalThis.history.replaceState(globalThis.history.state, "", clean)
      }
    })
    const state = params.get("state")
    if (Option.isNone(pending) || state === null || state !== pending.value.state) {
      return yield* new LoginError({ reason: "StateMismatch" })
    }
    const error = params.get("error")
    if (error !== null) {
      const description = params.get("error_description")
      return yield* new LoginError({
        reason: "Denied",
        error,
        ...(description === null ? {} : { description })
      })
    }
    const code = params.get("code")
    if (code === null || code === "") return yield* new LoginError({ reason: "MissingCode" })
    const tokens = yield* TokenRefresher.TokenRefresher.pipe(
      Effect.flatMap((refresher) =>
        refresher.exchangeCode({
          code: Redacted.make(code),
          redirectUri: pending.value.redirectUri,
          codeVerifier: Redacted.make(pending.value.verifier)
        })
      )
    )
    const key = options?.key ?? pending.value.key
    yield* TokenSessions.save(key, tokens)
    return { key, tokens }
  })
