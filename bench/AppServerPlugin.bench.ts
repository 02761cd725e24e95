/**
 * The app-server engine through the plugin, as a host meets it (provider/stream request → answer),
 * against a bare `codex exec --json` of the same scripted turn, alternating: a warm turn, and a
 * turn after a `session/mutate` of the thread (unload + rewrite + resume + turn). Then the first
 * `message.delta`: how long after the model server wrote the first text delta it reaches the host,
 * through the plugin and, as the baseline, straight from a bare `codex app-server` client — the
 * difference is what the plugin adds.
 */
import { spawn } from "node:child_process"
import { mkdtemp } from "node:fs/promises"
import { codexBin, codexOfflineArgs, makeTempCodexHome, runCodexExec } from "../test/support/CodexOffline.ts"
import { startPluginHarness, userMessage } from "../test/support/PluginHarness.ts"
import { assistantMessage, functionCall, type ModelRequest, startScriptedModelServer, type StreamPacing } from "../test/support/ScriptedModelServer.ts"
import { type BenchSection, fmtMs, fmtRatio, median, medianRatio } from "./Harness.ts"

/** First-delta latencies (model wrote → client got) of a bare `codex app-server`, one process, `n` turns. */
const bareDeltaLatencies = async (n: number): Promise<Array<number>> => {
  let wroteAt = 0
  const model = await startScriptedModelServer(() => ({
    items: [assistantMessage("one two three")],
    stream: { onDelta: (at) => (wroteAt ||= at) } satisfies StreamPacing
  }))
  const home = await makeTempCodexHome()
  const ws = await mkdtemp("/tmp/bench-ws-")
  const child = spawn(codexBin, ["app-server", ...codexOfflineArgs(model.baseUrl).filter((a) => a !== "-m" && a !== "mock-model")], {
    env: { ...process.env, CODEX_HOME: home.dir },
    stdio: ["pipe", "pipe", "ignore"]
  })
  const waiters = new Map<number, (m: any) => void>()
  let onNote: (m: any) => void = () => {}
  let buf = ""
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    buf += d
    const lines = buf.split("\n")
    buf = lines.pop()!
    for (const l of lines) {
      if (l.trim() === "") continue
      const m = JSON.parse(l)
      if (m.id !== undefined && m.method === undefined) waiters.get(m.id)?.(m)
      else if (m.id !== undefined) child.stdin.write(JSON.stringify({ id: m.id, error: { code: -32601, message: "bench" } }) + "\n")
      else onNote(m)
    }
  })
  let id = 0
  const request = (method: string, params: unknown) =>
    new Promise<any>((resolve) => {
      const i = ++id
      waiters.set(i, resolve)
      child.stdin.write(JSON.stringify({ id: i, method, params }) + "\n")
    })
  try {
    await request("initialize", { clientInfo: { name: "bench", version: "0" }, capabilities: { experimentalApi: true } })
    child.stdin.write(JSON.stringify({ method: "initialized" }) + "\n")
    const out: Array<number> = []
    for (let k = 0; k < n; k++) {
      const { result } = await request("thread/start", { cwd: ws, sandbox: "workspace-write", approvalPolicy: "never", model: "mock-model" })
      wroteAt = 0
      const done = new Promise<number>((resolve) => {
        let first = 0
        onNote = (m) => {
          if (m.method === "item/agentMessage/delta" && first === 0) first = performance.now()
          if (m.method === "turn/completed") resolve(first - wroteAt)
        }
      })
      await request("turn/start", { threadId: result.thread.id, input: [{ type: "text", text: "hi", text_elements: [] }] })
      out.push(await done)
    }
    return out
  } finally {
    const closed = new Promise((r) => child.once("close", r))
    child.stdin.end()
    child.kill("SIGKILL")
    await closed
    await model.close()
    await home.cleanup()
  }
}

export const run = async (): Promise<BenchSection> => {
  const rounds = 15
  let wroteAt = 0
  const h = await startPluginHarness(
    (req: ModelRequest) =>
      req.index % 2 === 0 && (req.body.input as Array<any>).at(-1)?.type !== "function_call_output" && /run it/.test(JSON.stringify(req.body.input.at(-1)))
        ? { items: [functionCall("exec_command", { cmd: "echo bench" }, { callId: `call_${req.index}` })] }
        : { items: [assistantMessage("one two three")], stream: { onDelta: (at) => (wroteAt ||= at) } },
    { config: { engine: "app-server" } }
  )
  try {
    let n = 0
    const agent = { agentId: "agent-1", workspace: h.workspace }
    const turn = async (request: Record<string, unknown>) => {
      const { response } = await h.turn(`bench-${n++}`, request)
      if (response.result?.status !== "completed") throw new Error(`plugin turn failed: ${JSON.stringify(response)}`)
      return response.result
    }
    const bare = async () => {
      const r = await runCodexExec({ codexHome: h.codexHome, cwd: h.workspace, args: ["--sandbox", "workspace-write", ...codexOfflineArgs(h.model.baseUrl)], prompt: "hello" })
      if (r.code !== 0) throw new Error(`bare codex failed: ${r.stderr.slice(-500)}`)
    }
    await turn({ messages: [userMessage("hello")] }) // starts the app-server: the figures are about a warm one
    const warm = await medianRatio(rounds, () => turn({ messages: [userMessage("hello")] }), bare)

    // A thread with a tool call to consume; each round: mutate (unload + rewrite), then the next turn resumes it.
    const first = await turn({ messages: [userMessage("run it")] })
    const afterMutation = await medianRatio(
      rounds,
      async () => {
        const m = await h.host.request("session/mutate", { agent, threadId: first.threadId, mutations: [{ blockId: "call_none", op: "light" }] })
        if (m.error) throw new Error(`mutate failed: ${JSON.stringify(m.error)}`)
        await turn({ messages: [userMessage("again")], session: { threadId: first.threadId } })
      },
      bare
    )

    // First delta: model wrote it → the host has it (the plugin), against a bare app-server client.
    const viaPlugin: Array<number> = []
    for (let k = 0; k < rounds; k++) {
      wroteAt = 0
      const turnId = `delta-${k}`
      const pending = h.host.request("provider/stream", h.streamParams(turnId, { messages: [userMessage("hello")], session: { fresh: true } }))
      await h.host.waitForEvent(turnId, (e) => e.type === "message.delta", 30_000)
      viaPlugin.push(performance.now() - wroteAt)
      await pending
    }
    const bareDelta = await bareDeltaLatencies(rounds)
    const added = median(viaPlugin) - median(bareDelta)
    const ok = warm.ratio <= 0.4 && afterMutation.ratio <= 0.6 && added <= 20
    return {
      title: "The app-server engine through the plugin",
      ok,
      markdown: `
\`engine: "app-server"\` through the real plugin (host request → answer; the real codex app-server against the loopback
model server) against \`codex exec --json\` of the same one-message turn, ${rounds} alternating runs each after 2 warm-up
rounds. The mutation row is a \`session/mutate\` of the thread (the plugin unloads it from the app-server, waits for
codex's writer lock, rewrites) followed by the turn that resumes it. The delta rows time the first \`message.delta\`
from the moment the model server wrote the first text delta, through the plugin to the host, and straight from a bare
\`codex app-server\` client (the baseline: codex's own part).

| path | median | ratio / difference | target |
|---|---|---|---|
| bare \`codex exec --json\` | ${fmtMs(warm.b)} | 1.00× | |
| warm app-server turn through the plugin | ${fmtMs(warm.a)} | **${fmtRatio(warm.ratio)}** | ≤ 0.40× |
| bare \`codex exec --json\` (second series) | ${fmtMs(afterMutation.b)} | 1.00× | |
| session/mutate (unload + rewrite) + resumed turn | ${fmtMs(afterMutation.a)} | **${fmtRatio(afterMutation.ratio)}** | ≤ 0.60× |
| first delta, bare app-server client | ${fmtMs(median(bareDelta))} | | |
| first delta, through the plugin to the host | ${fmtMs(median(viaPlugin))} | **+${fmtMs(added)}** | ≤ +20 ms |
`
    }
  } finally {
    await h.dispose()
  }
}
