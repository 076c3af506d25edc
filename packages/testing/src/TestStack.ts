/**
 * The layers a unit test of token code usually builds, over `MockTokenEndpoint`: a `TokenRefresher`, a
 * `TokenManager` with its store, and `TokenSet`s from plain values. Browser-safe, like the rest of the main entry.
 *
 * @since 0.3.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { TokenManager, TokenRefresher, TokenSet, TokenStore } from "@token-refresher/core"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as MockTokenEndpoint from "./MockTokenEndpoint.js"

/**
 * The refresher options the stacks use unless told otherwise: a confidential client of
 * `https://accounts.example.com/token`.
 *
 * @since 0.3.0
 * @category constants
 */
export const refresherOptions: TokenRefresher.Options = {
  tokenUrl: "https://accounts.example.com/token",
  clientId: "client-id",
  clientSecret: Redacted.make("client-secret")
}

/**
 * A `TokenRefresher` over a mock endpoint scripted with `replies`; the mock stays in context for its record.
 *
 * @example
 * ```ts
 * import { TokenRefresher } from "@token-refresher/core"
 * import { MockTokenEndpoint, TestStack } from "@token-refresher/testing"
 * import { Effect, Redacted } from "effect"
 *
 * const tokens = TokenRefresher.refresh(Redacted.make("r")).pipe(
 *   Effect.provide(TestStack.refresher([MockTokenEndpoint.ok({ rotate: true })]))
 * )
 * ```
 *
 * @since 0.3.0
 * @category layers
 */
export const refresher = (
  replies: Iterable<MockTokenEndpoint.Reply> | MockTokenEndpoint.Handler,
  options?: Partial<TokenRefresher.Options>
): Layer.Layer<TokenRefresher.TokenRefresher | MockTokenEndpoint.MockTokenEndpoint | HttpClient.HttpClient> =>
  TokenRefresher.layer({ ...refresherOptions, ...options }).pipe(
    Layer.provideMerge(MockTokenEndpoint.layer(replies)),
    Layer.orDie
  )

/**
 * The options of `manager` and `managerOn`.
 *
 * @since 0.3.0
 * @category models
 */
export interface StackOptions {
  readonly manager?: TokenManager.Options | undefined
  readonly refresher?: Partial<TokenRefresher.Options> | undefined
}

/**
 * What `manager` and `managerOn` put in context.
 *
 * @since 0.3.0
 * @category models
 */
export type StackServices =
  | TokenManager.TokenManager
  | TokenStore.TokenStore
  | TokenRefresher.TokenRefresher
  | MockTokenEndpoint.MockTokenEndpoint
  | HttpClient.HttpClient

/**
 * A `TokenManager` over a memory store that starts with `initial` (a `Session` or `TokenSet` under the default key,
 * or `[key, session]` pairs) and a refresher over a mock endpoint scripted with `replies`; everything stays in context.
 *
 * @since 0.3.0
 * @category layers
 */
export const manager = (
  replies: Iterable<MockTokenEndpoint.Reply> | MockTokenEndpoint.Handler,
  initial?: TokenStore.Initial,
  options?: StackOptions
): Layer.Layer<StackServices> => managerOn(TokenStore.layerMemory(initial), replies, options)

/**
 * A `TokenManager` over the store that `store` builds (a file, a database, a store with faults), and a refresher over
 * a mock endpoint scripted with `replies`; everything stays in context.
 *
 * @since 0.3.0
 * @category layers
 */
export const managerOn = <E>(
  store: Layer.Layer<TokenStore.TokenStore, E>,
  replies: Iterable<MockTokenEndpoint.Reply> | MockTokenEndpoint.Handler,
  options?: StackOptions
): Layer.Layer<StackServices> =>
  TokenManager.layer(options?.manager).pipe(
    Layer.provideMerge(Layer.orDie(store)),
    Layer.provideMerge(refresher(replies, options?.refresher))
  )

/**
 * A `TokenSet` from plain values, with test defaults: access token `access`, refresh token `refresh`, `Bearer`,
 * expiring an hour after the epoch (`TestClock` time 0) and issued at 0.
 *
 * @since 0.3.0
 * @category constructors
 */
export const tokens = (fields?: Partial<TokenSet.MakeOptions>): TokenSet.TokenSet =>
  TokenSet.make({ accessToken: "access", refreshToken: "refresh", expiresAt: 3_600_000, issuedAt: 0, ...fields })
