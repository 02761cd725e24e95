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

/**
 * What the profiles of these turns showed (2026-12-06, this machine, codex 0.171.0). Kept here,
 * not only in docs/benchmarks.md, because `npm run bench` writes that file from the sections.
 */
const WHERE_IT_GOES = `Where the CPU goes (\`bench/ProfileTurns.ts\`: warm turns through the plugin under \`node --cpu-prof\` with the
bundle built unminified, \`PLEXUM_BUILD_NO_MINIFY=1 node scripts/build.mjs\`; \`perf record\` of the plugin's threads; \`strace -c\`
of its threads; Effect's run loop instrumented in a scratch copy of the bundle to count operations and time them by span):

- **Not in system calls or helper processes.** An app-server turn makes about 400 system calls and starts no process;
  an exec turn about 500 and one process (codex). No \`ss\`, \`flock\` or \`codex --version\` runs on a turn without a
  host tool (\`ss\` runs once per bridge connection). The /proc work after an exec turn (the run's mark search: one
  listing of /proc, about ten \`environ\` reads of processes newer than codex) costs about 1 ms; a full scan of every
  process's \`environ\` here would cost 5.7 ms (108 processes), which is why it reads only newer pids.
- **Effect's runtime, about half of it.** An app-server turn runs about 6,500 Effect operations and an exec turn
  about 4,800, for some 15 app-server messages or 6 codex events. In the CPU profile Effect's own functions (the fiber
  run loop, continuations, FiberRefs, the Stream channel executor) hold about 42 ms of self time per app-server turn
  under the profiler; the channel executor alone reads upstream about 350 times a turn, through the turn's stack of
  Stream operators (\`unwrapScoped\` three deep, \`startedFirst\`, \`withTerminalEvent\`, \`interruptWhenStopped\`, the
  engine's \`fromQueue\` → \`mapEffect\` → \`takeUntil\` → \`mapConcat\` → \`concat\`). Each line of app-server output is
  one \`Stream.async\` \`emit.single\`, which runs a fiber of its own, then two Schema decodes (\`AppServerMessage\`, then
  the turn notification). By span (wall time of the operations, app-server turn): no span (transport, connection
  reader, dispatch, logger) 38 ms, \`AppServerEngine.run\` 11, \`SessionStore.remember\` 9, \`RolloutStore.find\` 7,
  \`thread/start\` 5, \`turn/start\` 3; exec turn: no span 73, \`CodexProcess.run\` 44 (the spawn included),
  \`ProcessGroups.end\` 6, \`ProcessGroups.track\` 6, \`SessionStore.remember\` 3, \`RolloutStore.toolCalls\` 2.
- **V8's collector and compiler, about a quarter.** About 5 MB is allocated per app-server turn (5.3 scavenges of the 1 MB
  young generation, about 13 ms under \`--trace-gc\`); \`perf\` puts 27% of an exec turn's CPU on V8's worker threads
  (concurrent marking, parallel scavenging, TurboFan) and 3% on libuv's pool. \`serve\`'s collector flags are not the
  cause: 8 alternating batches of 5 app-server turns gave 47 ms with them, 43 with V8's defaults, 50 with
  \`--single-threaded-gc\`, 47 without concurrent marking: within the spread of the batches (34–70 ms).
- **Files, a few ms.** Creating or truncating a file costs about 0.3 ms of CPU on this ext4 (an atomic replace,
  temp file + chmod + rename, about 1.5 ms): the session record (every turn), the running-group record and the run
  profile (every exec turn), the thread's tool record (every new app-server thread).
- **The fork, on exec.** Starting codex from a 75 MB process: \`copy_process\` about 3% and the copy-on-write faults
  that follow about 4% of an exec turn's CPU.
- **The bridge's peer check, on a host-tool turn.** Once per \`mcp-host\` connection: starting \`ss\` (a fork of the
  plugin, about 7 ms of CPU) and reading the children files of every thread of the turn's codex and the
  descriptors of its processes. Through \`fs/promises\` those reads cost about ten times what they cost synchronously
  (an open, fstat, read and close, each a pool round trip and a promise, per small /proc file).

Fixed here: the session record is no longer read and decoded again while a \`stat\` shows the file this process
last read or wrote (a 200-thread record: \`lastThread\` 0.9–1.2 → 0.35–0.5 ms); a search for a rollout keeps
the listings of day directories unchanged for 3 s while their modification time stays (a miss over 30 old days
and a day of 300 rollouts: 4.5–10 → 2.3–5 ms; it is what every new app-server thread pays at its start); the peer
check reads the turn's own /proc files synchronously (20–33 → 14–18 ms of CPU per check). Each is measured in
process, alternating with the code before it; each is below the spread of this section's batches. On main before
them (2026-12-06, 4 batches): 82, 55, 154 and 72 ms in the table's order. What is left sits in the turn core, the
transport and the engines: a new app-server thread's rollout is searched for before codex has written it (a miss: every directory read), where
offset 0 is already the answer; each line of app-server output is a \`Stream.async\` emit (a fiber) and two Schema
decodes, where one decode of the notifications a turn waits for would do; the turn's events cross some ten Stream
operators, two of which (\`startedFirst\`, \`withTerminalEvent\`) a turn's end decided once could fold into one pass;
the host logger forks a fiber per line.`

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
  // PLEXUM_BENCH_CPU_ENGINE=exec (or app-server) runs only that engine's rows, e.g. while working on one engine.
  const engineOnly = process.env.PLEXUM_BENCH_CPU_ENGINE
  const runs = (engine: string) => engineOnly === undefined || engineOnly === "" || engineOnly === engine
  const exec = runs("exec") ? await startPluginHarness(script) : undefined
  const appServer = runs("app-server") ? await startPluginHarness(script, { config: { engine: "app-server" } }) : undefined
  let toolCalls = 0
  for (const h of [exec, appServer])
    h?.host.onToolCall((call) => {
      toolCalls++
      return { content: [{ type: "text", text: `echo: ${call.arguments.text}` }] }
    })
  const series: Array<Series> = [
    { name: "exec, one message", harness: exec!, withTool: false, cpu: [], wall: [], target: 25 },
    { name: "app-server, one message", harness: appServer!, withTool: false, cpu: [], wall: [], target: 15 },
    { name: "exec, one host tool call", harness: exec!, withTool: true, cpu: [], wall: [], target: Infinity },
    { name: "app-server, one host tool call", harness: appServer!, withTool: true, cpu: [], wall: [], target: Infinity }
  ].filter((s) => s.harness !== undefined)
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
    const allCalled = toolCalls - expectedCalls === series.filter((s) => s.withTool).length * batches * perBatch
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

Command: \`npm run bench -- PluginCpu\` (\`PLEXUM_BENCH_CPU_BATCHES\`, \`PLEXUM_BENCH_CPU_TURNS\` change the counts;
\`PLEXUM_BENCH_CPU_ENGINES=app-server\` runs one engine's rows).

| turn | plugin CPU per turn | fastest / slowest batch | wall per turn | target |
|---|---|---|---|---|
${series.map(row).join("\n")}

Targets: ≤ 15 ms per app-server turn, ≤ 25 ms per exec turn — ${ok ? "**met**" : "**missed**"}.

${WHERE_IT_GOES}
`
    }
  } finally {
    await exec?.dispose()
    await appServer?.dispose()
  }
}
