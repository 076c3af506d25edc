import { defineConfig } from "vitest/config"
import projects from "./vitest.workspace.js"

export default defineConfig({
  test: {
    projects,
    // the in-process files run in parallel (their I/O is on loopback or mocked, their time mostly TestClock); the
    // files that start processes, servers or Chromium run one at a time after them (see `serialFiles`)
    maxWorkers: 3,
    minWorkers: 1,
    // CI also writes a machine-readable report, from which .ci/run prints the "N passed, N failed" line.
    reporters: process.env.CI ? ["default", "json"] : ["default"],
    outputFile: { json: "build/vitest-results.json" }
  }
})
