// The same promises through both engines (PROTOCOL.md §8), the real plugin and the real codex:
// a turn, a host tool, consume + resume, cancel with nothing left behind, per-turn usage and two
// agents at once. The app-server engine also streams deltas, offers exactly each turn's tools,
// and survives its app-server being killed.
import { afterEach, describe, expect, it } from "vitest"
import { type PluginHarness, startPluginHarness, userMessage } from "../support/PluginHarness.ts"
import { processesMatching, waitForNoProcesses } from "../support/Processes.ts"
import { assistantMessage, functionCall, type ModelRequest, requestText } from "../support/ScriptedModelServer.ts"

let harness: PluginHarness | undefined
afterEach(async () => {
  await harness?.dispose()
  harness = undefined
})

const lookupTool = { name: "lookup_ticket", description: "Find a ticket", inputSchema: { type: "object", properties: { id: { type: "string" } } } }
const hasOutput = (req: ModelRequest) => (req.body.input as Array<any>).some((i) => i.type === "function_call_output")
/** The function tools the model was offered, whatever the engine's grouping (MCP namespaces or flat). */
const offeredNames = (req: ModelRequest): Array<string> =>
  (req.body.tools as Array<any>)
    .flatMap((t) => (t.type === "namespace" ? (t.tools as Array<any>).map((x) => x.name) : [t.name]))
    .filter((n): n is string => typeof n === "string")

describe.each(["exec", "app-server"] as const)("engine %s", (engine) => {
  const start = (script: Parameters<typeof startPluginHarness>[0]) => startPluginHarness(script, { config: { engine } })

  it("runs a turn: turn.started first, the message, usage, turn.completed; deltas add up to the message", async () => {
    harness = await start(() => ({ items: [assistantMessage("Hello from the model.")], usage: { input_tokens: 12, output_tokens: 4 }, stream: {} }))
    const { response, events } = await harness.turn("t1", { messages: [userMessage("hi")] })
    expect(response.result.status).toBe("completed")
    expect(events[0]).toMatchObject({ type: "turn.started", resumed: false })
    const message = events.find((e) => e.type === "message")
    expect(message.text).toBe("Hello from the model.")
    const deltas = events.filter((e) => e.type === "message.delta" && e.itemId === message.itemId)
    if (engine === "app-server") expect(deltas.map((d) => d.delta).join("")).toBe("Hello from the model.")
    else expect(deltas).toEqual([])
    expect(events.find((e) => e.type === "usage")).toMatchObject({ inputTokens: 12, outputTokens: 4 })
    expect(events.at(-1)).toMatchObject({ type: "turn.completed", finalMessage: "Hello from the model." })
    expect(harness.host.logs.filter((l) => l.level === "warn" && /exec engine/.test(l.message))).toEqual([])
  })

  it("calls a host tool: the host answers, the model gets the answer, the block carries codex's call id", async () => {
    harness = await start((req) =>
      hasOutput(req)
        ? { items: [assistantMessage("PLX-42 is open.")] }
        : { items: [functionCall("lookup_ticket", { id: "PLX-42" }, { callId: "call_host_1", ...namespaceOf(req) })] }
    )
    const h = harness
    h.host.onToolCall((call) => ({ content: [{ type: "text", text: `ticket ${call.arguments.id}: open` }] }))
    const { response, events } = await h.turn("t1", { messages: [userMessage("look it up")], tools: [lookupTool] })
    expect(response.result.status).toBe("completed")
    expect(h.host.toolCalls).toMatchObject([{ turnId: "t1", agentId: "agent-1", name: "lookup_ticket", arguments: { id: "PLX-42" } }])
    expect(requestText(h.model.requests.at(-1)!)).toContain("ticket PLX-42: open")
    expect(events.filter((e) => e.type === "tool.block").map((e) => e.blockId)).toEqual(["call_host_1"])
    expect(events.find((e) => e.type === "tool.completed")).toMatchObject({ kind: "dynamic", name: "lookup_ticket" })
  })

  it("consume + resume: a mutation between turns reaches the model on the next turn", async () => {
    const secret = "SECRET-OUTPUT-7731"
    harness = await start((req) =>
      req.index === 0
        ? { items: [functionCall("exec_command", { cmd: `echo ${secret}` }, { callId: "call_echo" })] }
        : { items: [assistantMessage(`answer ${req.index}`)] }
    )
    const h = harness
    const first = await h.turn("t1", { messages: [userMessage("run it")] })
    expect(first.events.filter((e) => e.type === "tool.block").map((e) => e.blockId)).toEqual(["call_echo"])
    const agent = { agentId: "agent-1", workspace: h.workspace }
    const mutated = await h.host.request("session/mutate", { agent, mutations: [{ blockId: "call_echo", op: "heavy" }] })
    expect(mutated.result).toEqual({ touched: 2, missing: [] })
    const second = await h.turn("t2", { messages: [userMessage("run it"), { role: "assistant", content: "answer 1" }, userMessage("again")] })
    expect(second.response.result).toMatchObject({ status: "completed", threadId: first.response.result.threadId })
    const sent = requestText(h.model.requests.at(-1)!)
    expect(sent).toContain("...(tool called)")
    expect(sent).not.toContain(secret)
  })

  it("cancels a turn whose shell command hangs: cancelled, and no process of the turn left", async () => {
    harness = await start((req) =>
      req.index === 0 ? { items: [functionCall("exec_command", { cmd: "sleep 987654" }, { callId: "call_sleep" })] } : { hang: true }
    )
    const h = harness
    const pending = h.host.request("provider/stream", h.streamParams("t1", { messages: [userMessage("wait")] }))
    await h.host.waitForEvent("t1", (e) => e.type === "tool.started", 30_000)
    expect((await h.host.request("provider/cancel", { turnId: "t1" })).result).toEqual({ cancelled: true })
    expect((await pending).result.status).toBe("cancelled")
    expect(h.host.eventsOf("t1").at(-1)).toMatchObject({ type: "turn.failed", code: "cancelled" })
    expect(await waitForNoProcesses(/sleep 987654/, 10_000)).toEqual([])
    // exec: the turn's codex is gone too (the app-server engine keeps its app-server for the next turn).
    if (engine === "exec") expect(await waitForNoProcesses(new RegExp(`exec .*${escapeRegExp(h.model.baseUrl)}`), 10_000)).toEqual([])
  })

  it("reports each turn's own usage on a resumed thread", async () => {
    harness = await start((req) => ({ items: [assistantMessage(`a${req.index}`)], usage: { input_tokens: 100 * (req.index + 1), output_tokens: 7 } }))
    const h = harness
    const one = await h.turn("t1", { messages: [userMessage("one")] })
    const two = await h.turn("t2", { messages: [userMessage("one"), { role: "assistant", content: "a0" }, userMessage("two")] })
    expect(two.response.result.threadId).toBe(one.response.result.threadId)
    expect(one.response.result.usage).toMatchObject({ inputTokens: 100, outputTokens: 7 })
    expect(two.response.result.usage).toMatchObject({ inputTokens: 200, outputTokens: 7 })
  })

  it("runs two agents at once, each offered only its own tools", async () => {
    harness = await start((req) => ({ items: [assistantMessage(`tools: ${offeredNames(req).filter((n) => n.startsWith("tool_")).sort().join(",")}`)] }))
    const h = harness
    const tool = (name: string) => ({ name, inputSchema: { type: "object" } })
    const [a, b] = await Promise.all([
      h.turn("ta", { messages: [userMessage("a")], tools: [tool("tool_a")] }, "agent-a"),
      h.turn("tb", { messages: [userMessage("b")], tools: [tool("tool_b")] }, "agent-b")
    ])
    expect(a.response.result.status).toBe("completed")
    expect(b.response.result.status).toBe("completed")
    expect(a.events.at(-1).finalMessage).toBe("tools: tool_a")
    expect(b.events.at(-1).finalMessage).toBe("tools: tool_b")
  })
})

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")

/** The MCP namespace of the host tools (exec engine), or none (dynamic tools are flat). */
const namespaceOf = (req: ModelRequest): { namespace?: string } => {
  const name = (req.body.tools as Array<any>).find((t) => t.type === "namespace" && String(t.name).startsWith("mcp__plexum_host_"))?.name
  return name === undefined ? {} : { namespace: name }
}

describe("engine app-server only", () => {
  const start = (script: Parameters<typeof startPluginHarness>[0]) => startPluginHarness(script, { config: { engine: "app-server" } })

  it("sends deltas before the model's response is complete", async () => {
    let release!: () => void
    const hold = new Promise<void>((r) => (release = r))
    harness = await start(() => ({ items: [assistantMessage("one two three four")], stream: { delayMs: 20, holdCompletion: hold } }))
    const h = harness
    const pending = h.host.request("provider/stream", h.streamParams("t1", { messages: [userMessage("hi")] }))
    const first = await h.host.waitForEvent("t1", (e) => e.type === "message.delta", 30_000)
    expect(first.delta.length).toBeGreaterThan(0)
    expect(h.host.eventsOf("t1").some((e) => e.type === "message")).toBe(false) // the response is still open
    release()
    expect((await pending).result.status).toBe("completed")
  })

  it("offers exactly the new tools when a later turn of the conversation offers a different set", async () => {
    harness = await start((req) => ({ items: [assistantMessage(`saw ${offeredNames(req).filter((n) => n.startsWith("tool_")).join(",")}`)] }))
    const h = harness
    const tool = (name: string) => ({ name, inputSchema: { type: "object" } })
    await h.turn("t1", { messages: [userMessage("first")], tools: [tool("tool_old")] })
    const second = await h.turn("t2", { messages: [userMessage("first"), { role: "assistant", content: "saw tool_old" }, userMessage("second")], tools: [tool("tool_new")] })
    const last = h.model.requests.at(-1)!
    expect(offeredNames(last).filter((n) => n.startsWith("tool_"))).toEqual(["tool_new"])
    expect(requestText(last)).toContain("first") // the conversation came along
    expect(second.response.result.status).toBe("completed")
  })

  it.each(["stdin EOF", "SIGTERM"] as const)("ends the app-server and every child of it when the plugin ends (%s)", async (how) => {
    harness = await start((req) =>
      req.index === 0 ? { items: [functionCall("exec_command", { cmd: "sleep 876543" }, { callId: "call_sleep" })] } : { hang: true }
    )
    const h = harness
    const pending = h.host.request("provider/stream", h.streamParams("t1", { messages: [userMessage("wait")] }))
    await h.host.waitForEvent("t1", (e) => e.type === "tool.started", 30_000)
    const ours = new RegExp(`app-server.*${escapeRegExp(h.model.baseUrl)}`)
    expect(processesMatching(ours).length).toBeGreaterThan(0)
    if (how === "SIGTERM") h.host.kill("SIGTERM")
    else h.host.closeStdin()
    await pending.catch(() => undefined)
    await h.host.exited // SIGTERM too ends the plugin in order (it exits 0 after its finalizers)
    expect(await waitForNoProcesses(ours, 10_000)).toEqual([])
    expect(await waitForNoProcesses(/sleep 876543/, 10_000)).toEqual([])
  })

  it("replaces an app-server killed mid-conversation; the next turn resumes the thread", async () => {
    harness = await start((req) => ({ items: [assistantMessage(`reply ${req.index}`)] }))
    const h = harness
    const one = await h.turn("t1", { messages: [userMessage("remember 4411")] })
    // This harness's app-server: its argv names this model server's address.
    const ours = new RegExp(`app-server.*${escapeRegExp(h.model.baseUrl)}`)
    const servers = processesMatching(ours)
    expect(servers.length).toBeGreaterThan(0)
    for (const p of servers) process.kill(p.pid, "SIGKILL")
    expect(await waitForNoProcesses(ours, 10_000)).toEqual([])
    const two = await h.turn("t2", { messages: [userMessage("remember 4411"), { role: "assistant", content: "reply 0" }, userMessage("what was it?")] })
    expect(two.response.result).toMatchObject({ status: "completed", threadId: one.response.result.threadId })
    expect(two.events[0]).toMatchObject({ type: "turn.started", resumed: true })
    expect(requestText(h.model.requests.at(-1)!)).toContain("remember 4411")
  })
})
