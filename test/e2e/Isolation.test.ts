// Agents apart, through the real plugin executable, the real codex, the real mcp-host and a
// scripted model: a bridge peer that cannot be told is refused, helper commands never come from a
// relative PATH entry.
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { type PluginHarness, startPluginHarness, userMessage } from "../support/PluginHarness.ts"
import { pluginBin } from "../support/ReferenceHost.ts"
import { assistantMessage, functionCall, type ModelRequest } from "../support/ScriptedModelServer.ts"

let harness: PluginHarness | undefined
const temps: Array<string> = []
afterEach(async () => {
  await harness?.dispose()
  harness = undefined
  while (temps.length > 0) Fs.rmSync(temps.pop()!, { recursive: true, force: true })
})

const lookupTool = {
  name: "lookup_ticket",
  description: "Look a ticket up by id",
  inputSchema: { type: "object", properties: { id: { type: "string" } }, required: ["id"] }
}

const namespaceOf = (req: ModelRequest): string | undefined =>
  (req.body.tools as Array<any>).find((t) => t.type === "namespace" && String(t.name).startsWith("mcp__plexum_host_"))?.name

/** Model: call lookup_ticket once (in the MCP namespace, or flat as an app-server dynamic tool), then answer. */
const hostToolOnce = (req: ModelRequest) => {
  if ((req.body.input as Array<any>).some((i) => i.type === "function_call_output")) return { items: [assistantMessage("done")] }
  const namespace = namespaceOf(req)
  if (namespace !== undefined) return { items: [functionCall("lookup_ticket", { id: "T-1" }, { callId: "call_host", namespace })] }
  const flat = (req.body.tools as Array<any>).some((t) => t.type === "function" && t.name === "lookup_ticket")
  return { items: [flat ? functionCall("lookup_ticket", { id: "T-1" }, { callId: "call_host" }) : assistantMessage("no host tools were offered")] }
}

/** The output the model got back for call `callId`, as one string. */
const outputOf = (req: ModelRequest, callId: string): string => {
  const item = (req.body.input as Array<any>).find((i) => i.type === "function_call_output" && i.call_id === callId)
  return typeof item?.output === "string" ? item.output : JSON.stringify(item?.output ?? null)
}

describe("the bridge's peer check", () => {
  // A profile whose path holds a newline: the bridge's socket then has one too, ss prints its
  // listing over broken lines, and the plugin cannot tell which process connected. (Any system
  // without /proc or ss meets the same refusal.)
  const profile = { prefix: "/tmp/pn-", subdir: "x\ny" }

  it("refuses the calls of a peer it cannot tell, with a warn to the host and a failed tool call the model reads", async () => {
    harness = await startPluginHarness(hostToolOnce, { profile })
    const h = harness
    h.host.onToolCall(() => ({ content: [{ type: "text", text: "ticket T-1: printer on fire" }] }))
    const { response, events } = await h.turn("t1", { messages: [userMessage("go")], tools: [lookupTool] })
    expect(response.result.status).toBe("completed")
    // The call failed inside codex and never reached the host.
    expect(h.host.toolCalls).toEqual([])
    expect(events).toContainEqual(expect.objectContaining({ type: "tool.completed", kind: "dynamic", status: "failed" }))
    const output = outputOf(h.model.requests[1]!, "call_host")
    expect(output).toContain("refused host tool lookup_ticket: it cannot tell which process asked")
    expect(output).toContain('\\"bridge_peer_check\\": false')
    const warns = h.host.logs.filter((l) => l.level === "warn" && /refused host tool call lookup_ticket/.test(l.message))
    expect(warns).toHaveLength(1)
    expect(warns[0].fields.reason).toMatch(/ss printed a line not understood/)
  }, 120_000)

  it("with bridge_peer_check off, serves that peer on the turn token alone", async () => {
    harness = await startPluginHarness(hostToolOnce, { profile, config: { bridge_peer_check: false } })
    const h = harness
    h.host.onToolCall(() => ({ content: [{ type: "text", text: "ticket T-1: printer on fire" }] }))
    const { response } = await h.turn("t1", { messages: [userMessage("go")], tools: [lookupTool] })
    expect(response.result.status).toBe("completed")
    expect(h.host.toolCalls).toHaveLength(1)
    expect(outputOf(h.model.requests[1]!, "call_host")).toContain("ticket T-1: printer on fire")
  }, 120_000)
})

describe("helper commands", () => {
  it("never come from a relative PATH entry: planted ss and flock in the host's directory do not run", async () => {
    // The host starts the plugin in a directory of its own with `bin` (relative) first on PATH.
    const cwd = Fs.mkdtempSync(Path.join(tmpdir(), "plexum-host-cwd-"))
    temps.push(cwd)
    const ran = Path.join(cwd, "planted-ran")
    Fs.mkdirSync(Path.join(cwd, "bin"))
    for (const name of ["ss", "flock"]) {
      Fs.writeFileSync(Path.join(cwd, "bin", name), `#!/bin/sh\necho "${name} $*" >> '${ran}'\nexit 1\n`, { mode: 0o755 })
    }
    const env = { PATH: `bin:${process.env.PATH}` }
    harness = await startPluginHarness(hostToolOnce, { env, cwd })
    const h = harness
    h.host.onToolCall(() => ({ content: [{ type: "text", text: "ticket T-1: printer on fire" }] }))
    // A host tool call (the bridge runs ss to check its peer) ...
    const { response } = await h.turn("t1", { messages: [userMessage("go")], tools: [lookupTool] })
    expect(response.result.status).toBe("completed")
    expect(h.host.toolCalls).toHaveLength(1)
    // ... and a rewrite under codex's writer lock (flock) both ran the system's commands.
    const threadId = response.result.threadId
    expect(Fs.existsSync(Path.join(h.codexHome, "thread-writer-locks"))).toBe(true)
    const mutate = await h.host.request("session/mutate", {
      agent: { agentId: "agent-1", workspace: h.workspace },
      threadId,
      mutations: [{ blockId: "call_host", op: "light" }]
    })
    expect(mutate.result).toEqual({ touched: 1, missing: [] })
    expect(Fs.existsSync(ran) ? Fs.readFileSync(ran, "utf8") : "").toBe("")
    // doctor shows where each one was found.
    const doctor = execFileSync(pluginBin, ["doctor"], {
      cwd,
      env: { ...process.env, ...env, PLEXUM_PROFILE_ROOT: h.profileRoot, CODEX_HOME: h.codexHome },
      encoding: "utf8"
    })
    const line = doctor.split("\n").find((l) => l.includes("helper commands"))
    expect(line).toMatch(/ss: \/\S*\/ss, flock: \/\S*\/flock/)
    expect(doctor.split("\n").find((l) => l.includes("bridge peer check"))).toMatch(/^ok/)
    expect(Fs.existsSync(ran)).toBe(false)
  }, 120_000)
})

