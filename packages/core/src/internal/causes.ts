/** The most links of an error's `cause` chain that are looked at: enough for undici's wrappers, and always bounded. */
const maxDepth = 4

/** Whether `error`, or an object on its `cause` chain (at most four deep), satisfies `predicate`. */
export const someCause = (error: unknown, predicate: (cause: object) => boolean): boolean => {
  let current: unknown = error
  for (let depth = 0; depth < maxDepth && typeof current === "object" && current !== null; depth++) {
    if (predicate(current)) return true
    current = (current as { readonly cause?: unknown }).cause
  }
  return false
}
