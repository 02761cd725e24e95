/**
 * `npm run load -- --agents 64 --engine exec|app-server [--idle-sec N] [--profile-sleep N] [--no-doc]`: a host with many
 * agents at once, against the real codex and a scripted model on loopback (CODEX.md), through the
 * real plugin executable. Each agent runs a host-tool turn whose tool answers with a bulky output,
 * then `session/mutate`s that call, then a resumed turn. It passes when every turn completes, every
 * `tool.block` arrives, every mutate touches its call, and no resumed request carries a consumed
 * output. It prints the first wave's wall time, the plugin's peak RSS and codex's peak total RSS
 * (and, for the app-server, its RSS after the wave and after the idle unload), and writes them to
 * docs/benchmarks.md between the load markers. Exits non-zero when anything was lost.
 */
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs"
import { mkdir, mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { flockHolders } from "../src/core/rollout/RolloutWriters.ts"
import { codexBin, codexOfflineArgs, makeTempCodexHome } from "../test/support/CodexOffline.ts"
import { makeProfile, startReferenceHost } from "../test/support/ReferenceHost.ts"
import { assistantMessage, functionCall, type ModelRequest, startScriptedModelServer } from "../test/support/ScriptedModelServer.ts"

const arg = (name: string, fallback: string) => {
  const at = process.argv.indexOf(`--${name}`)
  return at === -1 ? fallback : process.argv[at + 1] ?? fallback
}
const agents = Number(arg("agents", "64"))
const engine = arg("engine", "exec")
/** After both waves the app-server engine is re-initialized with this idle time, and its RSS measured after it. */
const idleSec = Number(arg("idle-sec", "2"))
const idleMs = idleSec * 1000
/** Nothing here may hang a CI run: past this the run fails. */
const DEADLINE_MS = 20 * 60_000
const writeDoc = !process.argv.includes("--no-doc")
/** `--profile-sleep N`: a login shell profile that takes N s (codex sources it at every start, CODEX.md). */
const profileSleep = Number(arg("profile-sleep", "0"))
if (!Number.isInteger(agents) || agents < 1) throw new Error(`--agents takes a positive whole number, not ${arg("agents", "")}`)
if (engine !== "exec" && engine !== "app-server") throw new Error(`--engine takes exec or app-server, not ${engine}`)

/** What the host tool answers: big enough that a resumed request carrying it is unmistakable. */
const bulky = (agent: string) => `BULKY-${agent}-` + "x".repeat(4096)
const agentOf = (req: ModelRequest) => /AGENT=(a\d+)/.exec(JSON.stringify(req.body.input))?.[1] ?? "unknown"

const leaks: Array<string> = []
const script = (req: ModelRequest) => {
  const input = JSON.stringify(req.body.input)
  const agent = agentOf(req)
  if (input.includes("SECOND TURN")) {
    if (input.includes(`BULKY-${agent}-`)) leaks.push(agent)
    return { items: [assistantMessage(`second done ${agent}`)] }
  }
  if (input.includes("function_call_output")) return { items: [assistantMessage(`first done ${agent}`)] }
  const namespace = (req.body.tools as Array<any>).find((t) => t.type === "namespace" && String(t.name).startsWith("mcp__"))?.name
  return { items: [functionCall("lookup", { agent }, namespace === undefined ? {} : { namespace })] }
}

/** A memory figure of /proc/<pid>/status (VmRSS: resident now, VmHWM: its peak), in bytes. */
const memoryOf = (pid: number, field: "VmRSS" | "VmHWM"): number => {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))
    return m ? Number(m[1]) * 1024 : 0
  } catch {
    return 0
  }
}
const rssOf = (pid: number) => memoryOf(pid, "VmRSS")
const codexPids = (): Array<number> => {
  const out: Array<number> = []
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue
    try {
      // This run's codex only: other codex processes on the machine (the user's own) are not counted.
      if (readlinkSync(`/proc/${name}/exe`).endsWith("/codex") && readFileSync(`/proc/${name}/environ`, "latin1").includes(homeEntry)) out.push(Number(name))
    } catch {}
  }
  return out
}
const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MB`

setTimeout(() => {
  process.stderr.write(`load: not finished after ${DEADLINE_MS / 60_000} min; failing\n`)
  process.exit(2)
}, DEADLINE_MS).unref()

const model = await startScriptedModelServer(script)
const codexHome = await makeTempCodexHome()
const homeEntry = `\0CODEX_HOME=${codexHome.dir}\0`
const workspaceRoot = await mkdtemp(join(tmpdir(), "plexum-load-"))
const profile = await makeProfile({
  binary: codexBin,
  extra_args: codexOfflineArgs(model.baseUrl),
  engine
})
const shellHome = profileSleep > 0 ? await mkdtemp(join(tmpdir(), "plexum-load-home-")) : undefined
if (shellHome !== undefined) writeFileSync(join(shellHome, ".bashrc"), `sleep ${profileSleep}\n`)
const host = await startReferenceHost({
  env: { PLEXUM_PROFILE_ROOT: profile.root, CODEX_HOME: codexHome.dir, ...(shellHome === undefined ? {} : { HOME: shellHome }) }
})
const problems: Array<string> = []
let codexPeak = 0
const sampler = setInterval(() => {
  codexPeak = Math.max(codexPeak, codexPids().reduce((n, pid) => n + rssOf(pid), 0))
}, 200)

try {
  const init = await host.initialize()
  if (init.error) throw new Error(`initialize failed: ${JSON.stringify(init.error)}`)
  host.onToolCall((call) => ({ content: [{ type: "text", text: bulky(call.arguments.agent) }] }))
  const tool = { name: "lookup", description: "looks a thing up", inputSchema: { type: "object", properties: { agent: { type: "string" } } } }
  const ids = Array.from({ length: agents }, (_, i) => `a${i}`)
  const agentCtx = async (id: string) => {
    const workspace = join(workspaceRoot, id)
    await mkdir(workspace, { recursive: true })
    return { agentId: id, workspace }
  }
  const contexts = new Map(await Promise.all(ids.map(async (id) => [id, await agentCtx(id)] as const)))

  // Wave 1: every agent's host-tool turn at once.
  const t0 = performance.now()
  const first = await Promise.all(ids.map(async (id) => {
    const turnId = `${id}-first`
    const r = await host.request("provider/stream", {
      turnId,
      modelId: "codex",
      agent: contexts.get(id),
      request: { messages: [{ role: "user", content: `AGENT=${id} look it up` }], tools: [tool], session: { fresh: true } }
    })
    return { id, r, events: host.eventsOf(turnId) }
  }))
  const waveMs = performance.now() - t0
  const blocks = new Map<string, string>()
  const threads = new Map<string, string>()
  for (const { id, r, events } of first) {
    threads.set(id, r.result?.threadId)
    if (r.result?.status !== "completed") {
      const last = events.at(-1)
      problems.push(`${id}: first turn ${r.result?.status ?? JSON.stringify(r.error)}: ${JSON.stringify(last).slice(0, 300)}`)
      continue
    }
    const block = events.find((e) => e.type === "tool.block" && e.name?.includes("lookup"))
    if (block === undefined) problems.push(`${id}: no tool.block for the host tool call`)
    else blocks.set(id, block.blockId)
  }
  // Each agent's host tool call reached the host (a refused call still leaves a block in the rollout).
  const called = new Set(host.toolCalls.map((c) => c.agentId))
  for (const id of ids) {
    if (called.has(id)) continue
    const seen = host.eventsOf(`${id}-first`).find((e) => e.type === "tool.completed" || e.type === "tool.block")
    problems.push(`${id}: the host tool call never reached the host; codex saw: ${JSON.stringify(seen ?? null).slice(0, 400)}`)
  }
  const appServerAfterWave = engine === "app-server" ? codexPids().reduce((n, pid) => n + rssOf(pid), 0) : 0

  // Every mutate at once.
  const mutates = await Promise.all([...blocks].map(async ([id, blockId]) => {
    const r = await host.request("session/mutate", { agent: contexts.get(id), mutations: [{ blockId, op: "light" }] })
    return { id, r }
  }))
  for (const { id, r } of mutates) {
    if (r.error && process.env.LOAD_DEBUG) {
      const t = (r.error.data as any)?.threadId
      const holders = flockHolders(join(codexHome.dir, "thread-writer-locks", `${t}.lock`))
      process.stderr.write(`holders of ${t}: ${holders.map((p) => `${p} ${readFileSync(`/proc/${p}/cmdline`, "latin1").replace(/\0/g, " ").slice(0, 200)}`).join("; ")}\n`)
    }
    if (r.error) problems.push(`${id}: mutate refused: ${r.error.code} ${r.error.message} ${JSON.stringify(r.error.data ?? {})}`)
    else if (r.result.touched < 1) problems.push(`${id}: mutate touched nothing (missing ${JSON.stringify(r.result.missing)})`)
  }

  // Wave 2: every agent resumes its thread; the model must not see the consumed output.
  const second = await Promise.all(ids.map(async (id) => {
    const r = await host.request("provider/stream", {
      turnId: `${id}-second`,
      modelId: "codex",
      agent: contexts.get(id),
      request: { messages: [{ role: "user", content: `AGENT=${id} SECOND TURN` }], tools: [tool] }
    })
    return { id, r }
  }))
  for (const { id, r } of second) {
    if (r.result?.status !== "completed") problems.push(`${id}: resumed turn ${r.result?.status ?? JSON.stringify(r.error)}`)
    else if (r.result.threadId !== threads.get(id)) problems.push(`${id}: the second turn ran on thread ${r.result.threadId}, not ${threads.get(id)}`)
  }
  for (const id of leaks) problems.push(`${id}: the resumed request carried the consumed output`)

  let appServerAfterIdle = 0
  if (engine === "app-server" && idleSec <= 60) {
    // The waves ran with the default idle time (so each mutate released its thread from the app-server
    // itself); a config with a short one, taken at a new initialize, lets the idle threads go.
    writeFileSync(join(profile.root, "plugins", "plexum-openai-provider", "config.json"), JSON.stringify({
      binary: codexBin,
      extra_args: codexOfflineArgs(model.baseUrl),
      engine,
      thread_idle_unload_sec: idleSec
    }))
    const again = await host.initialize()
    if (again.error) problems.push(`re-initialize failed: ${JSON.stringify(again.error)}`)
    await new Promise((r) => setTimeout(r, idleMs * 2 + 1000))
    appServerAfterIdle = codexPids().reduce((n, pid) => n + rssOf(pid), 0)
  }
  const pluginPeak = memoryOf(host.pid, "VmHWM")

  const lines = [
    `agents: ${agents}, engine: ${engine}`,
    `first wave: ${(waveMs / 1000).toFixed(1)} s; plugin peak RSS ${mb(pluginPeak)}; codex peak total RSS ${mb(codexPeak)}`,
    ...(engine === "app-server" ? [`app-server RSS after the first wave ${mb(appServerAfterWave)}, after ${idleMs} ms idle ${mb(appServerAfterIdle)}`] : []),
    problems.length === 0 ? "every turn completed, every tool.block arrived, every mutate applied, no consumed output resent" : `${problems.length} problem(s):`,
    ...problems.slice(0, 20).map((p) => `  ${p}`),
    ...host.logs.filter((l) => l.level === "warn" || l.level === "error").slice(0, 10).map((l) => `  plugin ${l.level}: ${l.message}`)
  ]
  process.stdout.write(lines.join("\n") + "\n")

  if (writeDoc && problems.length === 0) {
    const docPath = new URL("../docs/benchmarks.md", import.meta.url)
    const doc = readFileSync(docPath, "utf8")
    const begin = `<!-- load:${engine}:begin -->`
    const end = `<!-- load:${engine}:end -->`
    const row = [
      begin,
      `\`npm run load -- --agents ${agents} --engine ${engine}\` (${new Date().toISOString().slice(0, 10)}): first wave ${(waveMs / 1000).toFixed(1)} s, ` +
        `plugin peak RSS ${mb(pluginPeak)}, codex peak total RSS ${mb(codexPeak)}` +
        (engine === "app-server" ? `, app-server RSS ${mb(appServerAfterWave)} after the wave and ${mb(appServerAfterIdle)} after ${idleMs} ms idle` : "") +
        "; nothing lost.",
      end
    ].join("\n")
    const at = doc.indexOf(begin)
    const heading = "## Many agents at once (`npm run load`)"
    const next = at !== -1
      ? doc.slice(0, at) + row + doc.slice(doc.indexOf(end) + end.length)
      : doc.includes(heading)
        ? `${doc.trimEnd()}\n\n${row}\n`
        : `${doc.trimEnd()}\n\n${heading}\n\n${row}\n`
    writeFileSync(docPath, next)
  }
} finally {
  clearInterval(sampler)
  await host.dispose()
  await model.close()
  await codexHome.cleanup()
  await profile.cleanup()
  await rm(workspaceRoot, { recursive: true, force: true })
  if (shellHome !== undefined) await rm(shellHome, { recursive: true, force: true })
}
process.exit(problems.length === 0 ? 0 : 1)
