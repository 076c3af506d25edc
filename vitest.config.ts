import { defineConfig } from "vitest/config"
import projects from "./vitest.workspace.js"

export default defineConfig({
  test: {
    projects,
    // one test file at a time: the multi-process tests start 8 Node processes each and measure token expiry against
    // a real clock, which two of them at once on a 2-core machine would turn into a CPU-starvation test
    fileParallelism: false,
    // CI also writes a machine-readable report, from which .ci/run prints the "N passed, N failed" line.
    reporters: process.env.CI ? ["default", "json"] : ["default"],
    outputFile: { json: "build/vitest-results.json" }
  }
})
