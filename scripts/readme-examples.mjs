// Writes every TypeScript block of a README (```ts) to a file of its own, for the packing test to compile: none is
// skipped. A block whose first line starts with "// fragment" is not a whole program: it is compiled after its
// prelude, the HTML comment right before it, which GitHub and npm do not show:
//
//   <!-- prelude
//   import { Effect, Redacted } from "effect"
//   declare const token: Redacted.Redacted<string>
//   -->
//   ```ts
//   // fragment: ...
//
// A fragment without a prelude, or a prelude before a whole example, is an error. Each file is named after the
// section it is in (readme-03-refresh-a-spotify-token.ts), so a script can run one by name.
//
// Usage: node scripts/readme-examples.mjs README.md <out-dir>
import * as fs from "node:fs"
import * as path from "node:path"

const [readmePath, outDir] = process.argv.slice(2)
if (readmePath === undefined || outDir === undefined) {
  console.error("usage: node scripts/readme-examples.mjs README.md <out-dir>")
  process.exit(2)
}
const readme = fs.readFileSync(readmePath, "utf8")
const blocks = [...readme.matchAll(/(?:<!-- prelude\n([\s\S]*?)-->\n+)?```ts\n([\s\S]*?)```/g)]

const slug = (heading) =>
  heading
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "")
/** The heading of the section the text at `index` is in. */
const sectionAt = (index) => {
  const headings = [...readme.slice(0, index).matchAll(/^#{1,4} (.+)$/gm)]
  return headings.length === 0 ? "top" : headings[headings.length - 1][1]
}

fs.mkdirSync(outDir, { recursive: true })
const errors = []
let fragments = 0
blocks.forEach((match, i) => {
  const [, prelude, code] = match
  const section = sectionAt(match.index)
  const where = `README block ${i + 1} (in "${section}")`
  const isFragment = code.startsWith("// fragment")
  if (isFragment && prelude === undefined) errors.push(`${where} is a fragment without a <!-- prelude --> before it`)
  if (!isFragment && prelude !== undefined) errors.push(`${where} has a prelude but is not marked "// fragment"`)
  if (isFragment) fragments++
  const file = path.join(outDir, `readme-${String(i + 1).padStart(2, "0")}-${slug(section)}.ts`)
  const header = `// ${where}${prelude === undefined ? "" : ", after its prelude"}\n`
  fs.writeFileSync(file, `${header}${prelude ?? ""}${code}\nexport {}\n`)
})
if (errors.length > 0) {
  console.error(errors.join("\n"))
  process.exit(1)
}
console.log(`${blocks.length} README examples to compile, ${fragments} of them fragments after their prelude`)
