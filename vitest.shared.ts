import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { UserWorkspaceConfig } from "vitest/config"

const root = path.dirname(fileURLToPath(import.meta.url))

const packages = ["core", "spotify", "providers", "node", "testing", "cli", "sql", "redis"] as const

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
    sequence: { concurrent: false },
    fileParallelism: false,
    testTimeout: 20_000,
    // these packages' end-to-end tests run built code in child processes
    ...(name === "node" || name === "cli" ? { globalSetup: ["test/globalSetup.ts"] } : {})
  }
})

export const projects = packages.map(project)
