import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Fs from "node:fs"
import { type Browser, chromium } from "playwright-core"
import { chromiumArgs, chromiumPath } from "./chromiumFlags.js"

/**
 * Whether Debian's Chromium is here (`apt-get install chromium`; `scripts/test-servers.sh` installs it). Without it the
 * Chromium tests are skipped with one line saying so, except in CI (`CI` set to 1 or true), where that is an error.
 */
export const hasChromium: boolean = Fs.existsSync(chromiumPath)

if (!hasChromium) {
  if (["1", "true"].includes(process.env.CI ?? "")) {
    throw new Error(`CI is set but there is no Chromium at ${chromiumPath}: .ci/run must install it`)
  }
  console.warn(`Chromium tests skipped: no ${chromiumPath}. Run \`apt-get install -y chromium\` to run them.`)
}

/** Chromium, driven by playwright-core (nothing is downloaded), closed with the scope. */
export const launch: Effect.Effect<Browser, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(() => chromium.launch({ executablePath: chromiumPath, args: [...chromiumArgs] })),
  (browser) => Effect.promise(() => browser.close())
)
