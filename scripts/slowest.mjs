// Prints the ten slowest test files of a vitest JSON report, with their times, so the next slow test is seen.
// Usage: node scripts/slowest.mjs [build/vitest-results.json]
import * as fs from "node:fs"
import * as path from "node:path"

const report = process.argv[2] ?? "build/vitest-results.json"
if (!fs.existsSync(report)) {
  console.error(`no report at ${report}: run \`pnpm test:slow\` (or \`.ci/run\`), which writes it`)
  process.exit(2)
}
const { testResults } = JSON.parse(fs.readFileSync(report, "utf8"))
// the report is <root>/build/<file>: names are shown from the root
const root = path.resolve(path.dirname(report), "..")
const files = testResults
  .map((file) => ({ name: path.relative(root, file.name), millis: file.endTime - file.startTime }))
  .sort((a, b) => b.millis - a.millis)
  .slice(0, 10)
console.log("the ten slowest test files:")
for (const { name, millis } of files) console.log(`${(millis / 1000).toFixed(1).padStart(7)} s  ${name}`)
