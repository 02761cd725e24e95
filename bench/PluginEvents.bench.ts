/**
 * Throughput to the host: a fake codex prints 100,000 events; every one must reach the host, in
 * order, as provider/event notifications. Baseline: the same fake codex read by a plain
 * readline + JSON.parse loop (how fast the events can be produced at all).
 */
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import * as Readline from "node:readline"
import { fileURLToPath } from "node:url"
import { makeProfile, startReferenceHost } from "../test/support/ReferenceHost.ts"
import { type BenchSection, fmtMB } from "./Harness.ts"

const fakeCodex = fileURLToPath(new URL("../test/fixtures/fake-codex/fake-codex.mjs", import.meta.url))
const EVENTS = 100_000

const peakRss = (pid: number): number => {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return m ? Number(m[1]) * 1024 : NaN
}

const baseline = () =>
  new Promise<number>((resolve) => {
    const t0 = performance.now()
    const child = spawn(process.execPath, [fakeCodex], {
      env: { ...process.env, FAKE_CODEX_MODE: "many", FAKE_CODEX_EVENTS: String(EVENTS) },
      stdio: ["pipe", "pipe", "ignore"]
    })
    child.stdin.end("go")
    let n = 0
    Readline.createInterface({ input: child.stdout }).on("line", (l) => {
      JSON.parse(l)
      n++
    })
    child.on("close", () => resolve(n / ((performance.now() - t0) / 1000)))
  })

const viaPlugin = async () => {
  const profile = await makeProfile({ binary: fakeCodex })
  const host = await startReferenceHost({
    env: { PLEXUM_PROFILE_ROOT: profile.root, CODEX_HOME: profile.root + "/codex", FAKE_CODEX_MODE: "many", FAKE_CODEX_EVENTS: String(EVENTS) }
  })
  try {
    await host.initialize()
    const t0 = performance.now()
    const r = await host.request("provider/stream", {
      turnId: "many",
      modelId: "codex",
      agent: { agentId: "bench", workspace: "/tmp" },
      request: { messages: [{ role: "user", content: "go" }], session: { fresh: true } }
    })
    const seconds = (performance.now() - t0) / 1000
    const events = host.eventsOf("many")
    const seqs = host.events.filter((e) => e.turnId === "many").map((e) => e.seq)
    const inOrder = seqs.every((s, i) => s === i)
    const rss = peakRss(host.pid)
    if (r.result?.status !== "completed") throw new Error(`turn failed: ${JSON.stringify(r)}`)
    return { rate: events.length / seconds, count: events.length, inOrder, rss, seconds }
  } finally {
    await host.dispose()
    await profile.cleanup()
  }
}

export const run = async (): Promise<BenchSection> => {
  const base: Array<number> = []
  const plugin: Array<Awaited<ReturnType<typeof viaPlugin>>> = []
  for (let i = 0; i < 3; i++) {
    base.push(await baseline())
    plugin.push(await viaPlugin())
  }
  const best = plugin.reduce((a, b) => (a.rate > b.rate ? a : b))
  const baseBest = Math.max(...base)
  const ok = plugin.every((p) => p.inOrder && p.count >= EVENTS) && best.rate >= 50_000
  return {
    title: "100,000 codex events to the host",
    ok,
    markdown: `
A fake codex (\`test/fixtures/fake-codex/fake-codex.mjs\`, mode \`many\`) prints ${EVENTS.toLocaleString("en")} \`item.completed\`
events; the plugin decodes, maps, numbers and writes each as a \`provider/event\` notification, and the reference host
parses them all. Best of 3 alternating runs; peak memory is the plugin's VmHWM.

| path | events/s | events at the host | in order | plugin peak RSS |
|---|---|---|---|---|
| fake codex → readline + JSON.parse (baseline) | ${Math.round(baseBest).toLocaleString("en")} | — | — | — |
| fake codex → plugin → host | **${Math.round(best.rate).toLocaleString("en")}** | ${best.count.toLocaleString("en")} | ${plugin.every((p) => p.inOrder) ? "yes" : "NO"} | ${fmtMB(best.rss)} |

Target: ≥ 50,000 events/s at the host, all in order (the plugin reaches ${((best.rate / baseBest) * 100).toFixed(0)}% of the bare reader's rate).
`
  }
}
