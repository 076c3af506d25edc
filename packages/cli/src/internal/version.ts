import { createRequire } from "node:module"

/**
 * The package version, printed by `token-refresher --version`: read from this package's own `package.json` (found by
 * the package's name, so the source, the compiled files and the bundled bin all read the same file), which
 * `pnpm changeset version` keeps current. The CLI's end-to-end test compares the two.
 */
export const version: string = (
  createRequire(import.meta.url)("@token-refresher/cli/package.json") as { readonly version: string }
).version
