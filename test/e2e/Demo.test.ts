// `npm run demo` as a user runs it with its output piped (e.g. into a file or CI log): the whole
// story end to end against the real codex and the built plugin, readable plain text, nothing left
// behind. (`--live` needs a codex login and the network, so it is not run here.)
import { spawn, spawnSync } from "node:child_process"
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { processesMatching } from "../support/Processes.ts"
import { pluginBin } from "../support/ReferenceHost.ts"

const repo = fileURLToPath(new URL("../..", import.meta.url))

const runDemo = (args: ReadonlyArray<string> = []) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const env = { ...process.env }
    delete env.NO_COLOR
    delete env.FORCE_COLOR
    const child = spawn(process.execPath, ["--import", "tsx", "demo/run.ts", ...args], { cwd: repo, env, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d))
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, stdout, stderr }))
  })

/** The value printed after `label` on its own line of the summary, e.g. "thread". */
const summaryValue = (stdout: string, label: string) =>
  stdout
    .split("\n")
    .find((l) => l.startsWith(`${label} `))
    ?.slice(label.length)
    .trim()

const kept: Array<string> = []
afterAll(() => {
  for (const dir of kept) rmSync(dir, { recursive: true, force: true })
})

describe("npm run demo", () => {
  it("tells the whole story in plain text and exits 0, leaving no process or temp directory behind", async () => {
    const r = await runDemo()
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0)
    expect(r.stdout).not.toContain("\x1b")
    expect(r.stderr).not.toContain("\x1b")
    const lines = r.stdout.split("\n")
    // turn 1: the shell command and the host tool, answered by the host through the MCP bridge
    expect(lines.some((l) => l.startsWith("turn 1 shell") && l.includes("wc -l notes.md"))).toBe(true)
    expect(lines.some((l) => l.startsWith("turn 1 host tool") && l.includes("lookup_ticket"))).toBe(true)
    // one model call, one host/tools/call
    expect(lines.filter((l) => l.startsWith("host") && l.includes("answers host/tools/call lookup_ticket")).length).toBe(1)
    expect(lines.filter((l) => l.startsWith("turn 1 tool.block")).length).toBe(2)
    // the consume step
    expect(lines.find((l) => l.startsWith("consume"))).toMatch(/session\/mutate heavy on .* → touched \d+ line\(s\), missing \[\]/)
    // turn 2 resumes the same thread and the model gets the marker instead of the outputs
    const threadId = summaryValue(r.stdout, "thread")
    expect(threadId).toMatch(/^[0-9a-f-]{36}$/)
    expect(lines.find((l) => l.startsWith("turn 2 started"))).toContain(`thread ${threadId} (resumed)`)
    expect(lines.filter((l) => l.startsWith("model sees") && l.includes('"...(tool called)"')).length).toBe(2)
    expect(lines.some((l) => l.startsWith("turn 2 assistant") && l.includes("...(tool called)"))).toBe(true)
    // the summary's command, and everything cleaned up
    const inspect = summaryValue(r.stdout, "look further")
    expect(inspect).toMatch(new RegExp(`^bin/plexum-openai-provider-plugin rollout inspect ${threadId} --codex-home /\\S+$`))
    const codexHome = inspect!.split(" ").at(-1)!
    expect(existsSync(codexHome)).toBe(false)
    const root = codexHome.replace(/\/codex-home$/, "")
    expect(processesMatching(new RegExp(root.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))).toEqual([])
  })

  it("with --engine app-server tells the same story with the text arriving as it is written", async () => {
    const r = await runDemo(["--engine", "app-server"])
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0)
    expect(r.stdout).not.toContain("\x1b")
    const lines = r.stdout.split("\n")
    expect(lines[0]).toContain("engine app-server")
    expect(lines.some((l) => l.startsWith("turn 1 host tool") && l.includes("lookup_ticket"))).toBe(true)
    // Deltas come before the complete message, and add up to it.
    const writing = lines.findIndex((l) => l.startsWith("turn 1 writing"))
    const assistant = lines.findIndex((l) => l.startsWith("turn 1 assistant"))
    expect(writing).toBeGreaterThan(-1)
    expect(writing).toBeLessThan(assistant)
    const threadId = summaryValue(r.stdout, "thread")
    expect(lines.find((l) => l.startsWith("turn 2 started"))).toContain(`thread ${threadId} (resumed)`)
    expect(lines.some((l) => l.startsWith("turn 2 assistant") && l.includes("...(tool called)"))).toBe(true)
    expect(r.stderr).not.toMatch(/exec engine/)
  })

  it("with --keep leaves the CODEX_HOME holding the consumed rollout, for the printed command", async () => {
    const r = await runDemo(["--keep"])
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0)
    const threadId = summaryValue(r.stdout, "thread")!
    const inspect = summaryValue(r.stdout, "look further")!
    const codexHome = inspect.split(" ").at(-1)!
    kept.push(codexHome.replace(/\/codex-home$/, ""))
    const keptLine = summaryValue(r.stdout, "kept")!
    kept.push(...keptLine.replace(/ \(remove them when done\)$/, "").split(" and "))
    const find = (dir: string): string | undefined => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name)
        if (e.isDirectory()) {
          const hit = find(p)
          if (hit) return hit
        } else if (e.name.endsWith(`-${threadId}.jsonl`)) return p
      }
      return undefined
    }
    const rollout = find(join(codexHome, "sessions"))
    expect(rollout).toBeDefined()
    // What codex sends back to the model on resume: the response items of both calls, consumed.
    const items = readFileSync(rollout!, "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l))
      .filter((l) => l.type === "response_item" && ["call_demo_shell", "call_demo_ticket"].includes(l.payload?.call_id))
      .map((l) => l.payload)
    expect(items.map((p) => [p.type, p.call_id, p.arguments ?? p.output])).toEqual([
      ["function_call", "call_demo_shell", "{}"],
      ["function_call_output", "call_demo_shell", "...(tool called)"],
      ["function_call", "call_demo_ticket", "{}"],
      ["function_call_output", "call_demo_ticket", "...(tool called)"]
    ])

    // The printed command works as printed, from the repository root.
    const [bin, ...args] = inspect.split(" ")
    const hasRollout = spawnSync(pluginBin, ["rollout", "--help"], { encoding: "utf8" }).stdout.includes("inspect")
    if (hasRollout) {
      const shown = spawnSync(join(repo, bin!), args, { cwd: repo, encoding: "utf8", timeout: 30_000 })
      expect(shown.status, shown.stderr).toBe(0)
      expect(shown.stdout).toContain(threadId)
    }
  })
})
