/**
 * Where the plugin's CPU per turn goes: runs warm one-message turns (or turns with one host tool
 * call) through the plugin started under `node --cpu-prof`, then prints the functions with the
 * most self time, per turn. Build the bundle unminified first so the names mean something:
 *
 *   PLEXUM_BUILD_NO_MINIFY=1 node scripts/build.mjs
 *   npx tsx bench/ProfileTurns.ts [exec|app-server] [turns] [--tool]
 *   node scripts/build.mjs   # the minified bundle again
 *
 * Not a bench section (it asserts nothing and writes no docs); docs/benchmarks.md, "The plugin's
 * own CPU per turn", says what it found.
 */
import { mkdtemp, readdir, readFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pluginBin } from "../test/support/ReferenceHost.ts"
import { startPluginHarness, userMessage } from "../test/support/PluginHarness.ts"
import { assistantMessage, functionCall, type ModelRequest } from "../test/support/ScriptedModelServer.ts"
import { processCpuMs } from "./PluginCpu.bench.ts"

const args = process.argv.slice(2)
const engine = args.find((a) => a === "exec" || a === "app-server") ?? "app-server"
const turns = Number(args.find((a) => /^\d+$/.test(a)) ?? 40)
const withTool = args.includes("--tool")
const top = Number(process.env.PLEXUM_PROFILE_TOP ?? 40)

const script = (req: ModelRequest) => {
  const input = req.body.input as Array<any>
  if (input.some((i) => i.type === "function_call_output")) return { items: [assistantMessage("done")] }
  if (!withTool) return { items: [assistantMessage("one two three")] }
  const namespace = (req.body.tools as Array<any>).find((t) => t.type === "namespace" && String(t.name).startsWith("mcp__"))?.name
  return { items: [functionCall("echo", { text: "hello" }, namespace === undefined ? {} : { namespace })] }
}

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly children?: ReadonlyArray<number>
}
interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
  readonly startTime: number
  readonly endTime: number
}

const dir = await mkdtemp(join(tmpdir(), "plexum-prof-"))
const h = await startPluginHarness(script, {
  config: { engine },
  command: [process.execPath, "--cpu-prof", `--cpu-prof-dir=${dir}`, "--cpu-prof-interval=200", pluginBin]
})
h.host.onToolCall(() => ({ content: [{ type: "text", text: "echo: hello" }] }))
const tool = { name: "echo", inputSchema: { type: "object", properties: { text: { type: "string" } } } }
const turn = async (i: number) => {
  const request = { messages: [userMessage(withTool ? "echo hello" : "hello")], session: { fresh: true }, ...(withTool ? { tools: [tool] } : {}) }
  const { response } = await h.turn(`prof-${i}`, request)
  if (response.result?.status !== "completed") throw new Error(`turn failed: ${JSON.stringify(response)}`)
}
const pid = h.host.pid
for (let i = 0; i < 3; i++) await turn(i)
// The measured window in the profile's own clock: V8 stamps samples with CLOCK_MONOTONIC in µs,
// which is what process.hrtime reads (Linux), so start-up, warm-up and dispose stay out of it.
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n)
const c0 = processCpuMs(pid)
const t0 = performance.now()
const from = monotonicUs()
for (let i = 0; i < turns; i++) await turn(100 + i)
const to = monotonicUs()
const cpu = processCpuMs(pid) - c0
const wall = performance.now() - t0
await h.dispose()

// The plugin's own profile (codex's node wrapper is another process and writes none here).
const file = (await readdir(dir)).find((f) => f.includes(`.${pid}.`))
if (file === undefined) throw new Error(`no profile of ${pid} in ${dir}`)
const profile = JSON.parse(await readFile(join(dir, file), "utf8")) as Profile

// Only the measured turns: the samples stamped between `from` and `to`.
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const parent = new Map<number, number>()
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
const self = new Map<number, number>()
let at = profile.startTime
for (let i = 0; i < profile.samples.length; i++) {
  at += profile.timeDeltas[i]!
  if (at < from || at > to) continue
  const id = profile.samples[i]!
  self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0))
}
const key = (n: ProfileNode) => `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.replace(/^.*\//, "")}:${n.callFrame.lineNumber + 1}`
const selfByFn = new Map<string, number>()
const totalByFn = new Map<string, number>()
let busy = 0
for (const [id, us] of self) {
  const n = byId.get(id)!
  if (n.callFrame.functionName !== "(idle)") busy += us
  selfByFn.set(key(n), (selfByFn.get(key(n)) ?? 0) + us)
  const seen = new Set<string>()
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const k = key(byId.get(cur)!)
    if (seen.has(k)) continue
    seen.add(k)
    totalByFn.set(k, (totalByFn.get(k) ?? 0) + us)
  }
}
// Which module of the bundle a line is in: esbuild heads each one with a `// <path>` comment.
const bundle = (await readFile(new URL("../dist/main.cjs", import.meta.url), "utf8")).split("\n")
const moduleStarts: Array<[number, string]> = []
bundle.forEach((line, i) => {
  const m = /^\/\/ ((?:src|node_modules)\/\S+)$/.exec(line)
  if (m) moduleStarts.push([i, m[1]!.replace(/^node_modules\/(@[^/]+\/[^/]+|[^/]+)\/.*$/, "$1")])
})
const moduleOf = (n: ProfileNode): string => {
  if (!n.callFrame.url.endsWith("main.cjs")) return n.callFrame.url === "" ? n.callFrame.functionName : `node:${n.callFrame.url.replace(/^node:/, "")}`
  let lo = 0
  let hi = moduleStarts.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (moduleStarts[mid]![0] <= n.callFrame.lineNumber) lo = mid
    else hi = mid - 1
  }
  return moduleStarts[lo]?.[1] ?? "?"
}
// Each sample charged to the innermost frame of our own code (src/) on its stack: what of ours
// caused the work, Effect's runtime and node's below it included.
const ours = new Map<string, number>()
const selfByModule = new Map<string, number>()
for (const [id, us] of self) {
  const n = byId.get(id)!
  if (n.callFrame.functionName === "(idle)") continue
  selfByModule.set(moduleOf(n), (selfByModule.get(moduleOf(n)) ?? 0) + us)
  let owner = "(no src/ frame on the stack)"
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const c = byId.get(cur)!
    const m = moduleOf(c)
    if (m.startsWith("src/")) {
      owner = `${m} ${c.callFrame.functionName || "(anonymous)"}:${c.callFrame.lineNumber + 1}`
      break
    }
  }
  ours.set(owner, (ours.get(owner) ?? 0) + us)
}
const perTurn = (us: number) => (us / 1000 / turns).toFixed(2).padStart(7)
process.stdout.write(`${engine}${withTool ? " + host tool" : ""}: ${turns} turns, plugin CPU ${(cpu / turns).toFixed(1)} ms/turn (/proc), wall ${(wall / turns).toFixed(0)} ms/turn, main thread busy in the profile ${perTurn(busy)} ms/turn\n`)
process.stdout.write(`profile: ${join(dir, file)}\n\nself ms/turn  function\n`)
for (const [k, us] of [...selfByFn].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${perTurn(us)}  ${k}\n`)
process.stdout.write(`\nself ms/turn  module\n`)
for (const [k, us] of [...selfByModule].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${perTurn(us)}  ${k}\n`)
process.stdout.write(`\nms/turn  innermost src/ function on the stack\n`)
for (const [k, us] of [...ours].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${perTurn(us)}  ${k}\n`)
process.stdout.write(`\ntotal ms/turn  function\n`)
for (const [k, us] of [...totalByFn].sort((a, b) => b[1] - a[1]).slice(0, top * 2)) process.stdout.write(`${perTurn(us)}  ${k}\n`)
