import * as Fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { UserWorkspaceConfig } from "vitest/config"
import { chromiumArgs, chromiumPath } from "./packages/browser/test/chromiumFlags.js"

const root = path.dirname(fileURLToPath(import.meta.url))

const packages = ["core", "spotify", "providers", "node", "testing", "cli", "sql", "redis", "browser"] as const
type Package = (typeof packages)[number]

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

/**
 * The test files that start other processes (Node children, Chromium), use the database servers, measure real time
 * against a real clock under load, or load the machine for a minute: they need the machine to themselves, so they run one at a time, after the
 * in-process files (which run in parallel). A new file of that kind belongs here.
 */
export const serialFiles: { readonly [P in Package]?: ReadonlyArray<string> } = {
  // 100,000 keys and 100,000 saves: hundreds of MB of heap and a minute of CPU, which starve parallel workers
  core: ["test/TokenSessions.test.ts", "test/TokenStore.test.ts"],
  node: [
    "test/MultiProcess.test.ts",
    "test/NodeTokenStore.test.ts",
    "test/NodeTokenStoreContract.test.ts",
    "test/Faults.test.ts",
    "test/oidc/OidcProvider.test.ts"
  ],
  cli: ["test/**/*.test.ts"],
  sql: ["test/**/*.test.ts"],
  redis: ["test/**/*.test.ts"],
  testing: ["test/Entries.test.ts"],
  browser: ["test/Tabs.test.ts", "test/Counter.test.ts", "test/Example.test.ts"]
}

/** These packages' end-to-end tests run built code in child processes: build first (incremental). */
const globalSetupOf = (name: Package) =>
  name === "node" || name === "cli"
    ? { globalSetup: [path.join(root, "packages", name, "test", "globalSetup.ts")] }
    : {}

/** A package's in-process test files: they run in parallel with every other package's, first (group 0). */
export const project = (name: Package): UserWorkspaceConfig => ({
  resolve: { alias },
  test: {
    name,
    root: path.join(root, "packages", name),
    include: ["test/**/*.test.ts"],
    exclude: ["test/**/*.browser.test.ts", ...(serialFiles[name] ?? [])],
    sequence: { concurrent: false, groupOrder: 0 },
    // threads that keep modules between files (vitest.config.ts): a file must not rely on a fresh module state
    pool: "threads",
    isolate: false,
    // generous: a loaded CI machine runs these three at a time on 2 cores; a test that hangs still ends
    testTimeout: 30_000,
    ...globalSetupOf(name)
  }
})

/**
 * A package's serial test files: one file at a time (a single fork), in a group of their own (`groupOrder`), so no
 * other file runs beside them.
 */
export const serialProject = (name: Package, groupOrder: number): UserWorkspaceConfig => ({
  resolve: { alias },
  test: {
    name: `${name} (one at a time)`,
    root: path.join(root, "packages", name),
    include: [...(serialFiles[name] ?? [])],
    exclude: ["test/**/*.browser.test.ts"],
    sequence: { concurrent: false, groupOrder },
    poolOptions: { forks: { singleFork: true } },
    // these start processes and servers: a loaded machine may take several times as long as this one
    testTimeout: 60_000,
    ...globalSetupOf(name)
  }
})

/** The browser package's `*.browser.test.ts`: they run in Chromium (vitest's browser mode), not in Node. */
export const browserProject = (groupOrder: number): UserWorkspaceConfig => ({
  resolve: { alias },
  test: {
    name: "browser (chromium)",
    root: path.join(root, "packages", "browser"),
    include: ["test/**/*.browser.test.ts"],
    sequence: { concurrent: false, groupOrder },
    testTimeout: 30_000,
    browser: {
      enabled: true,
      provider: "playwright",
      headless: true,
      screenshotFailures: false,
      instances: [{ browser: "chromium", launch: { executablePath: chromiumPath, args: [...chromiumArgs] } }]
    }
  }
})

const hasChromium = Fs.existsSync(chromiumPath)
if (!hasChromium && !["1", "true"].includes(process.env.CI ?? "")) {
  console.warn(`Chromium tests skipped: no ${chromiumPath}. Run \`apt-get install -y chromium\` to run them.`)
}

const serialPackages = packages.filter((name) => serialFiles[name] !== undefined)

/**
 * Every project: the in-process files of every package together (group 0), then each package's serial files, one
 * package at a time; the Chromium project last, where there is a Chromium (in CI it must be there, and fails
 * otherwise).
 */
/** A package whose every file is serial has no in-process project. */
const allSerial = (name: Package) => serialFiles[name]?.includes("test/**/*.test.ts") === true

export const projects = [
  ...packages.filter((name) => !allSerial(name)).map(project),
  ...serialPackages.map((name, index) => serialProject(name, index + 1)),
  ...(hasChromium || process.env.CI ? [browserProject(serialPackages.length + 1)] : [])
]
