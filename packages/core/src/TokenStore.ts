/**
 * Where the current `TokenSet` is kept between refreshes (and between runs).
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Redacted from "effect/Redacted"
import { fromRefreshToken, type TokenSet } from "./TokenSet.js"

/**
 * A store could not read or write the tokens. Its message names the store (a file's path) and never holds a token.
 *
 * @since 0.1.0
 * @category errors
 */
export class TokenStoreError extends Schema.TaggedError<TokenStoreError>("@token-refresher/core/TokenStoreError")(
  "TokenStoreError",
  {
    /** `Read`/`Write`: the storage failed; `Corrupt`: it holds something that is not a `TokenSet`. */
    reason: Schema.Literal("Read", "Write", "Corrupt"),
    /** Which store: a file's path, say. */
    location: Schema.String,
    /** What went wrong, without any stored value. */
    detail: Schema.String
  }
) {
  override get message(): string {
    return `Token store ${this.location}: ${this.detail}`
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The stored tokens, `None` when nothing is stored yet. */
  readonly get: Effect.Effect<Option.Option<TokenSet>, TokenStoreError>
  /** Replaces the stored tokens. */
  readonly set: (tokens: TokenSet) => Effect.Effect<void, TokenStoreError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class TokenStore extends Context.Tag("@token-refresher/core/TokenStore")<TokenStore, Service>() {}

/**
 * A store in memory, lost with the process. Seed it with `TokenSet.fromRefreshToken(...)`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (initial?: TokenSet): Effect.Effect<Service> =>
  Effect.map(Ref.make(Option.fromNullable(initial)), (ref) => ({
    get: Ref.get(ref),
    set: (tokens) => Ref.set(ref, Option.some(tokens))
  }))

/**
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (initial?: TokenSet): Layer.Layer<TokenStore> =>
  Layer.effect(TokenStore, makeMemory(initial))

/**
 * @since 0.1.0
 * @category accessors
 */
export const get: Effect.Effect<Option.Option<TokenSet>, TokenStoreError, TokenStore> = Effect.flatMap(
  TokenStore,
  (store) => store.get
)

/**
 * @since 0.1.0
 * @category accessors
 */
export const set = (tokens: TokenSet): Effect.Effect<void, TokenStoreError, TokenStore> =>
  Effect.flatMap(TokenStore, (store) => store.set(tokens))

/**
 * Seeds an empty store with a bare refresh token read from `Config` (e.g.
 * `Config.redacted("SPOTIFY_REFRESH_TOKEN")`), marked expired so its first use refreshes. A store that already holds
 * tokens, or a missing or empty variable, is left as it is.
 *
 * @since 0.1.0
 * @category combinators
 */
export const seeded =
  (refreshToken: Config.Config<Redacted.Redacted<string>>) =>
  <E, R>(
    self: Layer.Layer<TokenStore, E, R>
  ): Layer.Layer<TokenStore, E | ConfigError.ConfigError | TokenStoreError, R> =>
    Layer.effect(
      TokenStore,
      Effect.gen(function* () {
        const store = yield* TokenStore
        if (Option.isNone(yield* store.get)) {
          const seed = Option.filter(yield* Config.option(refreshToken), (token) => Redacted.value(token).length > 0)
          if (Option.isSome(seed)) yield* store.set(fromRefreshToken(seed.value))
        }
        return store
      })
    ).pipe(Layer.provide(self))
