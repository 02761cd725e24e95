/**
 * The plugin's own CPU per turn: utime + stime of the plugin process (/proc/<pid>/stat, every
 * thread of it: the main thread, V8's helpers, libuv's pool; not codex, not the app-server, not
 * `mcp-host`, which are other processes), over warm one-message turns on both engines, and over
 * turns with one host tool call. The real codex against the loopback model server, one plugin per
 * engine, the four series run in batches, alternating, so that each sees the same machine.
 */
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { startPluginHarness, userMessage, type PluginHarness } from "../test/support/PluginHarness.ts"
import { assistantMessage, functionCall, type ModelRequest } from "../test/support/ScriptedModelServer.ts"
import { type BenchSection, fmtMs, median } from "./Harness.ts"

/** Clock ticks per second, the unit of /proc/<pid>/stat's utime and stime. */
const ticksPerSecond = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100
  } catch {
    return 100
  }
})()

/** utime + stime of `pid` in ms (fields 14 and 15 of /proc/<pid>/stat; the name in field 2 may hold spaces). */
export const processCpuMs = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond
}

/** Answers, or calls the host tool `echo` once when asked to (MCP namespace on exec, flat on app-server). */
const script = (req: ModelRequest) => {
  const input = req.body.input as Array<any>
  if (input.some((i) => i.type === "function_call_output")) return { items: [assistantMessage("done")] }
  if (!JSON.stringify(input.at(-1)).includes("echo hello")) return { items: [assistantMessage("one two three")] }
  const namespace = (req.body.tools as Array<any>).find((t) => t.type === "namespace" && String(t.name).startsWith("mcp__"))?.name
  return { items: [functionCall("echo", { text: "hello" }, namespace === undefined ? {} : { namespace })] }
}

const echoTool = { name: "echo", inputSchema: { type: "object", properties: { text: { type: "string" } } } }

interface Series {
  readonly name: string
  readonly harness: PluginHarness
  readonly withTool: boolean
  /** Plugin CPU per turn of each batch, ms. */
  readonly cpu: Array<number>
  /** Wall time per turn of each batch, ms. */
  readonly wall: Array<number>
  readonly target: number
}

export const run = async (): Promise<BenchSection> => {
  const batches = Number(process.env.PLEXUM_BENCH_CPU_BATCHES ?? 8)
  const perBatch = Number(process.env.PLEXUM_BENCH_CPU_TURNS ?? 5)
  const exec = await startPluginHarness(script)
  const appServer = await startPluginHarness(script, { config: { engine: "app-server" } })
  let toolCalls = 0
  for (const h of [exec, appServer])
    h.host.onToolCall((call) => {
      toolCalls++
      return { content: [{ type: "text", text: `echo: ${call.arguments.text}` }] }
    })
  const series: Array<Series> = [
    { name: "exec, one message", harness: exec, withTool: false, cpu: [], wall: [], target: 25 },
    { name: "app-server, one message", harness: appServer, withTool: false, cpu: [], wall: [], target: 15 },
    { name: "exec, one host tool call", harness: exec, withTool: true, cpu: [], wall: [], target: Infinity },
    { name: "app-server, one host tool call", harness: appServer, withTool: true, cpu: [], wall: [], target: Infinity }
  ]
  let n = 0
  const turn = async (s: Series) => {
    const request = s.withTool
      ? { messages: [userMessage("echo hello")], tools: [echoTool], session: { fresh: true } }
      : { messages: [userMessage("hello")], session: { fresh: true } }
    const { response } = await s.harness.turn(`cpu-${n++}`, request)
    if (response.result?.status !== "completed") throw new Error(`${s.name}: turn failed: ${JSON.stringify(response)}`)
  }
  try {
    // Warm-up: the app-server started, the code paths of every series compiled.
    for (let i = 0; i < 3; i++) for (const s of series) await turn(s)
    const expectedCalls = toolCalls
    for (let b = 0; b < batches; b++) {
      // Rotate the order so that no series always follows the same one.
      const order = series.map((_, i) => series[(i + b) % series.length]!)
      for (const s of order) {
        const pid = s.harness.host.pid
        const t0 = performance.now()
        const c0 = processCpuMs(pid)
        for (let k = 0; k < perBatch; k++) await turn(s)
        s.cpu.push((processCpuMs(pid) - c0) / perBatch)
        s.wall.push((performance.now() - t0) / perBatch)
      }
    }
    const allCalled = toolCalls - expectedCalls === 2 * batches * perBatch
    const ok = allCalled && series.every((s) => median(s.cpu) <= s.target)
    const row = (s: Series) =>
      `| ${s.name} | **${fmtMs(median(s.cpu))}** | ${fmtMs(Math.min(...s.cpu))} / ${fmtMs(Math.max(...s.cpu))} | ${fmtMs(median(s.wall))} | ${s.target === Infinity ? "" : `≤ ${s.target} ms`} |`
    return {
      title: "The plugin's own CPU per turn",
      ok,
      markdown: `
The plugin's own CPU (utime + stime of its process from \`/proc/<pid>/stat\`: every thread of it, not codex's,
the app-server's or \`mcp-host\`'s) per warm turn, each on a fresh thread, the real codex against the loopback model
server; one plugin per engine. The four series run in batches of ${perBatch} turns (CPU per turn = the batch's CPU / ${perBatch};
the clock ticks are ${(1000 / ticksPerSecond).toFixed(0)} ms), rotating their order, ${batches} batches each after 3 warm-up rounds;
medians of the batches. The tool rows: the model calls one host tool (\`echo\`; MCP bridge on exec, a dynamic
tool on the app-server), the host answers, the model answers. Every host tool call reached the host: ${allCalled ? "yes" : "NO"}.

Command: \`npm run bench -- PluginCpu\` (\`PLEXUM_BENCH_CPU_BATCHES\`, \`PLEXUM_BENCH_CPU_TURNS\` change the counts).

| turn | plugin CPU per turn | fastest / slowest batch | wall per turn | target |
|---|---|---|---|---|
${series.map(row).join("\n")}
`
    }
  } finally {
    await exec.dispose()
    await appServer.dispose()
  }
}
