/** `input` parsed, or `undefined` for text that is not a URL (a relative one, say): never a throw. */
export const parseUrl = (input: string): URL | undefined => {
  try {
    return new URL(input)
  } catch {
    return undefined
  }
}
