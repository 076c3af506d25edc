/**
 * The members of the sorted-set index of session keys.
 *
 * Redis orders the members of a sorted set whose scores are all equal by their bytes (`memcmp`). Plain UTF-8 bytes
 * sort by code point, which differs from JavaScript's string order (by UTF-16 code unit) for keys that mix
 * characters of U+E000 to U+FFFF with characters beyond U+FFFF. So each member is the key in CESU-8: every UTF-16 code
 * unit, surrogates included, encoded on its own as UTF-8 encodes a code point of the same value. That encoding keeps
 * the order of code units and is prefix-free, so byte order is JavaScript's order; it is UTF-8 itself for every key
 * without characters beyond U+FFFF (what `redis-cli` shows is the key); and no member holds the byte `0xff`, which
 * bounds a range of keys under a prefix.
 */

/** A key as the member that the index holds for it. */
export const encode = (key: string): Buffer => {
  const bytes: Array<number> = []
  for (let i = 0; i < key.length; i++) {
    const unit = key.charCodeAt(i)
    if (unit < 0x80) bytes.push(unit)
    else if (unit < 0x800) bytes.push(0xc0 | (unit >> 6), 0x80 | (unit & 0x3f))
    else bytes.push(0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f))
  }
  return Buffer.from(bytes)
}

/** The key of a member of the index. */
export const decode = (member: Buffer): string => {
  const units: Array<number> = []
  for (let i = 0; i < member.length;) {
    const lead = member[i]!
    if (lead < 0x80) {
      units.push(lead)
      i += 1
    } else if (lead < 0xe0) {
      units.push(((lead & 0x1f) << 6) | (member[i + 1]! & 0x3f))
      i += 2
    } else {
      units.push(((lead & 0x0f) << 12) | ((member[i + 1]! & 0x3f) << 6) | (member[i + 2]! & 0x3f))
      i += 3
    }
  }
  let key = ""
  // in slices: `String.fromCharCode(...units)` overflows the stack for very long keys
  for (let i = 0; i < units.length; i += 4096) key += String.fromCharCode(...units.slice(i, i + 4096))
  return key
}

const lexBound = (marker: "[" | "(", key: string, tail: ReadonlyArray<number> = []): Buffer =>
  Buffer.concat([Buffer.from(marker), encode(key), Buffer.from(tail)])

/**
 * The `ZRANGEBYLEX` bounds of the keys that start with `prefix` and come strictly after `after`: from `[prefix` (or
 * `(after` when it comes later) to `(prefix\xff`, or the whole set's `-` and `+`.
 */
export const range = (prefix: string, after: string | undefined): { readonly min: Buffer; readonly max: Buffer } => ({
  min:
    after !== undefined && after >= prefix
      ? lexBound("(", after)
      : prefix === ""
        ? Buffer.from("-")
        : lexBound("[", prefix),
  max: prefix === "" ? Buffer.from("+") : lexBound("(", prefix, [0xff])
})

/** A `SCAN MATCH` pattern for the keys that start with `prefix`: its glob characters are escaped. */
export const matchPrefix = (prefix: string): string => `${prefix.replace(/[*?[\]\\]/g, "\\$&")}*`
