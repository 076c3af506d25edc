import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

/** What the stores of 0.3 wrote in `tokenType` of a sealed row: its `refreshToken` held the payload. */
export const legacySealedType = "token-refresher/aes-256-gcm.v1"

/** The version prefix of a sealed value: what follows is base64(iv ‖ AES-256-GCM ciphertext and tag). */
export const envelopePrefix = "token-refresher:aes-256-gcm:v1:"

/** Any envelope this library writes, of this version or a later one. */
const anyEnvelope = "token-refresher:"

export const isEnvelope = (text: string): boolean => text.startsWith(anyEnvelope)

/**
 * Seals and opens the strings a store keeps, with the session key as additional data (a value moved to another key
 * does not open).
 */
export interface Cipher {
  readonly seal: (key: string, plaintext: string) => Effect.Effect<string>
  /** `None`: the value does not open with this key (a wrong key, a tampered or moved value, an unknown version). */
  readonly open: (key: string, envelope: string) => Effect.Effect<Option.Option<string>>
  /** Opens the payload of a row sealed by 0.3 (base64 of iv ‖ ciphertext, the same algorithm). */
  readonly openPayload: (key: string, payload: string) => Effect.Effect<Option.Option<string>>
}

/** The encryption of the store being built: `TokenStore.make` seals and opens with it when it is in context. */
export class StoreCipher extends Context.Tag("@token-refresher/core/TokenStore/Cipher")<StoreCipher, Cipher>() {}

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

export const makeCipher = (cryptoKey: CryptoKey): Cipher => {
  const openPayload = (key: string, payload: string): Effect.Effect<Option.Option<string>> => {
    const decoded = Either.getOrUndefined(Encoding.decodeBase64(payload))
    if (decoded === undefined || decoded.length < 12 + 16) return Effect.succeedNone
    const bytes = new Uint8Array(decoded)
    return Effect.promise(() =>
      globalThis.crypto.subtle
        .decrypt(
          { name: "AES-GCM", iv: bytes.subarray(0, 12), additionalData: encoder.encode(key) },
          cryptoKey,
          bytes.subarray(12)
        )
        .then(
          (plain) => Option.some(decoder.decode(plain)),
          () => Option.none()
        )
    )
  }
  return {
    seal: (key, plaintext) =>
      Effect.promise(async () => {
        const iv = globalThis.crypto.getRandomValues(new Uint8Array(12))
        const sealed = new Uint8Array(
          await globalThis.crypto.subtle.encrypt(
            { name: "AES-GCM", iv, additionalData: encoder.encode(key) },
            cryptoKey,
            encoder.encode(plaintext)
          )
        )
        const payload = new Uint8Array(iv.length + sealed.length)
        payload.set(iv)
        payload.set(sealed, iv.length)
        return envelopePrefix + Encoding.encodeBase64(payload)
      }),
    open: (key, envelope) =>
      envelope.startsWith(envelopePrefix)
        ? openPayload(key, envelope.slice(envelopePrefix.length))
        : Effect.succeedNone,
    openPayload
  }
}
