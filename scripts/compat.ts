// `npm run compat [-- [--no-doc] <version>...]`: runs the end-to-end tier against other codex
// versions and writes docs/compatibility.md (version × scenario).
//
// For each version it fetches `@openai/codex@<version>-<platform>` (the registry package that holds
// the native binary) with `npm pack` into .cache/codex/<version>/ (reused when already there;
// nothing else is downloaded), then runs `vitest run test/e2e` (without the slow Demo test) with
// PLEXUM_TEST_CODEX_BIN pointing at that binary (test/support/CodexOffline.ts). The pinned version
// is run with the installed node_modules binary when that is the same version.
// Default versions: the oldest tested, 0.151.0 and the pinned one (src/core/codex/CodexVersionRange.ts).
// `--no-doc` leaves docs/compatibility.md alone (CI). Prints `N passed, N failed` (summed over all
// versions) last and exits non-zero when any test failed or any version could not be run.
import { execFileSync, spawnSync } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import * as Os from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { OLDEST_TESTED_CODEX, parseCodexVersion, PINNED_CODEX } from "../src/core/codex/CodexVersionRange.ts"

const root = fileURLToPath(new URL("..", import.meta.url))
const cacheRoot = join(root, ".cache", "codex")
const reportDir = join(root, ".tmp", "compat")
const docPath = join(root, "docs", "compatibility.md")
const pinnedBin = join(root, "node_modules", ".bin", "codex")

const argv = process.argv.slice(2)
const writeDoc = !argv.includes("--no-doc")
const requested = argv.filter((a) => !a.startsWith("--"))
const versions = requested.length > 0 ? requested : [OLDEST_TESTED_CODEX, "0.151.0", PINNED_CODEX]
for (const v of versions) if (!/^\d+\.\d+\.\d+$/.test(v)) throw new Error(`not a codex version: ${v}`)

/** What the user notices per scenario, and the end-to-end tests that show it. */
const SCENARIOS: ReadonlyArray<{ name: string; tests: ReadonlyArray<readonly [file: string, title: string]> }> = [
  { name: "turn", tests: [["Turn.test.ts", "streams a plain turn"]] },
  { name: "resume", tests: [["Turn.test.ts", "resumes the agent's last thread"], ["Turn.test.ts", "resumes session.threadId when given"]] },
  { name: "host tool", tests: [["HostTools.test.ts", "runs a host tool as host/tools/call"], ["BridgeCodex.test.ts", "a call in the agent's namespace"]] },
  { name: "tool.block ids", tests: [["Turn.test.ts", "reports it as a tool.block under codex's call id"]] },
  { name: "consume + resume", tests: [["ConsumeMirror.test.ts", "then shrinks them so a resumed turn sends the marker"]] },
  { name: "cancel", tests: [["Turn.test.ts", "cancels a turn whose model never answers"], ["Turn.test.ts", "cancels through $/cancelRequest"]] },
  { name: "usage per turn", tests: [["Turn.test.ts", "reports each turn's own usage on a resumed thread"]] },
  // Turn, host tool, consume + resume, cancel, usage and concurrency through engine: "app-server".
  { name: "app-server engine", tests: [["Engines.test.ts", "engine app-server"]] }
]

/** The registry package of codex's native binary for this machine. */
const platformSuffix = (): string => {
  const os = { linux: "linux", darwin: "darwin", win32: "win32" }[process.platform as string]
  const arch = { x64: "x64", arm64: "arm64" }[process.arch as string]
  if (!os || !arch) throw new Error(`no codex package for ${process.platform}-${process.arch}`)
  return `${os}-${arch}`
}

const findFile = (dir: string, name: string): string | undefined => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) {
      const found = findFile(path, name)
      if (found) return found
    } else if (entry.name === name && statSync(path).mode & 0o111) return path
  }
  return undefined
}

const versionOf = (bin: string): string | undefined => {
  try {
    return parseCodexVersion(execFileSync(bin, ["--version"], { encoding: "utf8" }))?.join(".")
  } catch {
    return undefined
  }
}

/** The codex binary of `version`: the installed pinned one, the cached one, or fetched now. */
const binaryFor = (version: string): string => {
  if (existsSync(pinnedBin) && versionOf(pinnedBin) === version) return pinnedBin
  const dir = join(cacheRoot, version)
  const cached = existsSync(join(dir, "package")) ? findFile(join(dir, "package"), "codex") : undefined
  if (cached && versionOf(cached) === version) return cached
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const spec = `@openai/codex@${version}-${platformSuffix()}`
  process.stderr.write(`compat: fetching ${spec} into ${dir}\n`)
  const packed = execFileSync("npm", ["pack", spec, "--pack-destination", dir, "--silent", "--no-audit", "--no-fund"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"]
  })
    .trim()
    .split("\n")
    .at(-1)!
  const tarball = join(dir, packed)
  execFileSync("tar", ["-xzf", tarball, "-C", dir], { stdio: "inherit" })
  rmSync(tarball) // the unpacked binary is what is reused
  const bin = findFile(join(dir, "package"), "codex")
  if (!bin) throw new Error(`${spec} holds no codex binary`)
  const got = versionOf(bin)
  if (got !== version) throw new Error(`${bin} reports version ${got}, expected ${version}`)
  return bin
}

interface VersionRun {
  readonly version: string
  readonly passed: number
  readonly failed: number
  readonly skipped: number
  readonly tests: ReadonlyArray<{ file: string; title: string; status: string }>
  readonly error?: string
  readonly seconds: number
}

const runTier = (version: string): VersionRun => {
  const started = Date.now()
  const seconds = () => Math.round((Date.now() - started) / 1000)
  let bin: string
  try {
    bin = binaryFor(version)
  } catch (e) {
    return { version, passed: 0, failed: 0, skipped: 0, tests: [], error: `cannot get codex ${version}: ${(e as Error).message}`, seconds: seconds() }
  }
  mkdirSync(reportDir, { recursive: true })
  const report = join(reportDir, `${version}.json`)
  rmSync(report, { force: true })
  process.stderr.write(`compat: codex ${version} (${bin}): vitest run test/e2e\n`)
  const run = spawnSync(
    join(root, "node_modules", ".bin", "vitest"),
    ["run", "test/e2e", "--exclude", "test/e2e/Demo.test.ts", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`],
    { cwd: root, stdio: "inherit", env: { ...process.env, PLEXUM_TEST_CODEX_BIN: bin } }
  )
  if (!existsSync(report)) {
    return { version, passed: 0, failed: 0, skipped: 0, tests: [], error: `vitest wrote no report (exit ${run.status})`, seconds: seconds() }
  }
  const r = JSON.parse(readFileSync(report, "utf8"))
  const tests = (r.testResults as Array<any>).flatMap((f) =>
    (f.assertionResults as Array<any>).map((a) => ({ file: String(f.name).split("/").at(-1)!, title: String(a.fullName ?? a.title), status: String(a.status) }))
  )
  const error = run.status !== 0 && r.numFailedTests === 0 ? `vitest exited with ${run.status}` : undefined
  return {
    version,
    passed: r.numPassedTests,
    failed: r.numFailedTests,
    skipped: r.numPendingTests + r.numTodoTests,
    tests,
    ...(error ? { error } : {}),
    seconds: seconds()
  }
}

const scenarioStatus = (run: VersionRun, tests: ReadonlyArray<readonly [string, string]>): "pass" | "fail" | "skip" | "no test" => {
  const matched = run.tests.filter((t) => tests.some(([file, title]) => t.file === file && t.title.includes(title)))
  if (matched.length === 0) return "no test"
  if (matched.some((t) => t.status === "failed")) return "fail"
  if (matched.some((t) => t.status === "passed")) return "pass"
  return "skip"
}

const doc = (runs: ReadonlyArray<VersionRun>): string => {
  const header = `| codex | ${SCENARIOS.map((s) => s.name).join(" | ")} | e2e tier |`
  const rule = `|---|${SCENARIOS.map(() => "---").join("|")}|---|`
  const rows = runs.map((run) => {
    const cells = SCENARIOS.map((s) => (run.error && run.tests.length === 0 ? "fail" : scenarioStatus(run, s.tests)))
    return `| ${run.version} | ${cells.join(" | ")} | ${run.passed} passed, ${run.failed} failed${run.skipped ? `, ${run.skipped} skipped` : ""} |`
  })
  const failures = runs.flatMap((run) => [
    ...(run.error ? [`- ${run.version}: ${run.error}`] : []),
    ...run.tests.filter((t) => t.status === "failed").map((t) => `- ${run.version}: ${t.file} › ${t.title}`)
  ])
  const cpu = Os.cpus()[0]?.model ?? "unknown CPU"
  return `# Compatibility with codex versions

Written by \`npm run compat\` (scripts/compat.ts) on ${new Date().toISOString().slice(0, 10)}
(${Os.cpus().length} × ${cpu}, Node ${process.version}). Each row is one run of the end-to-end tier
(\`vitest run test/e2e\`, without the Demo test) with \`PLEXUM_TEST_CODEX_BIN\` set to that
version's binary from the npm registry (\`@openai/codex@<version>-${platformSuffix()}\`).
A scenario is \`pass\` when every test that shows it passed (skipped ones aside), \`fail\` when one
failed and \`skip\` when all were skipped.

Tested range: **${OLDEST_TESTED_CODEX} … ${PINNED_CODEX}** (src/core/codex/CodexVersionRange.ts; \`doctor\`
warns outside it). To try another version: \`npm run compat -- <version>\`.

${header}
${rule}
${rows.join("\n")}

| scenario | tests (test/e2e) |
|---|---|
${SCENARIOS.map((s) => `| ${s.name} | ${s.tests.map(([f, t]) => `${f}: “${t}…”`).join("; ")} |`).join("\n")}
${failures.length ? `\nFailures:\n\n${failures.join("\n")}\n` : ""}
## What differs between versions

Checked with these runs and the recorded rollouts in test/fixtures/rollouts/recorded/<version>/:

- \`--disable <feature>\` of a feature the version does not know is fatal ("Unknown feature flag";
  0.135 has no \`unbounded_connection_retries\`, \`skill_search\`); \`-c features.<name>=false\` is
  ignored instead, so the tests switch features off that way.
- 0.135 sends no \`_meta.callId\` with an MCP \`tools/call\` (0.151 and later do): the bridge's live
  tool events then carry the bridge's own call id; \`tool.block\` ids (read from the rollout) are
  codex's on every version.
- 0.135 shortens \`mcp__<server>__<tool>\` to 64 characters and then cannot route a call to the
  shortened namespace ("unsupported call"): an agent id long enough to give a 64-character server
  name has no working host tools on 0.135.
- MCP tool output in the rollout: a text-only result is a content-item array from 0.151 on, a
  string holding the content JSON on 0.135; a result with structured content is a string on all.
- 0.135 and 0.151 race on a fast shell command: now and then \`exec --json\` leaves out its
  \`item.started\` or \`item.completed\`, or prints an empty \`aggregated_output\` (4 runs in 24 with
  three at once; 0 in 24 on 0.169 and 0.171). The live \`tool.started\`/\`tool.completed\` events
  then miss it; the \`tool.block\` read from the rollout is complete.
- 0.135 does not print the "Model metadata for \`mock-model\` not found" error item before
  \`turn.started\`, and its \`turn.completed\` usage has no \`cache_write_input_tokens\`.
- Rollouts: 0.151 and later write \`ordinal\` on every line and \`item_completed\` event_msgs
  (paginated history); 0.135 writes neither. Writer locks (\`thread-writer-locks/\`) exist from 0.151.
`
}

/** A renamed test must not turn a scenario into a silent skip: a scenario no test matches is an error. */
const unmatched = (run: VersionRun): Array<string> =>
  run.tests.length === 0 ? [] : SCENARIOS.filter((s) => scenarioStatus(run, s.tests) === "no test").map((s) => s.name)

const runs: Array<VersionRun> = []
execFileSync(process.execPath, [join(root, "scripts", "build.mjs")], { cwd: root, stdio: "inherit" })
for (const version of versions) {
  const tier = runTier(version)
  const missing = unmatched(tier)
  const run = missing.length === 0 ? tier : { ...tier, error: `no test matches scenario ${missing.join(", ")} (renamed? fix SCENARIOS in scripts/compat.ts)` }
  runs.push(run)
  process.stderr.write(`compat: codex ${version}: ${run.passed} passed, ${run.failed} failed${run.error ? ` (${run.error})` : ""} in ${run.seconds} s\n`)
}
if (writeDoc) {
  writeFileSync(docPath, doc(runs))
  process.stderr.write(`compat: wrote ${docPath}\n`)
}
const passed = runs.reduce((n, r) => n + r.passed, 0)
const failed = runs.reduce((n, r) => n + r.failed, 0)
console.log(`${passed} passed, ${failed} failed`)
process.exitCode = failed > 0 || runs.some((r) => r.error) ? 1 : 0
