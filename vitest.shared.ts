import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { UserWorkspaceConfig } from "vitest/config"
import { chromiumArgs, chromiumPath } from "./packages/browser/test/chromiumFlags.js"
import * as Fs from "node:fs"

const root = path.dirname(fileURLToPath(import.meta.url))

const packages = ["core", "spotify", "providers", "node", "testing", "cli", "sql", "redis", "browser"] as const

/**
 * Workspace packages resolve to their sources, so tests run on a fresh clone without a build.
 */
export const alias = [
  // subpath exports: @token-refresher/testing/TokenStoreContract
  {
    find: /^@token-refresher\/(\w+)\/(\w+)$/,
    replacement: path.join(root, "packages", "$1", "src", "$2.ts")
  },
  ...packages.map((name) => ({
    find: new RegExp(`^@token-refresher/${name}$`),
    replacement: path.join(root, "packages", name, "src", "index.ts")
  }))
]

export const project = (name: (typeof packages)[number]): UserWorkspaceConfig => ({
  resolve: { alias },
  test: {
    name,
    root: path.join(root, "packages", name),
    include: ["test/**/*.test.ts"],
    exclude: ["test/**/*.browser.test.ts"],
    sequence: { concurrent: false },
    fileParallelism: false,
    testTimeout: 20_000,
    // these packages' end-to-end tests run built code in child processes
    ...(name === "node" || name === "cli" ? { globalSetup: ["test/globalSetup.ts"] } : {})
  }
})

/** The browser package's `*.browser.test.ts`: they run in Chromium (vitest's browser mode), not in Node. */
export const browserProject: UserWorkspaceConfig = {
  resolve: { alias },
  test: {
    name: "browser (chromium)",
    root: path.join(root, "packages", "browser"),
    include: ["test/**/*.browser.test.ts"],
    sequence: { concurrent: false },
    fileParallelism: false,
    testTimeout: 30_000,
    browser: {
      enabled: true,
      provider: "playwright",
      headless: true,
      screenshotFailures: false,
      instances: [{ browser: "chromium", launch: { executablePath: chromiumPath, args: [...chromiumArgs] } }]
    }
  }
}

const hasChromium = Fs.existsSync(chromiumPath)
if (!hasChromium && !["1", "true"].includes(process.env.CI ?? "")) {
  console.warn(`Chromium tests skipped: no ${chromiumPath}. Run \`apt-get install -y chromium\` to run them.`)
}

/** Every project; the Chromium one only where there is a Chromium (in CI it must be there, and fails otherwise). */
export const projects = [...packages.map(project), ...(hasChromium || process.env.CI ? [browserProject] : [])]
