/**
 * How fast codex's JSONL gets from the process into canonical TurnEvents:
 * a fake codex prints 100,000 realistic events; CodexProcess (spawn in its own
 * group, Buffer line splitting, schema decode, group release) + CodexEventMapper
 * versus a plain readline + JSON.parse loop over the same fake, side by side.
 */
import { Effect, Stream } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Readline from "node:readline"
import { makeCodexEventMapper } from "../src/core/codex/CodexEventMapper.ts"
import { makeCodexProcess } from "../src/layers/CodexProcessLive.ts"
import { makeProcessGroups } from "../src/layers/ProcessGroupsLive.ts"
import { alternate, fmtMB, fmtMs, fmtRatio, median, type BenchSection } from "./Harness.ts"

const EVENTS = 100_000
const ROUNDS = 5
const TARGET = 50_000
const FAKE = Path.join(import.meta.dirname, "../test/fixtures/fake-codex/fake-codex.mjs")
const env = { ...process.env, FAKE_CODEX_MODE: "many", FAKE_CODEX_EVENTS: String(EVENTS) }

interface Run {
  /** From spawn to the end of the stream (includes the fake's node start-up). */
  wall: number
  /** From the first event to the last: the streaming rate. */
  streaming: number
  events: number
  peakRssDelta: number
}

/** Samples RSS while `f` runs; returns its peak above the level at the start. */
const withPeakRss = async <A>(f: () => Promise<A>): Promise<[A, number]> => {
  global.gc?.()
  const start = process.memoryUsage.rss()
  let peak = start
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 5)
  try {
    const a = await f()
    return [a, Math.max(peak, process.memoryUsage.rss()) - start]
  } finally {
    clearInterval(timer)
  }
}

export const run = async (): Promise<BenchSection> => {
  const runningDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "bench-codex-events-"))
  const codex = makeCodexProcess(makeProcessGroups({ runningDir }))
  const plugin: Array<Run> = []
  const baseline: Array<Run> = []

  const viaPlugin = async () => {
    const t0 = performance.now()
    let first = 0
    let count = 0
    let mapped = 0
    const [, peak] = await withPeakRss(() =>
      Effect.runPromise(
        Effect.suspend(() => {
          const mapper = makeCodexEventMapper({ resumed: false })
          return codex.run({ binary: FAKE, args: [], cwd: Os.tmpdir(), env, stdin: "go" }).pipe(
            Stream.runForEach((e) =>
              Effect.sync(() => {
                if (count++ === 0) first = performance.now()
                mapped += mapper.onEvent(e).length
              })
            ),
            Effect.tap(() => Effect.sync(() => mapper.outcome()))
          )
        })
      )
    )
    const end = performance.now()
    if (mapped === 0) throw new Error("the mapper produced nothing")
    plugin.push({ wall: end - t0, streaming: end - first, events: count, peakRssDelta: peak })
  }

  const viaReadline = async () => {
    const t0 = performance.now()
    let first = 0
    let count = 0
    const [, peak] = await withPeakRss(async () => {
      const child = ChildProcess.spawn(FAKE, [], { env, stdio: ["pipe", "pipe", "inherit"] })
      child.stdin.end("go")
      const exited = new Promise((r) => child.once("exit", r))
      for await (const line of Readline.createInterface({ input: child.stdout, crlfDelay: Infinity })) {
        if (count++ === 0) first = performance.now()
        JSON.parse(line)
      }
      await exited
    })
    const end = performance.now()
    baseline.push({ wall: end - t0, streaming: end - first, events: count, peakRssDelta: peak })
  }

  const times = await alternate(ROUNDS, viaPlugin, viaReadline, 1)
  Fs.rmSync(runningDir, { recursive: true, force: true })
  // alternate() also records the warm-up round in our arrays: drop it.
  const p = plugin.slice(-ROUNDS)
  const b = baseline.slice(-ROUNDS)
  const rate = (runs: ReadonlyArray<Run>) => median(runs.map((r) => (r.events / r.streaming) * 1000))
  const pluginRate = rate(p)
  const baseRate = rate(b)
  const ok = pluginRate >= TARGET
  const row = (name: string, runs: ReadonlyArray<Run>, wall: ReadonlyArray<number>) =>
    `| ${name} | ${runs[0]!.events} | ${fmtMs(median(wall))} | ${fmtMs(median(runs.map((r) => r.streaming)))} | ${Math.round(rate(runs)).toLocaleString("en")} | ${fmtMB(median(runs.map((r) => r.peakRssDelta)))} |`
  const markdown = [
    `### codex JSONL → TurnEvents`,
    ``,
    `A fake codex (\`test/fixtures/fake-codex/fake-codex.mjs\`, mode \`many\`) prints ${EVENTS.toLocaleString("en")} events`,
    `(commands started/completed, reasoning, todo updates, messages). Measured: spawn in its own process group,`,
    `stdout split into lines, each decoded with the CodexEvent schema and mapped to TurnEvents, group released —`,
    `against a plain \`readline\` + \`JSON.parse\` loop over the same fake. Median of ${ROUNDS} alternating rounds.`,
    `"streaming" is first event → end (the fake's own node start-up excluded); peak RSS is the plugin`,
    `process's growth during the run (sampled every 5 ms).`,
    ``,
    `Command: \`npx tsx -e 'import("./bench/CodexEvents.bench.ts").then(async m => console.log((await m.run()).markdown))'\``,
    ``,
    `| path | events | wall | streaming | events/s | peak RSS growth |`,
    `|---|---|---|---|---|---|`,
    row("CodexProcess + mapper", p, times.a),
    row("readline + JSON.parse (baseline)", b, times.b),
    ``,
    `Throughput relative to the baseline: ${fmtRatio(pluginRate / baseRate)}.`,
    `Target: ≥ ${TARGET.toLocaleString("en")} events/s through CodexProcess + mapper — ${ok ? "**met**" : "**not met**"}.`
  ].join("\n")
  return { title: "codex JSONL → TurnEvents", markdown, ok }
}
