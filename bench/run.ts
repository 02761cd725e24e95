/**
 * `npm run bench`: runs every bench/*.bench.ts (or those named on the command
 * line) and writes their sections to docs/benchmarks.md with the machine.
 */
import { execFileSync } from "node:child_process"
import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import * as Os from "node:os"
import { codexBin } from "../test/support/CodexOffline.ts"
import type { BenchSection } from "./Harness.ts"

const only = process.argv.slice(2)
/** The heading above the load runs' results (scripts/load.ts writes below it). */
const LOAD_HEADING = "## Many agents at once (`npm run load`)"
const benches = readdirSync(new URL(".", import.meta.url))
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => only.length === 0 || only.some((o) => f.toLowerCase().includes(o.toLowerCase())))
  .sort()

const sections: Array<BenchSection> = []
for (const file of benches) {
  process.stderr.write(`bench: ${file} …\n`)
  const mod = (await import(`./${file}`)) as { run: () => Promise<BenchSection> }
  const section = await mod.run()
  process.stderr.write(`bench: ${file}: ${section.ok ? "targets met" : "TARGET MISSED"}\n`)
  sections.push(section)
}

const cpu = Os.cpus()[0]?.model ?? "unknown CPU"
const machine = `${Os.cpus().length} × ${cpu}, ${(Os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${Os.type()} ${Os.release()}, Node ${process.version}`
const codex = (() => {
  try {
    return execFileSync(codexBin, ["--version"], { encoding: "utf8" }).trim()
  } catch {
    return "codex not found"
  }
})()

const doc = [
  "# Benchmarks",
  "",
  "Every figure is a ratio against a baseline measured side by side in the same run",
  "(alternating runs, medians), so it does not depend on how fast the machine is.",
  "",
  `Reproduce: \`npm run bench\` (one section: \`npm run bench -- <name>\`).`,
  "",
  `Last run: ${new Date().toISOString()} on ${machine}; ${codex}.`,
  "",
  ...sections.flatMap((s) => [
    `## ${s.title} — ${s.ok ? "target met" : "**target missed**"}`,
    "",
    // A section's own heading would repeat the one above.
    s.markdown.trim().replace(/^## .*\n+/, ""),
    ""
  ])
].join("\n")

// What `npm run load` wrote (scripts/load.ts) is its own to replace: kept as it is.
const loadRuns = (() => {
  try {
    return readFileSync(new URL("../docs/benchmarks.md", import.meta.url), "utf8").match(/<!-- load:[\w-]+:begin -->[\s\S]*?<!-- load:[\w-]+:end -->/g) ?? []
  } catch {
    return []
  }
})()

if (only.length === 0) {
  writeFileSync(new URL("../docs/benchmarks.md", import.meta.url), loadRuns.length === 0 ? doc : `${doc}\n${LOAD_HEADING}\n\n${loadRuns.join("\n\n")}\n`)
  process.stderr.write("bench: wrote docs/benchmarks.md\n")
} else {
  process.stdout.write(doc + "\n")
}
process.exit(sections.every((s) => s.ok) ? 0 : 1)
