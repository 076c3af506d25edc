import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as DateTime from "effect/DateTime"
import { TokenSet, TokenSetFromJson } from "../TokenSet.js"
import type * as TokenStore from "../TokenStore.js"
import { TokenStoreError } from "../TokenStore.js"

/** The `tokenType` of a sealed `TokenSet`: its `refreshToken` holds base64(iv ‖ AES-256-GCM ciphertext and tag). */
export const sealedType = "token-refresher/aes-256-gcm.v1"

const encodeJson = Schema.encodeSync(TokenSetFromJson)
const decodeJson = Schema.decodeEither(TokenSetFromJson)
const encoder = new TextEncoder()
const decoder = new TextDecoder()

export const importKey = (key: Redacted.Redacted<string>): Effect.Effect<CryptoKey, ConfigError.ConfigError> => {
  const raw = Either.getOrUndefined(Encoding.decodeBase64(Redacted.value(key).trim()))
  if (raw === undefined || raw.length !== 32) {
    return Effect.fail(
      ConfigError.InvalidData(
        ["encryptionKey"],
        "must be 32 random bytes in base64 (make one with: openssl rand -base64 32)"
      )
    )
  }
  return Effect.promise(() =>
    globalThis.crypto.subtle.importKey("raw", new Uint8Array(raw), { name: "AES-GCM" }, false, ["encrypt", "decrypt"])
  )
}

export const seal = (cryptoKey: CryptoKey, key: string, tokens: TokenSet): Effect.Effect<TokenSet> =>
  Effect.promise(async () => {
    const iv = globalThis.crypto.getRandomValues(new Uint8Array(12))
    const sealed = new Uint8Array(
      await globalThis.crypto.subtle.encrypt(
        { name: "AES-GCM", iv, additionalData: encoder.encode(key) },
        cryptoKey,
        encoder.encode(encodeJson(tokens))
      )
    )
    const payload = new Uint8Array(iv.length + sealed.length)
    payload.set(iv)
    payload.set(sealed, iv.length)
    return new TokenSet({
      refreshToken: Option.some(Redacted.make(Encoding.encodeBase64(payload))),
      tokenType: sealedType,
      expiresAt: DateTime.unsafeMake(0),
      scope: []
    })
  })

export const open = (
  cryptoKey: CryptoKey,
  location: string,
  key: string,
  stored: TokenSet
): Effect.Effect<TokenSet, TokenStoreError> => {
  // written before encryption was turned on: read as it is, sealed at its next write
  if (stored.tokenType !== sealedType) return Effect.succeed(stored)
  const corrupt = new TokenStoreError({
    reason: "Corrupt",
    location,
    detail: `the tokens of session "${key}" cannot be decrypted: a wrong key, or a row copied from another session`
  })
  const decoded = Option.isNone(stored.refreshToken)
    ? undefined
    : Either.getOrUndefined(Encoding.decodeBase64(Redacted.value(stored.refreshToken.value)))
  const payload = decoded === undefined ? undefined : new Uint8Array(decoded)
  if (payload === undefined || payload.length < 12 + 16) return Effect.fail(corrupt)
  return Effect.tryPromise({
    try: () =>
      globalThis.crypto.subtle.decrypt(
        { name: "AES-GCM", iv: payload.subarray(0, 12), additionalData: encoder.encode(key) },
        cryptoKey,
        payload.subarray(12)
      ),
    catch: () => corrupt
  }).pipe(
    Effect.flatMap((plain) =>
      Either.match(decodeJson(decoder.decode(plain)), {
        onLeft: () => Effect.fail(corrupt),
        onRight: Effect.succeed
      })
    )
  )
}

export const wrap = (cryptoKey: CryptoKey, store: TokenStore.Service, location: string): TokenStore.Service => ({
  get: (key) =>
    Effect.flatMap(store.get(key), (stored) =>
      Option.isNone(stored) ? Effect.succeedNone : Effect.map(open(cryptoKey, location, key, stored.value), Option.some)
    ),
  set: (key, tokens) => Effect.flatMap(seal(cryptoKey, key, tokens), (sealed) => store.set(key, sealed)),
  remove: store.remove,
  withLock: store.withLock
})
