import { defineConfig } from "vitest/config"
import projects from "./vitest.workspace.js"

export default defineConfig({
  test: {
    projects,
    // the in-process files run in parallel (their I/O is on loopback or mocked, their time mostly TestClock); the
    // files that start processes, servers or Chromium run one at a time after them (see `serialFiles`)
    maxWorkers: 3,
    // as many as at most: with fewer, vitest 3.2 recycles a worker that is still finishing ("Terminating worker thread")
    minWorkers: 3,
    // the in-process files run on worker threads that keep their modules from one file to the next (a project's
    // files share a worker): Effect and the platform load once per worker, not once per file, which was half of
    // their time. The serial files keep a fresh process per run (forks).
    poolOptions: { threads: { isolate: false } },
    // CI also writes a machine-readable report, from which .ci/run prints the "N passed, N failed" line.
    reporters: process.env.CI ? ["default", "json"] : ["default"],
    outputFile: { json: "build/vitest-results.json" }
  }
})
