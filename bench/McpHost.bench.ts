/**
 * mcp-host cold start: codex starts it before every turn and gives it about a
 * second before it leaves the host tools out, so its start-up is paid on every
 * turn. Measured from spawn to the MCP `initialize` answer (and to the
 * `tools/list` answer with no turn listening), side by side with `node -e 0`.
 */
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { alternate, type BenchSection, fmtMs, fmtRatio, median } from "./Harness.ts"

const REPO = fileURLToPath(new URL("../", import.meta.url))
const BIN = Path.join(REPO, "bin/plexum-openai-provider-plugin")
const BUNDLE = Path.join(REPO, "dist/mcp-host.cjs")
const ROUNDS = 20
const TARGET = 3

const lines = [
  { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "bench", version: "1" } } },
  { jsonrpc: "2.0", method: "notifications/initialized" },
  { jsonrpc: "2.0", id: 2, method: "tools/list" }
]
  .map((m) => JSON.stringify(m) + "\n")
  .join("")

/** How the bench starts mcp-host: the plugin executable on the build's bundle, else a bundle of its own. */
const resolveCommand = async (): Promise<{ argv: Array<string>; label: string; cleanup: () => void }> => {
  const args = ["mcp-host", "--socket", "/nonexistent/bench.sock", "--agent-id", "bench"]
  if (Fs.existsSync(BUNDLE)) {
    return { argv: [BIN, ...args], label: "bin/plexum-openai-provider-plugin mcp-host (dist/mcp-host.cjs, V8 code cache)", cleanup: () => {} }
  }
  const { build } = await import("esbuild")
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "mcp-host-bench-"))
  const outfile = Path.join(dir, "mcp-host.cjs")
  await build({
    entryPoints: [Path.join(REPO, "src/mcphost/McpHostEntry.ts")],
    outfile,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    minify: true,
    logLevel: "warning"
  })
  return {
    argv: [outfile, ...args],
    label: "node <temp>/mcp-host.cjs (esbuild bundle made by the bench; no code cache)",
    cleanup: () => Fs.rmSync(dir, { recursive: true, force: true })
  }
}

interface HostTimes {
  readonly init: number
  readonly list: number
}

/** Spawns mcp-host, sends initialize + tools/list at once, and times both answers. */
const startHost = (argv: ReadonlyArray<string>) =>
  new Promise<HostTimes>((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(process.execPath, argv, { stdio: ["pipe", "pipe", "ignore"] })
    let buf = ""
    let init: number | undefined
    child.on("error", reject)
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      buf += d
      const parts = buf.split("\n")
      buf = parts.pop()!
      for (const line of parts) {
        const id = (JSON.parse(line) as { id?: number }).id
        if (id === 1) init = performance.now() - t0
        if (id === 2) {
          const list = performance.now() - t0
          child.stdin.end()
          child.once("exit", () => resolve({ init: init ?? list, list }))
        }
      }
    })
    child.once("exit", (code) => {
      if (init === undefined) reject(new Error(`mcp-host exited ${code} before answering`))
    })
    child.stdin.write(lines)
  })

const nodeBaseline = () =>
  new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", "0"], { stdio: "ignore" })
    child.on("error", reject)
    child.once("exit", () => resolve())
  })

export const run = async (): Promise<BenchSection> => {
  const command = await resolveCommand()
  try {
    const hostTimes: Array<HostTimes> = []
    const times = await alternate(
      ROUNDS,
      async () => hostTimes.push(await startHost(command.argv)),
      nodeBaseline
    )
    const measured = hostTimes.slice(-ROUNDS)
    const node = median(times.b)
    const init = median(measured.map((t) => t.init))
    const list = median(measured.map((t) => t.list))
    const ratio = init / node
    const ok = ratio <= TARGET
    const markdown = [
      "## mcp-host cold start",
      "",
      "codex starts `mcp-host` before every turn and, in 0.169, leaves an optional server's tools out",
      "if it is not up within about a second, so its start-up is paid on every turn. Measured: spawn",
      "→ the MCP `initialize` answer (and → the `tools/list` answer, no turn listening), against",
      `spawn → exit of \`node -e 0\`, alternating, ${ROUNDS} rounds after 2 warm-up rounds; medians.`,
      "",
      `Command: \`${command.label}\`.`,
      "",
      "| what | median |",
      "|---|---|",
      `| \`node -e 0\` (baseline) | ${fmtMs(node)} |`,
      `| mcp-host → \`initialize\` answered | ${fmtMs(init)} |`,
      `| mcp-host → \`tools/list\` answered | ${fmtMs(list)} |`,
      `| ratio initialize / node | ${fmtRatio(ratio)} |`,
      "",
      `Target: ≤ ${TARGET}× \`node -e 0\`. ${ok ? "Met" : "Not met"}.`
    ].join("\n")
    return { title: "mcp-host cold start", markdown, ok }
  } finally {
    command.cleanup()
  }
}
