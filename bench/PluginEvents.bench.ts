/**
 * Throughput to the host: a fake codex prints 100,000 events, each of which becomes one canonical
 * event; every one must reach the host, in order, as a provider/event notification. The host side
 * is a lean line reader (the reference host keeps every line for assertions, which would measure
 * itself). Baseline: the same fake codex read by a plain readline + JSON.parse loop.
 */
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import * as Readline from "node:readline"
import { fileURLToPath } from "node:url"
import { makeProfile, pluginBin } from "../test/support/ReferenceHost.ts"
import { type BenchSection, fmtMB, fmtMs } from "./Harness.ts"

const fakeCodex = fileURLToPath(new URL("../test/fixtures/fake-codex/fake-codex.mjs", import.meta.url))
const EVENTS = 100_000
const fakeEnv = { FAKE_CODEX_MODE: "many", FAKE_CODEX_EVENTS: String(EVENTS) }

const peakRss = (pid: number): number => {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return m ? Number(m[1]) * 1024 : NaN
}

interface Rate {
  readonly count: number
  /** First event to last event. */
  readonly streamMs: number
  /** Request (or spawn) to the end. */
  readonly wallMs: number
  readonly inOrder: boolean
  readonly rss?: number
}

const baseline = () =>
  new Promise<Rate>((resolve) => {
    const t0 = performance.now()
    const child = spawn(process.execPath, [fakeCodex], { env: { ...process.env, ...fakeEnv }, stdio: ["pipe", "pipe", "ignore"] })
    child.stdin.end("go")
    let n = 0
    let first = 0
    let last = 0
    Readline.createInterface({ input: child.stdout }).on("line", (l) => {
      JSON.parse(l)
      if (n++ === 0) first = performance.now()
      last = performance.now()
    })
    child.on("close", () => resolve({ count: n, streamMs: last - first, wallMs: performance.now() - t0, inOrder: true }))
  })

const viaPlugin = async (): Promise<Rate> => {
  const profile = await makeProfile({ binary: fakeCodex })
  const plugin = spawn(pluginBin, [], {
    env: { ...process.env, PLEXUM_PROFILE_ROOT: profile.root, CODEX_HOME: `${profile.root}/codex`, ...fakeEnv },
    stdio: ["pipe", "pipe", "ignore"]
  })
  const send = (msg: unknown) => plugin.stdin.write(JSON.stringify({ jsonrpc: "2.0", ...(msg as object) }) + "\n")
  try {
    return await new Promise<Rate>((resolve, reject) => {
      let t0 = 0
      let first = 0
      let last = 0
      let count = 0
      let inOrder = true
      Readline.createInterface({ input: plugin.stdout }).on("line", (line) => {
        const msg = JSON.parse(line)
        if (msg.method === "provider/event") {
          if (msg.params.seq !== count) inOrder = false
          if (count++ === 0) first = performance.now()
          last = performance.now()
        } else if (msg.id === 1) {
          t0 = performance.now()
          send({ id: 2, method: "provider/stream", params: { turnId: "many", modelId: "codex", agent: { agentId: "bench", workspace: "/tmp" }, request: { messages: [{ role: "user", content: "go" }], session: { fresh: true } } } })
        } else if (msg.id === 2) {
          if (msg.result?.status !== "completed") return reject(new Error(`turn failed: ${line}`))
          resolve({ count, streamMs: last - first, wallMs: performance.now() - t0, inOrder, rss: peakRss(plugin.pid!) })
        }
      })
      send({ id: 1, method: "initialize", params: { protocolVersion: 1, host: { name: "bench", version: "1" } } })
    })
  } finally {
    plugin.stdin.end()
    await new Promise((r) => plugin.once("close", r))
    await profile.cleanup()
  }
}

const perSecond = (r: Rate) => r.count / (r.streamMs / 1000)

export const run = async (): Promise<BenchSection> => {
  const base: Array<Rate> = []
  const plugin: Array<Rate> = []
  for (let i = 0; i < 5; i++) {
    base.push(await baseline())
    plugin.push(await viaPlugin())
  }
  const med = (rs: Array<Rate>) => [...rs].sort((a, b) => perSecond(a) - perSecond(b))[rs.length >> 1]!
  const p = med(plugin)
  const b = med(base)
  const expected = EVENTS + 3 // + turn.started, usage, turn.completed
  const allArrived = plugin.every((r) => r.count === expected && r.inOrder)
  const MB = 1024 * 1024
  const ok = allArrived && perSecond(p) >= 150_000 && (p.rss ?? Infinity) <= 100 * MB
  return {
    title: "100,000 codex events to the host",
    ok,
    markdown: `
A fake codex (\`test/fixtures/fake-codex/fake-codex.mjs\`, mode \`many\`) prints ${EVENTS.toLocaleString("en")} events, each a new
command, reasoning, plan or message, so each becomes one canonical event; the plugin decodes, maps, numbers and
writes them as \`provider/event\` notifications and a host reads and parses every line. Median of 5 alternating runs;
the rate is first event to last event at the reader; peak memory is the plugin's VmHWM.

| path | events/s | first→last | request→answer | events at the reader | in order | peak RSS |
|---|---|---|---|---|---|---|
| fake codex → readline + JSON.parse (baseline) | ${Math.round(perSecond(b)).toLocaleString("en")} | ${fmtMs(b.streamMs)} | ${fmtMs(b.wallMs)} | ${b.count.toLocaleString("en")} | — | — |
| fake codex → plugin → host | **${Math.round(perSecond(p)).toLocaleString("en")}** | ${fmtMs(p.streamMs)} | ${fmtMs(p.wallMs)} | ${p.count.toLocaleString("en")} | ${allArrived ? "yes, every run" : "NO"} | ${fmtMB(p.rss ?? NaN)} |

Target: every event at the host, in order, at ≥ 150,000 events/s, with the plugin's peak RSS ≤ 100 MB.

Where the time goes (\`--cpu-prof\`, \`--trace-gc-nvp\` and per-thread CPU from \`/proc\` on this machine):
the plugin's main thread spends about 6.5 µs per event, against about 3 µs for the same split → decode → map
→ serialise → encode run in a plain warm loop (\`JSON.parse\` of codex's line about 1.2 µs, the mapping 0.5
µs, \`JSON.stringify\` and UTF-8 encoding 1.3 µs); the rest is Effect's stream machinery around each chunk
(about 250 chunks of 400 events), pipe I/O and V8's collector (with \`serve\`'s flags below, about 265
scavenges of a 1 MB young generation, 0.3 s in all, and 7–9 full collections). V8's helper threads add about
0.4 s of CPU, the host's reading about 0.3 s, the fake codex its own: four busy parties on two cores, and
the main thread waits for one of them about a third of the time. For scale, with none of the plugin's
machinery (one node script: split, \`JSON.parse\`, map, \`JSON.stringify\`, write; the same fake codex and
host) 164,000–185,000 events/s arrive here, and 157,000–169,000 with this plugin's own splitter, decoder and
mapper in that loop, so the per-line code is not what is missing; the turn's Stream with no way to stop it
(no cancel, not shippable) reached 108,000–118,000.

Effect's \`Stream.runForEachChunk\`, \`Stream.mapChunksEffect\` and a per-chunk \`Effect.gen\` each left
every chunk reachable long enough for V8 to promote it (about 30 MB per 100,000 events, measured in
process); the hot path avoids them (\`src/core/StreamPull.ts\`). Cancel and timeout need the turn's stream
to run in a fiber that can be interrupted: \`Stream.interruptWhen\` forked one for every chunk; handing
chunks over from one fiber through a queue instead raised the rate by about 7% and cut 150 ms of plugin CPU
(10 alternating runs each), but most of what was still promoted crossed that hand-over (about 13 MB per
100,000 events with it, 4 MB with none, in process). Now the whole turn is raced against cancel and timeout
once, and the stream is pulled in the fiber that writes it (\`writeEventsUntilStopped\`, TurnRunnerLive). Each batch is encoded line by line into one Buffer: joining
the lines first made a rope to flatten, two-byte as a whole once any event held a character above U+00FF.

Memory: an idle \`serve\` holds about 72 MB RSS (about 42 MB of it node itself). With V8's defaults the
burst took it to about 150 MB: the young generation doubled to 16 MB a half as chunks survived its
collections, and the old one grew to several times what was live (promoted chunks, and Buffers freed only
by a full collection) before one came. \`serve\` now keeps the young generation at its first size
(\`--semi-space-growth-factor=1\`) and collects the old one each time it has grown by half
(\`--heap-growing-percent=50\`), set by the executable after it has compiled from its code cache
(\`bin/plexum-openai-provider-plugin\`): 150 → 90 MB at the same rate (8 alternating runs each). Either
flag alone left it at 112–125 MB; 100% gave 95 MB, 20% 86 MB (with a 128 KiB read-ahead). Other commands
keep V8's defaults: with them \`rollout inspect\` of a 200 MB rollout takes 2.9 s, with the young generation kept small 3.6 s.
`
  }
}
