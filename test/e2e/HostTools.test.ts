// Host tools inside codex through the MCP bridge: the real plugin, the real codex, the real
// mcp-host (started by codex from the run's own profile), real unix sockets and the MCP SDK.
import { execFileSync } from "node:child_process"
import { readdir, readFile } from "node:fs/promises"
import { join } from "node:path"
import { codexBin } from "../support/CodexOffline.ts"
import { afterEach, describe, expect, it } from "vitest"
import { type PluginHarness, startPluginHarness, userMessage } from "../support/PluginHarness.ts"
import { codexAtLeast } from "../support/CodexVersion.ts"
import { waitForNoProcesses } from "../support/Processes.ts"
import { assistantMessage, functionCall, type ModelRequest, requestText } from "../support/ScriptedModelServer.ts"

let harness: PluginHarness | undefined
afterEach(async () => {
  await harness?.dispose()
  harness = undefined
})

/** What a plain `codex` (not the plugin's) would start on this CODEX_HOME: its MCP server list. */
const plainCodexServers = (codexHome: string): Array<{ name: string; enabled: boolean }> =>
  JSON.parse(execFileSync(codexBin, ["mcp", "list", "--json"], { env: { ...process.env, CODEX_HOME: codexHome }, encoding: "utf8" }))

/** The user's own codex is unaffected (issue 10): nothing of the plugin's left in CODEX_HOME. */
const expectNothingLeftForPlainCodex = async (codexHome: string) => {
  expect(plainCodexServers(codexHome).filter((s) => s.name.startsWith("plexum-host-") && s.enabled)).toEqual([])
  const toml = await readFile(join(codexHome, "config.toml"), "utf8").catch(() => "")
  expect(toml).not.toContain("plexum-host")
  expect((await readdir(codexHome)).filter((f) => f.startsWith("plexum-run-"))).toEqual([])
}

const lookupTool = {
  name: "lookup_ticket",
  description: "Look a ticket up by id",
  inputSchema: { type: "object", properties: { id: { type: "string" } }, required: ["id"] }
}

/** The namespace codex gives this agent's server: `mcp__` + server name with `-` → `_`. */
const namespaceOf = (req: ModelRequest) =>
  (req.body.tools as Array<any>).find((t) => t.type === "namespace" && String(t.name).startsWith("mcp__plexum_host_"))?.name

/** Model: call lookup_ticket once, then answer with whatever came back. */
const callOnce = (args: unknown, callId = "call_host_1") => (req: ModelRequest) => {
  if (req.index === 0) {
    const namespace = namespaceOf(req)
    if (!namespace) return { items: [assistantMessage("no host tools were offered")] }
    return { items: [functionCall("lookup_ticket", args, { callId, namespace })] }
  }
  return { items: [assistantMessage("done")] }
}

describe("host tools through the MCP bridge", () => {
  it("runs a host tool as host/tools/call and gives the model the host's output", async () => {
    harness = await startPluginHarness(callOnce({ id: "T-17" }))
    const h = harness
    h.host.onToolCall((call) => ({ content: [{ type: "text", text: `ticket ${call.arguments.id}: printer on fire` }] }))
    const { response, events } = await h.turn("t1", { messages: [userMessage("look up T-17")], tools: [lookupTool] })
    expect(response.result.status).toBe("completed")
    expect(h.host.toolCalls).toEqual([{ turnId: "t1", agentId: "agent-1", name: "lookup_ticket", arguments: { id: "T-17" } }])
    expect(requestText(h.model.requests[1]!)).toContain("ticket T-17: printer on fire")
    expect(events).toContainEqual(expect.objectContaining({ type: "tool.started", kind: "dynamic", name: "lookup_ticket" }))
    expect(events).toContainEqual(expect.objectContaining({ type: "tool.completed", kind: "dynamic", status: "completed" }))
    expect(events.filter((e) => e.type === "tool.block")).toEqual([
      expect.objectContaining({ blockId: "call_host_1", name: "lookup_ticket", kind: "function", namespace: expect.stringMatching(/^mcp__plexum_host_/) })
    ])
    // Nothing is registered in codex's config (the server lived in the run's profile only), and
    // no mcp-host outlives the turn.
    await expectNothingLeftForPlainCodex(h.codexHome)
    expect(await waitForNoProcesses(/ mcp-host/, 5_000)).toEqual([])
  })

  it("a host tool returning isError fails that call inside codex, not the turn", async () => {
    harness = await startPluginHarness(callOnce({ id: "T-404" }))
    harness.host.onToolCall(() => ({ content: [{ type: "text", text: "no such ticket T-404" }], isError: true }))
    const { response, events } = await harness.turn("t1", { messages: [userMessage("look up")], tools: [lookupTool] })
    expect(response.result.status).toBe("completed")
    expect(events).toContainEqual(expect.objectContaining({ type: "tool.completed", kind: "dynamic", status: "failed" }))
    expect(requestText(harness.model.requests[1]!)).toContain("no such ticket T-404")
  })

  it("a host answering host/tools/call with a JSON-RPC error fails the call, not the turn", async () => {
    harness = await startPluginHarness(callOnce({ id: "T-1" }))
    harness.host.onToolCall(() => {
      throw { code: -32000, message: "ticket service unavailable" }
    })
    const { response, events } = await harness.turn("t1", { messages: [userMessage("look up")], tools: [lookupTool] })
    expect(response.result.status).toBe("completed")
    expect(events.at(-1).type).toBe("turn.completed")
    expect(requestText(harness.model.requests[1]!)).toContain("ticket service unavailable")
  })

  it("four agents with look-alike ids run first turns concurrently, each call under its own agent id", async () => {
    // codex 0.135 cuts `mcp__<server>__<tool>` to 64 characters and then cannot route a call to
    // the cut namespace ("unsupported call"): the 300-character id (a 64-character server name)
    // only works from 0.151 on. Its turn still completes; the call fails inside codex.
    const longIdRoutes = codexAtLeast("0.151.0")
    const ids = ["a.b", "a_b", "a/b", "x".repeat(300)]
    harness = await startPluginHarness((req) => {
      if (req.body.input.some((i: any) => i.type === "function_call_output")) return { items: [assistantMessage("done")] }
      const namespace = namespaceOf(req)
      const who = /agent=(\S+?)</.exec(requestText(req))?.[1] ?? "unknown"
      return namespace
        ? { items: [functionCall("lookup_ticket", { id: who }, { callId: `call_${who.length}_${who.charCodeAt(1)}`, namespace })] }
        : { items: [assistantMessage("no host tools")] }
    })
    const h = harness
    h.host.onToolCall((call) => ({ content: [{ type: "text", text: `for ${call.agentId}` }] }))
    const results = await Promise.all(
      ids.map((agentId, i) => h.turn(`t${i}`, { messages: [userMessage(`agent=${agentId}<`)], tools: [lookupTool] }, agentId))
    )
    for (const r of results) expect(r.response.result.status).toBe("completed")
    // Each call reached the host with the agent id of its own turn.
    const routed = longIdRoutes ? ids : ids.slice(0, 3)
    expect(h.host.toolCalls.map((c) => [c.agentId, c.arguments.id]).sort()).toEqual(routed.map((id) => [id, id]).sort())
    // The census a user would take: their own codex starts none of the four agents' servers.
    await expectNothingLeftForPlainCodex(h.codexHome)
    // After all four, a turn still offers the model only its own agent's host tools.
    await h.turn("t-again", { messages: [userMessage("agent=a.b<")], tools: [lookupTool] }, "a.b")
    const last = h.model.requests.at(-2)!
    const hostNamespaces = (last.body.tools as Array<any>).filter((t) => String(t.name).startsWith("mcp__plexum_host_"))
    expect(hostNamespaces.map((t) => t.name)).toEqual([namespaceOf(last)])
    expect(hostNamespaces).toHaveLength(1)
  }, 120_000)
})
