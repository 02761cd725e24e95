/**
 * Rollout store throughput and memory on a generated 200 MB codex-shaped rollout, side by side
 * with the plain approach (readline + JSON.parse every line; for a mutation also stringify every
 * line and write). Peak memory is measured in a child process per side (maxRSS at exit).
 */
import * as Fs from "node:fs"
import * as FsP from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Readline from "node:readline"
import { fileURLToPath } from "node:url"
import { withReadHandle } from "../src/core/rollout/RolloutLineScanner.ts"
import { rewriteRollout } from "../src/core/rollout/RolloutRewrite.ts"
import { scanToolCalls } from "../src/core/rollout/RolloutToolCalls.ts"
import { writeSyntheticRollout } from "../test/unit/rollout/SyntheticRollout.ts"
import { type BenchSection, fmtMB, fmtMs, fmtRatio, median, runChild } from "./Harness.ts"

const MARKER = "...(tool called)"
const SIZE = 200 * 1024 * 1024
const MUTATED_IDS = 50

// ---- the baseline: what a straightforward implementation does ----

interface BaseRecord {
  callId: string
  name: unknown
  input: unknown
  output: unknown
  paired: boolean
}

const readLines = (path: string, onLine: (line: string, rl: Readline.Interface) => void) =>
  new Promise<void>((resolve, reject) => {
    const input = Fs.createReadStream(path)
    input.on("error", reject)
    const rl = Readline.createInterface({ input, crlfDelay: Infinity })
    rl.on("line", (line) => onLine(line, rl))
    rl.on("close", resolve)
  })

export const baselineToolCalls = async (path: string): Promise<Array<BaseRecord>> => {
  const records: Array<BaseRecord> = []
  const byId = new Map<string, BaseRecord>()
  await readLines(path, (line) => {
    let v: any
    try {
      v = JSON.parse(line)
    } catch {
      return
    }
    const p = v?.type === "response_item" ? v.payload : undefined
    if (typeof p?.call_id !== "string" || typeof p.type !== "string") return
    if (p.type.endsWith("_output")) {
      const c = byId.get(p.call_id)
      if (c !== undefined && !c.paired) Object.assign(c, { output: p.output, paired: true })
    } else if (p.type.endsWith("_call")) {
      const r = { callId: p.call_id, name: p.name, input: p.arguments ?? p.input, output: undefined, paired: false }
      records.push(r)
      byId.set(r.callId, r)
    }
  })
  return records
}

export const baselineMutate = async (path: string, ids: ReadonlyArray<string>, marker: string): Promise<number> => {
  const targets = new Set(ids)
  const temp = `${path}.baseline.tmp`
  const out = Fs.createWriteStream(temp)
  let touched = 0
  let waiting = false
  await readLines(path, (line, rl) => {
    let text = line
    try {
      const v = JSON.parse(line)
      const p = v?.type === "response_item" ? v.payload : undefined
      if (typeof p?.call_id === "string" && targets.has(p.call_id)) {
        if (String(p.type).endsWith("_output") && p.output !== marker) {
          p.output = marker
          touched++
        } else if (p.type === "function_call" && p.arguments !== "{}") {
          p.arguments = "{}"
          touched++
        } else if (p.type === "custom_tool_call" && p.input !== "") {
          p.input = ""
          touched++
        }
      }
      text = JSON.stringify(v)
    } catch {
      // keep the line as it is
    }
    // Backpressure: stop reading until the writer drains.
    if (!out.write(`${text}\n`) && !waiting) {
      waiting = true
      rl.pause()
      out.once("drain", () => {
        waiting = false
        rl.resume()
      })
    }
  })
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())))
  const fh = await FsP.open(temp, "r+")
  await fh.sync()
  await fh.close()
  await FsP.rename(temp, path)
  return touched
}

// ---- ours ----

// As RolloutStore scans: with the path, so large outputs stay in the file until read.
const oursToolCalls = (path: string) => withReadHandle(path, (fh) => scanToolCalls(fh, 0, { path }))
/** As a turn runner would: each record handed on in order, its output decoded, nothing kept. */
const oursStreamDecoded = (path: string) =>
  withReadHandle(path, async (fh) => {
    let outputChars = 0
    await scanToolCalls(fh, 0, {
      path,
      onRecord: (r) => {
        const output = r.output
        outputChars += typeof output === "string" ? output.length : Array.isArray(output) ? output.length : 0
      }
    })
    return outputChars
  })
/** Streamed, outputs left unread (what memory the scan itself needs). */
const oursStreamHandles = (path: string) =>
  withReadHandle(path, async (fh) => {
    let n = 0
    await scanToolCalls(fh, 0, { path, onRecord: () => void n++ })
    return n
  })
const oursMutate = (path: string, ids: ReadonlyArray<string>) =>
  rewriteRollout(path, ids.map((blockId) => ({ blockId, op: "heavy" as const })), MARKER)

const pickIds = (calls: ReadonlyArray<{ callId: string }>) => {
  const step = Math.max(1, Math.floor(calls.length / MUTATED_IDS))
  return calls.filter((_, i) => i % step === 0).slice(0, MUTATED_IDS).map((c) => c.callId)
}

// ---- child mode: one job in a fresh process, timing it and reporting peak RSS ----

/**
 * VmHWM: the peak RSS of this process image. Not getrusage's maxRSS, which Linux carries over
 * from the forking parent (the bench parent holds a whole scan), so it over-reports a small child.
 */
const peakRssOfThisImage = (): number => {
  const m = /VmHWM:\s+(\d+) kB/.exec(Fs.readFileSync("/proc/self/status", "utf8"))
  return m ? Number(m[1]) * 1024 : process.resourceUsage().maxRSS * 1024
}

const childMain = async (mode: string, path: string, idsFile: string) => {
  const ids = JSON.parse(await FsP.readFile(idsFile, "utf8")) as Array<string>
  const t0 = performance.now()
  let answer = 0
  if (mode === "noop") answer = 0
  else if (mode === "ours-calls") answer = (await oursToolCalls(path)).calls.length
  else if (mode === "ours-stream") answer = await oursStreamDecoded(path)
  else if (mode === "ours-handles") answer = await oursStreamHandles(path)
  else if (mode === "base-calls") answer = (await baselineToolCalls(path)).length
  else if (mode === "ours-mutate") answer = (await oursMutate(path, ids)).touched
  else if (mode === "base-mutate") answer = await baselineMutate(path, ids, MARKER)
  const ms = performance.now() - t0
  process.stdout.write(JSON.stringify({ ms, answer, maxRssBytes: peakRssOfThisImage() }))
}

const SELF = fileURLToPath(import.meta.url)

/** Bundles this file to plain JS so a child's RSS is the job's, not the TypeScript loader's. */
const bundleChild = async (dir: string): Promise<string> => {
  const esbuild = await import("esbuild")
  const outfile = Path.join(dir, "rollout-bench-child.mjs")
  await esbuild.build({ entryPoints: [SELF], bundle: true, platform: "node", format: "esm", outfile, logLevel: "error" })
  return outfile
}

interface ChildFigures {
  readonly ms: number
  readonly answer: number
  readonly maxRssBytes: number
}

const inChild = async (child: string, mode: string, path: string, idsFile: string): Promise<ChildFigures> => {
  const r = await runChild(process.execPath, [child, "--child", mode, path, idsFile])
  if (r.code !== 0) throw new Error(`child ${mode} failed: ${r.stderr}`)
  return JSON.parse(r.stdout) as ChildFigures
}

const ROUNDS = 3

export const run = async (): Promise<BenchSection> => {
  const dir = await FsP.mkdtemp(Path.join(Os.tmpdir(), "rollout-bench-"))
  try {
    const source = Path.join(dir, "rollout-source.jsonl")
    const synth = await writeSyntheticRollout(source, { targetBytes: SIZE })
    const ids = pickIds(synth.calls)
    const idsFile = Path.join(dir, "ids.json")
    await FsP.writeFile(idsFile, JSON.stringify(ids))

    // Same answers first: a fast wrong answer is no result.
    const [ours, base] = [await oursToolCalls(source), await baselineToolCalls(source)]
    const same = ours.calls.length === base.length &&
      ours.calls.every((c, i) => c.callId === base[i]!.callId && JSON.stringify(c.output) === JSON.stringify(base[i]!.output))
    if (!same) throw new Error(`tool calls differ: ${ours.calls.length} vs ${base.length}`)

    // Every run in a fresh child (no garbage or JIT state carried over), A and B alternating.
    const child = await bundleChild(dir)
    const work = Path.join(dir, "rollout-work.jsonl")
    const figures: Record<string, Array<ChildFigures>> = {}
    for (let i = 0; i < ROUNDS; i++) {
      const order = i % 2 ? ["base", "ours"] : ["ours", "base"]
      for (const job of ["calls", "stream", "handles", "mutate"]) {
        for (const side of job === "stream" || job === "handles" ? ["ours"] : order) {
          const mode = `${side}-${job}`
          if (job === "mutate") await FsP.copyFile(source, work) // a fresh copy per mutation, not timed
          ;(figures[mode] ??= []).push(await inChild(child, mode, job === "mutate" ? work : source, idsFile))
        }
      }
    }
    figures.noop = [await inChild(child, "noop", source, idsFile)]
    const ms = (mode: string) => median(figures[mode]!.map((f) => f.ms))
    const rss = (mode: string) => Math.max(...figures[mode]!.map((f) => f.maxRssBytes))
    const touched = (mode: string) => figures[mode]![0]!.answer

    const callRatio = ms("base-calls") / ms("ours-calls")
    const mutRatio = ms("base-mutate") / ms("ours-mutate")
    const streamRatio = ms("base-calls") / ms("ours-stream")
    const peak = Math.max(rss("ours-handles"), rss("ours-mutate"))
    const LIMIT = 150 * 1024 * 1024
    const ok = callRatio >= 3 && mutRatio >= 2 && peak < LIMIT
    const markdown = [
      `## Rollout store: tool calls and mutation on a ${fmtMB(synth.bytes)} rollout`,
      "",
      `Generated codex-0.169-shaped rollout: ${synth.lines} lines, ${synth.calls.length} tool calls; command output truncated as codex does, every 40th call an MCP result with a 3 MiB image (every 160th 12 MiB), echoed in its event_msg.`,
      "Baseline = readline + JSON.parse of every line (mutation: also JSON.stringify every line, write, fsync, rename).",
      `Mutation = ${ids.length} heavy block ids (touched ${touched("ours-mutate")} lines; baseline ${touched("base-mutate")}), on a fresh copy each run.`,
      `Each run is a fresh bundled child process (job time measured inside it, peak RSS = its maxRSS); ${ROUNDS} rounds alternating, medians.`,
      "Command: `npx tsx -e 'import(\"./bench/Rollout.bench.ts\").then(async m => console.log((await m.run()).markdown))'`",
      "",
      "| job | ours | baseline | speed-up | ours peak RSS | baseline peak RSS |",
      "|---|---|---|---|---|---|",
      `| find tool calls (whole file, outputs kept) | ${fmtMs(ms("ours-calls"))} | ${fmtMs(ms("base-calls"))} | ${fmtRatio(callRatio)} | ${fmtMB(rss("ours-calls"))} | ${fmtMB(rss("base-calls"))} |`,
      `| find tool calls, streamed, every output decoded (as a turn runner uses it) | ${fmtMs(ms("ours-stream"))} | ${fmtMs(ms("base-calls"))} | ${fmtRatio(streamRatio)} | ${fmtMB(rss("ours-stream"))} | ${fmtMB(rss("base-calls"))} |`,
      `| find tool calls, streamed, outputs not read | ${fmtMs(ms("ours-handles"))} | ${fmtMs(ms("base-calls"))} | ${fmtRatio(ms("base-calls") / ms("ours-handles"))} | ${fmtMB(rss("ours-handles"))} | ${fmtMB(rss("base-calls"))} |`,
      `| mutate ${ids.length} ids | ${fmtMs(ms("ours-mutate"))} | ${fmtMs(ms("base-mutate"))} | ${fmtRatio(mutRatio)} | ${fmtMB(rss("ours-mutate"))} | ${fmtMB(rss("base-mutate"))} |`,
      `| (a child doing nothing) | | | | ${fmtMB(rss("noop"))} | |`,
      "",
      "Outputs are kept as the recorded bytes and decoded on first read of `output`: the first row leaves them unread (a turn reads only its own calls' outputs), the second reads every one. The first row's result holds every output of the whole file (about half of it) and is not held to the memory target; the memory target applies to the scan itself (third row, records handed on as found) and to the mutation.",
      "",
      `Targets: find ≥ 3× (${callRatio >= 3 ? "met" : "NOT met"}), mutate ≥ 2× (${mutRatio >= 2 ? "met" : "NOT met"}), peak RSS of the streamed scan and of the mutation < 150 MB (${peak < LIMIT ? "met" : "NOT met"}).`
    ].join("\n")
    return { title: "Rollout store", markdown, ok }
  } finally {
    await FsP.rm(dir, { recursive: true, force: true })
  }
}

if (process.argv[2] === "--child" && process.argv[1] !== undefined && Path.resolve(process.argv[1]) === SELF) {
  void childMain(process.argv[3]!, process.argv[4]!, process.argv[5]!)
}
