/**
 * The page each tab of the cross-tab tests opens: one `TokenSessions` over a browser store and the fetch refresher,
 * driven from the test through `window.harness`.
 */
import { BrowserTokenRefresher, BrowserTokenStore } from "@token-refresher/browser"
import { TokenSessions, TokenSet } from "@token-refresher/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

export interface StartOptions {
  readonly tokenUrl: string
  readonly clientId: string
  readonly store: "localStorage" | "indexedDb"
  /** The localStorage prefix or the IndexedDB database. */
  readonly name: string
}

export interface Tokens {
  readonly accessToken: string
  readonly refreshToken: string
  /** Seconds from now: negative for an expired access token. */
  readonly expiresIn: number
}

let runtime: ManagedRuntime.ManagedRuntime<TokenSessions.TokenSessions, unknown> | undefined

const run = <A, E>(effect: Effect.Effect<A, E, TokenSessions.TokenSessions>) => runtime!.runPromise(effect)

const harness = {
  start: (options: StartOptions) => {
    const Store =
      options.store === "localStorage"
        ? BrowserTokenStore.layerLocalStorage({ prefix: options.name })
        : BrowserTokenStore.layerIndexedDb({ database: options.name })
    runtime = ManagedRuntime.make(
      TokenSessions.layer().pipe(
        Layer.provide(
          Layer.merge(BrowserTokenRefresher.layer({ tokenUrl: options.tokenUrl, clientId: options.clientId }), Store)
        )
      )
    )
    return run(Effect.void)
  },
  save: (key: string, tokens: Tokens) =>
    run(
      TokenSessions.save(
        key,
        new TokenSet.TokenSet({
          accessToken: Redacted.make(tokens.accessToken),
          refreshToken: Option.some(Redacted.make(tokens.refreshToken)),
          tokenType: "Bearer",
          expiresAt: DateTime.unsafeMake(Date.now() + tokens.expiresIn * 1000),
          scope: [],
          issuedAt: DateTime.unsafeMake(Date.now() - 3_600_000),
          authorizedAt: Option.none(),
          refreshTokenExpiresAt: Option.none()
        })
      )
    ),
  /** `count` callers at once: each one's access token, or `error:<tag>`. */
  callers: (key: string, count: number) =>
    run(
      Effect.all(
        Array.from({ length: count }, () =>
          Effect.map(Effect.either(TokenSessions.accessToken(key)), (result) =>
            Either.isRight(result) ? Redacted.value(result.right) : `error:${result.left._tag}`
          )
        ),
        { concurrency: "unbounded" }
      )
    ),
  remove: (key: string) => run(TokenSessions.remove(key))
}

export type Harness = typeof harness

declare global {
  interface Window {
    harness: Harness
  }
}

window.harness = harness
document.body.dataset.ready = "true"
