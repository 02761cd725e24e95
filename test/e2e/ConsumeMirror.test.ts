// The consume mirror end to end: tool.block ids are codex's call ids from the rollout, and after
// session/mutate a resumed turn sends the model the marker instead of the old outputs.
import { readFile } from "node:fs/promises"
import { afterEach, describe, expect, it } from "vitest"
import { holdThreadWithRunningTurn, type PluginHarness, startPluginHarness, threadInUseScript, userMessage } from "../support/PluginHarness.ts"
import { assistantMessage, functionCall, type ModelRequest, requestText } from "../support/ScriptedModelServer.ts"
import { execFileSync } from "node:child_process"

let harness: PluginHarness | undefined
afterEach(async () => {
  await harness?.dispose()
  harness = undefined
})

const SECRET_OUTPUT = "bulky-output-7731"
const SHELL_OUTPUT = "shell-said-4412"

const tool = { name: "fetch_report", inputSchema: { type: "object", properties: { q: { type: "string" } } } }

/** Turn 1: a shell command and a host tool call; every later request: a plain answer. */
const script = (req: ModelRequest) => {
  const outputs = (req.body.input as Array<any>).filter((i) => i.type === "function_call_output").length
  if (req.index === 0) return { items: [functionCall("exec_command", { cmd: `echo ${SHELL_OUTPUT}` }, { callId: "call_shell" })] }
  if (req.index === 1) {
    const namespace = (req.body.tools as Array<any>).find((t) => String(t.name).startsWith("mcp__plexum_host_"))?.name
    return { items: [functionCall("fetch_report", { q: "the-long-query" }, { callId: "call_host", namespace })] }
  }
  return { items: [assistantMessage(`seen ${outputs} outputs`)] }
}

const rolloutOf = (h: PluginHarness, threadId: string) =>
  execFileSync("find", [h.codexHome + "/sessions", "-name", `rollout-*-${threadId}.jsonl`], { encoding: "utf8" }).trim()

describe("consume mirror", () => {
  it("reports this turn's calls under codex's ids, then shrinks them so a resumed turn sends the marker", async () => {
    harness = await startPluginHarness(script)
    const h = harness
    h.host.onToolCall(() => ({ content: [{ type: "text", text: `${SECRET_OUTPUT} `.repeat(50) }] }))
    const agent = { agentId: "agent-1", workspace: h.workspace }
    const first = await h.turn("t1", { messages: [userMessage("gather")], tools: [tool] })
    expect(first.response.result.status).toBe("completed")
    const threadId = first.response.result.threadId
    const blocks = first.events.filter((e) => e.type === "tool.block")
    expect(blocks.map((b) => [b.blockId, b.name, b.kind])).toEqual([
      ["call_shell", "exec_command", "function"],
      ["call_host", "fetch_report", "function"]
    ])
    expect(JSON.stringify(blocks[1].output)).toContain(SECRET_OUTPUT)
    // Every block id is a call_id in the rollout.
    const rollout = await readFile(rolloutOf(h, threadId), "utf8")
    for (const b of blocks) expect(rollout).toContain(`"call_id":"${b.blockId}"`)

    // light: outputs become the marker; repeating it touches nothing; unknown ids come back.
    const light = await h.host.request("session/mutate", {
      agent,
      mutations: [{ blockId: "call_host", op: "light" }, { blockId: "call_nope", op: "light" }]
    })
    expect(light.result).toEqual({ touched: 1, missing: ["call_nope"] })
    const again = await h.host.request("session/mutate", { agent, threadId, mutations: [{ blockId: "call_host", op: "light" }] })
    expect(again.result).toEqual({ touched: 0, missing: [] })
    // heavy: the shell call's arguments are stubbed too.
    const heavy = await h.host.request("session/mutate", {
      agent,
      threadId,
      mutations: [{ blockId: "call_shell", op: "heavy" }, { blockId: "call_host", op: "heavy" }]
    })
    expect(heavy.result.missing).toEqual([])
    expect(heavy.result.touched).toBeGreaterThanOrEqual(3)

    // The resumed turn: marker in place of outputs, "{}" in place of arguments, originals gone.
    const second = await h.turn("t2", { messages: [userMessage("gather"), { role: "assistant", content: "x" }, userMessage("and now?")] })
    expect(second.response.result).toMatchObject({ status: "completed", threadId })
    expect(second.events.filter((e) => e.type === "tool.block")).toEqual([])
    const resumed = h.model.requests.at(-1)!
    const text = requestText(resumed)
    expect(text).toContain("...(tool called)")
    expect(text).not.toContain(SECRET_OUTPUT)
    expect(text).not.toContain(SHELL_OUTPUT)
    expect(text).not.toContain("the-long-query")
    const calls = (resumed.body.input as Array<any>).filter((i) => i.type === "function_call")
    expect(calls.map((c) => c.arguments)).toEqual(["{}", "{}"])
  }, 90_000)

  it("answers -32006 for a thread without a rollout", async () => {
    harness = await startPluginHarness(script)
    const r = await harness.host.request("session/mutate", {
      agent: { agentId: "nobody", workspace: harness.workspace },
      threadId: "0000-none",
      mutations: [{ blockId: "x", op: "light" }]
    })
    expect(r.error?.code).toBe(-32006)
    const noThread = await harness.host.request("session/mutate", {
      agent: { agentId: "nobody", workspace: harness.workspace },
      mutations: [{ blockId: "x", op: "light" }]
    })
    expect(noThread.error?.code).toBe(-32006)
  })

  it("a mutation waits while a turn of that thread runs, then applies", async () => {
    harness = await startPluginHarness(threadInUseScript("call_wait"))
    const h = harness
    const { agent, threadId, running: second } = await holdThreadWithRunningTurn(h)
    let answered = false
    const mutation = h.host
      .request("session/mutate", { agent, threadId, mutations: [{ blockId: "call_wait", op: "light" }] })
      .then((r) => ((answered = true), r))
    await new Promise((r) => setTimeout(r, 1_000))
    expect(answered).toBe(false) // codex is still running on that rollout
    await h.host.request("provider/cancel", { turnId: "t2" })
    expect((await second).result.status).toBe("cancelled")
    expect((await mutation).result).toEqual({ touched: 1, missing: [] })
  })
})
