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
bundle built unminified, \`PLEXUM_BUILD_NO_MINIFY=1 node scripts/build.mjs\`; \`perf record\` of the plugin's threads; \`strace\`;
per-thread CPU from \`/proc/<pid>/task/*/stat\`; Effect operations counted by a scratch patch of the bundle's run loop that
charges each one to the innermost function of \`src/\` on the fiber's continuation stack). Measured 2026-12-06/07 on the
machine below.

- **Effect's runtime, still the largest part.** Effect operations per warm turn, before this issue → before this round
  → now: app-server about 6,500 → 2,000 → 1,550 (fibers 7.4 → 6.4 → 3.4), exec about 4,800 → 1,800 → 1,200 (fibers
  12.5 → 9.5 → 4.3). Allocated per app-server turn (V8's sampling heap profiler, collected objects included): 2.4 MB →
  1.6 MB → 1.0 MB, two thirds of it by Effect's runtime. In a tight loop an operation costs about 0.1 µs (a scratch
  \`forEachChunk\` over 100,000 chunks: 2 µs a chunk); in a turn it costs some 30 times that: a turn's 1,500 operations
  run through hundreds of functions once every 150 ms, with codex and the app-server running in between, so caches and
  branch predictors are cold each time. Cut in the third round:
  - finalizers are added to the scope as they are (\`src/core/ScopeFinalizers.ts\`): \`Effect.acquireRelease\` restores
    the whole fiber-local state around each finalizer, two diffs and two patches of every FiberRef and of the service
    Context, five times an app-server turn (1.60 → 1.37 MB);
  - a turn's end is one Deferred that the stream, a cancel or the time limit decides, where the runner raced the work
    against a race of the cancel and a sleep (four fibers and three interruptions a turn; 1.37 → 1.12 MB); the engines'
    streams open with \`scopedStream\` (no \`flatMap\` layer; 1,852 → 1,696 operations); the app-server's
    subscriptions are Mailboxes taken whole (\`Queue.takeBetween\` cost about 20 operations a take; 1,696 → 1,551);
  - in the second round: one race for the whole turn, the stream pulled in the runner's fiber (about 900 operations);
    codex's stdout pulled through one Stream layer (LineStream's byte stream, cut and decoded in the same step) and the
    exec engine one pull loop; stdout written one corked batch at a time; the session record read
    and written in one step; app-server requests registered in one Ref step with a timer; no \`Effect.fn\`/span or
    \`Effect.gen\` on per-turn calls; the app-server's rollout is the path codex names.
- **V8's warm-up: the first 30–40 turns.** V8 keeps optimising newly hot functions of the 1.2 MB bundle for a plugin's
  first 30–40 turns (\`--log-function-events\`: 10–16 TurboFan compiles a second on app-server turns for the first 15 s,
  each one a different function, no re-optimisation loop); the "first 10 turns" column is that cost. The section measures
  after 20 warm-up rounds (40 turns a plugin). V8's flags did not change it beyond the noise
  (\`--ticks-before-optimization=12\`, \`--interrupt-budget\` ×4, \`--always-sparkplug\`,
  \`--no-lazy-feedback-allocation\`, \`--single-threaded-gc\`, a young generation of 8 or 16 MB).
- **The fork, on exec: about 15 ms, now gone.** Starting codex with \`ChildProcess.spawn\` forks the plugin: the kernel
  copies its page tables and write-protects every page, and each page the plugin and V8's collector threads write
  afterwards faults once (this VM makes faults costly). One extra spawn of \`/bin/true\` per app-server turn took the plugin
  from 17 to 32 ms of CPU a turn, side by side. No spawn option changed it, and a node spawner only moved the cost (its
  own fork is as dear). So \`codex exec\` is started by a small perl fork server (\`src/core/ForkServer.ts\`, a few MB
  to copy), which hands codex's stdio back over a unix socket: exec 32 → 24 ms a turn in this section, 46.0 → 30.5 ms
  side by side with the previous bundle. The bridge's peer check runs \`ss\` through it too (once per bridge
  connection): exec with one host tool call 83 → 51 ms.
- **Files, now well under 1 ms.** Every turn remembers its thread in the agent's session record. Writing the whole record
  (up to 200 threads) to a new file and renaming it over the old one cost about 1 ms of an app-server turn (a new inode,
  ext4's flush of a file renamed over another, 20 KB of JSON); a turn now appends one line to it
  (\`src/core/SessionRecordText.ts\`), and the file is written whole every 256 lines: 13.8 → 13.0 ms a turn side by side
  (ns-precise CPU from \`/proc/<pid>/task/*/schedstat\`, 16 alternating batches of 5 turns, lower in 14 of the 16 pairs).
  An app-server turn makes about 150 system calls (\`strace -f\` of 10 warm turns) and starts no process; an exec turn
  starts codex through the fork server.
- **What runs between the batches.** The same app-server turns cost 12–14 ms a turn when its plugin runs them back to
  back, and 15–19 ms when the exec series run in between (per-turn CPU of every turn in a batch, not only the first):
  an idle plugin's next turns run colder (V8's \`--no-flush-bytecode\` and \`--no-memory-reducer\` did not change that
  beyond the noise). This section rotates all four series, as a host running both engines would; the app-server row
  varied 14–16 ms from run to run in this round.

On main before this issue (2026-12-06, 3 warm-up rounds): 82, 55, 154 and 72 ms in the table's order; after its first
round 54, 26, 105 and 38; after its second (20 warm-up rounds) 37, 21, 89 and 27; after its third (the fork server) 20, 18, 56
and 23.`

const echoTool = { name: "echo", inputSchema: { type: "object", properties: { text: { type: "string" } } } }

interface Series {
  readonly name: string
  readonly harness: PluginHarness
  readonly withTool: boolean
  /** Plugin CPU per turn of each batch, ms. */
  readonly cpu: Array<number>
  /** Wall time per turn of each batch, ms. */
  readonly wall: Array<number>
  /** Plugin CPU of each warm-up turn, ms. */
  readonly warmUpCpu: Array<number>
  readonly target: number
}

export const run = async (): Promise<BenchSection> => {
  const batches = Number(process.env.PLEXUM_BENCH_CPU_BATCHES ?? 8)
  const perBatch = Number(process.env.PLEXUM_BENCH_CPU_TURNS ?? 5)
  const warmUpRounds = Number(process.env.PLEXUM_BENCH_CPU_WARMUP ?? 20)
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
    { name: "exec, one message", harness: exec!, withTool: false, cpu: [], wall: [], warmUpCpu: [], target: 25 },
    { name: "app-server, one message", harness: appServer!, withTool: false, cpu: [], wall: [], warmUpCpu: [], target: 15 },
    { name: "exec, one host tool call", harness: exec!, withTool: true, cpu: [], wall: [], warmUpCpu: [], target: Infinity },
    { name: "app-server, one host tool call", harness: appServer!, withTool: true, cpu: [], wall: [], warmUpCpu: [], target: Infinity }
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
    // Warm-up: the app-server started, and V8 done optimising the turn's code. V8 keeps compiling
    // newly hot functions of the bundle for a plugin's first 30–40 turns (measured 2026-12-07: an
    // app-server turn's CPU falls from ~25 to ~16 ms over them, then stays); a plugin serving a fleet
    // is past that within minutes. What the warm-up turns cost is reported too (`warmUpCpu`).
    for (let i = 0; i < warmUpRounds; i++) {
      for (const s of series) {
        const pid = s.harness.host.pid
        const c0 = processCpuMs(pid)
        await turn(s)
        s.warmUpCpu.push(processCpuMs(pid) - c0)
      }
    }
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
    const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)
    const firstTen = (s: Series) => mean(s.warmUpCpu.slice(0, 10))
    const row = (s: Series) =>
      `| ${s.name} | **${fmtMs(median(s.cpu))}** | ${fmtMs(Math.min(...s.cpu))} / ${fmtMs(Math.max(...s.cpu))} | ${fmtMs(firstTen(s))} | ${fmtMs(median(s.wall))} | ${s.target === Infinity ? "" : `≤ ${s.target} ms`} |`
    return {
      title: "The plugin's own CPU per turn",
      ok,
      markdown: `
The plugin's own CPU (utime + stime of its process from \`/proc/<pid>/stat\`: every thread of it, not codex's,
the app-server's or \`mcp-host\`'s) per warm turn, each on a fresh thread, the real codex against the loopback model
server; one plugin per engine. The four series run in batches of ${perBatch} turns (CPU per turn = the batch's CPU / ${perBatch};
the clock ticks are ${(1000 / ticksPerSecond).toFixed(0)} ms), rotating their order, ${batches} batches each after ${warmUpRounds} warm-up rounds (one turn of each series per round:
V8 keeps optimising the plugin's code over its first 30–40 turns); medians of the batches. "First 10 turns" is the mean
CPU per turn of each series' first ten warm-up turns, right after the plugin's start-up. The tool rows: the model calls one host tool (\`echo\`; MCP bridge on exec, a dynamic
tool on the app-server), the host answers, the model answers. Every host tool call reached the host: ${allCalled ? "yes" : "NO"}.

Command: \`npm run bench -- PluginCpu\` (\`PLEXUM_BENCH_CPU_BATCHES\`, \`PLEXUM_BENCH_CPU_TURNS\`, \`PLEXUM_BENCH_CPU_WARMUP\` change the counts;
\`PLEXUM_BENCH_CPU_ENGINE=app-server\` (or \`exec\`) runs one engine's rows).

| turn | plugin CPU per turn | fastest / slowest batch | first 10 turns | wall per turn | target |
|---|---|---|---|---|---|
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
