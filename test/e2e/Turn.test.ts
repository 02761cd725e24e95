// Turns through the real plugin executable and the real codex binary against a scripted model.
import { afterEach, describe, expect, it } from "vitest"
import { type PluginHarness, startPluginHarness, userMessage } from "../support/PluginHarness.ts"
import { processesMatching, waitForNoProcesses } from "../support/Processes.ts"
import { codexOfflineArgs } from "../support/CodexOffline.ts"
import { codexAtLeast } from "../support/CodexVersion.ts"
import { assistantMessage, functionCall, requestText } from "../support/ScriptedModelServer.ts"

let harness: PluginHarness | undefined
afterEach(async () => {
  await harness?.dispose()
  harness = undefined
})

const types = (events: ReadonlyArray<any>) => events.map((e) => e.type)

describe("a turn through the plugin and the real codex", () => {
  it("streams a plain turn: turn.started first, the message, usage, turn.completed last", async () => {
    harness = await startPluginHarness(() => ({
      items: [assistantMessage("Hello from the scripted model")],
      usage: { input_tokens: 100, output_tokens: 7 }
    }))
    const { response, events } = await harness.turn("t1", { messages: [userMessage("say hello")] })
    expect(response.result).toMatchObject({ turnId: "t1", status: "completed", threadId: expect.any(String) })
    expect(events[0]).toEqual({ type: "turn.started", threadId: response.result.threadId, resumed: false })
    expect(events).toContainEqual(expect.objectContaining({ type: "message", text: "Hello from the scripted model" }))
    expect(events.at(-1)).toMatchObject({ type: "turn.completed", finalMessage: "Hello from the scripted model" })
    expect(events.filter((e) => e.type === "usage")).toEqual([
      { type: "usage", inputTokens: 100, cachedInputTokens: 0, outputTokens: 7, reasoningOutputTokens: 0 }
    ])
    // seq counts from 0 without gaps; the prompt went to the model.
    expect(harness.host.events.filter((e) => e.turnId === "t1").map((e) => e.seq)).toEqual(events.map((_, i) => i))
    expect(requestText(harness.model.requests[0]!)).toContain("say hello")
  })

  it("runs a shell command with live events and reports it as a tool.block under codex's call id", async () => {
    harness = await startPluginHarness((req) =>
      req.index === 0
        ? { items: [functionCall("exec_command", { cmd: "echo plexum-marker-42" }, { callId: "call_shell_1" })] }
        : { items: [assistantMessage("ran it")] }
    )
    const { response, events } = await harness.turn("t1", { messages: [userMessage("run echo")] })
    expect(response.result.status).toBe("completed")
    const started = events.find((e) => e.type === "tool.started")
    const completed = events.find((e) => e.type === "tool.completed")
    // codex 0.135 and 0.151 race on a command this fast: now and then their `exec --json` leaves
    // out the item.started or the item.completed, or prints an empty aggregated_output (about 1
    // run in 6 with three at once here; 0 of 24 on 0.169 and 0.171). What the rollout recorded (the tool.block
    // below) is complete on every version.
    if (codexAtLeast("0.169.0")) {
      expect(started).toMatchObject({ kind: "command" })
      expect(JSON.stringify(started.input)).toContain("echo plexum-marker-42")
      expect(completed).toMatchObject({ kind: "command", status: "completed", exitCode: 0 })
      expect(String(completed.output)).toContain("plexum-marker-42")
    } else {
      if (started) expect(JSON.stringify(started.input)).toContain("echo plexum-marker-42")
      if (completed) expect(completed).toMatchObject({ kind: "command", status: "completed", exitCode: 0 })
    }
    const blocks = events.filter((e) => e.type === "tool.block")
    expect(blocks).toEqual([
      expect.objectContaining({ blockId: "call_shell_1", name: "exec_command", kind: "function" })
    ])
    expect(String(blocks[0].output)).toContain("plexum-marker-42")
    // Blocks come after every live event and before the last one.
    const order = types(events)
    expect(order.indexOf("tool.block")).toBeGreaterThan(order.lastIndexOf("tool.completed"))
    expect(order.at(-1)).toBe("turn.completed")
    // The model got the command's output back.
    expect(requestText(harness.model.requests[1]!)).toContain("plexum-marker-42")
  })

  it("resumes the agent's last thread: only the new message is sent, the model sees the first turn", async () => {
    harness = await startPluginHarness((req) => ({ items: [assistantMessage(`answer ${req.index}`)] }))
    const first = await harness.turn("t1", { messages: [userMessage("first question")] })
    const second = await harness.turn("t2", {
      messages: [userMessage("first question"), { role: "assistant", content: "answer 0" }, userMessage("second question")]
    })
    expect(second.response.result.threadId).toBe(first.response.result.threadId)
    expect(second.events[0]).toEqual({ type: "turn.started", threadId: first.response.result.threadId, resumed: true })
    const resumedRequest = requestText(harness.model.requests[1]!)
    expect(resumedRequest).toContain("first question")
    expect(resumedRequest).toContain("answer 0")
    expect(resumedRequest).toContain("second question")
    // The first question reached codex once (from the thread's history), not again as a transcript.
    expect(resumedRequest.split("first question").length - 1).toBe(1)
  })

  it("reports each turn's own usage on a resumed thread, not codex's running total for the thread", async () => {
    harness = await startPluginHarness((req) => ({ items: [assistantMessage(`answer ${req.index}`)], usage: { input_tokens: 100, output_tokens: 7 } }))
    const first = await harness.turn("t1", { messages: [userMessage("first question")] })
    const second = await harness.turn("t2", {
      messages: [userMessage("first question"), { role: "assistant", content: "answer 0" }, userMessage("second question")]
    })
    const perTurn = { inputTokens: 100, outputTokens: 7 }
    expect(first.response.result.usage).toMatchObject(perTurn)
    expect(second.events[0]).toMatchObject({ type: "turn.started", resumed: true })
    expect(second.response.result.usage).toMatchObject(perTurn)
    expect(second.events.filter((e) => e.type === "usage")).toEqual([expect.objectContaining(perTurn)])
  })

  it("starts a fresh thread on session.fresh and hands earlier messages over as a transcript", async () => {
    harness = await startPluginHarness(() => ({ items: [assistantMessage("ok")] }))
    const first = await harness.turn("t1", { messages: [userMessage("hello")] })
    const fresh = await harness.turn("t2", {
      messages: [userMessage("an older question"), { role: "assistant", content: "an older answer" }, userMessage("new one")],
      session: { fresh: true }
    })
    expect(fresh.response.result.threadId).not.toBe(first.response.result.threadId)
    expect(fresh.events[0]).toMatchObject({ type: "turn.started", resumed: false })
    const text = requestText(harness.model.requests[1]!)
    expect(text).toContain("an older question")
    expect(text).toContain("an older answer")
    expect(text).toContain("new one")
  })

  it("passes the system prompt to codex as developer instructions", async () => {
    harness = await startPluginHarness(() => ({ items: [assistantMessage("ok")] }))
    await harness.turn("t1", { messages: [userMessage("hi")], system: "Always answer like a pirate (sys-7781)" })
    const developer = harness.model.requests[0]!.body.input.filter((m: any) => m.role === "developer")
    expect(JSON.stringify(developer)).toContain("Always answer like a pirate (sys-7781)")
  })

  it("cancels a turn whose model never answers: cancelled within 5 s and no codex process left", async () => {
    harness = await startPluginHarness(() => ({ hang: true }))
    const h = harness
    const pending = h.host.request("provider/stream", h.streamParams("t1", { messages: [userMessage("wait")] }))
    await h.host.waitForEvent("t1", (e) => e.type === "turn.started", 30_000)
    const mine = new RegExp(h.workspace.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
    expect(processesMatching(mine).length).toBeGreaterThan(0)
    const t0 = Date.now()
    expect((await h.host.request("provider/cancel", { turnId: "t1" })).result).toEqual({ cancelled: true })
    const response = await pending
    expect(Date.now() - t0).toBeLessThan(5_000)
    expect(response.result).toMatchObject({ turnId: "t1", status: "cancelled" })
    expect(h.host.eventsOf("t1").at(-1)).toMatchObject({ type: "turn.failed", code: "cancelled" })
    expect(processesMatching(mine)).toEqual([])
    // Cancelling it again: it is finished.
    expect((await h.host.request("provider/cancel", { turnId: "t1" })).result).toEqual({ cancelled: false })
  })

  it("cancels through $/cancelRequest naming the provider/stream request id", async () => {
    harness = await startPluginHarness(() => ({ hang: true }))
    const h = harness
    const { id, response } = h.host.startRequest("provider/stream", h.streamParams("t1", { messages: [userMessage("wait")] }))
    await h.host.waitForEvent("t1", (e) => e.type === "turn.started", 30_000)
    h.host.notify("$/cancelRequest", { id })
    expect((await response).result.status).toBe("cancelled")
  })

  it("fails a turn that runs past options.timeoutMs with timeout, leaving no process", async () => {
    harness = await startPluginHarness(() => ({ hang: true }))
    const { response, events } = await harness.turn("t1", { messages: [userMessage("wait")], options: { timeoutMs: 1500 } })
    expect(response.result.status).toBe("failed")
    expect(events.at(-1)).toMatchObject({ type: "turn.failed", code: "timeout" })
    const mine = new RegExp(harness.workspace.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
    expect(processesMatching(mine)).toEqual([])
  })

  it("refuses a second turn for a busy agent (-32003) and a model it does not serve (-32004)", async () => {
    harness = await startPluginHarness(() => ({ hang: true }))
    const h = harness
    const pending = h.host.request("provider/stream", h.streamParams("t1", { messages: [userMessage("wait")] }))
    await h.host.waitForEvent("t1", (e) => e.type === "turn.started", 30_000)
    expect((await h.host.request("provider/stream", h.streamParams("t2", { messages: [userMessage("again")] }))).error?.code).toBe(-32003)
    const other = { ...h.streamParams("t3", { messages: [userMessage("x")] }, "agent-2"), modelId: "gpt-unknown" }
    expect((await h.host.request("provider/stream", other)).error?.code).toBe(-32004)
    await h.host.request("provider/cancel", { turnId: "t1" })
    expect((await pending).result.status).toBe("cancelled")
  })

  it("reports codex_not_found when the binary does not exist", async () => {
    harness = await startPluginHarness(() => ({ items: [assistantMessage("never")] }), {
      config: { binary: "/nonexistent/codex-binary" }
    })
    const { response, events } = await harness.turn("t1", { messages: [userMessage("hi")] })
    expect(response.result.status).toBe("failed")
    expect(events).toEqual([{ type: "turn.failed", code: "codex_not_found", message: expect.stringContaining("/nonexistent/codex-binary") }])
  })

  it("reports codex_exit with the exit status and stderr when codex exits non-zero", async () => {
    harness = await startPluginHarness(() => ({ items: [assistantMessage("never")] }), {
      extraArgs: (url) => [...codexOfflineArgs(url), "--no-such-codex-flag"]
    })
    const { response, events } = await harness.turn("t1", { messages: [userMessage("hi")] })
    expect(response.result.status).toBe("failed")
    expect(events).toHaveLength(1)
    const last = events.at(-1)
    expect(last).toMatchObject({ type: "turn.failed", code: "codex_exit" })
    expect(last.message).toMatch(/status 2/)
    expect(last.message).toContain("--no-such-codex-flag")
  })

  it("starts a new thread with the transcript when session.threadId has no rollout: resumed false and a notice naming it", async () => {
    const missing = "0199ffff-0000-7000-8000-00000000dead"
    harness = await startPluginHarness(() => ({ items: [assistantMessage("Rome.")] }))
    const { response, events } = await harness.turn("t1", {
      session: { threadId: missing },
      messages: [userMessage("capital of France?"), { role: "assistant", content: "Paris." }, userMessage("and of Italy?")]
    })
    expect(response.result.status).toBe("completed")
    expect(response.result.threadId).not.toBe(missing)
    expect(events[0]).toEqual({ type: "turn.started", threadId: response.result.threadId, resumed: false })
    expect(events.some((e) => e.type === "notice" && e.message.includes(missing))).toBe(true)
    const sent = JSON.stringify(harness.model.requests[0]!.body.input)
    expect(sent).toContain("capital of France?")
    expect(sent).toContain("Paris.")
    expect(events.at(-1)).toMatchObject({ type: "turn.completed", finalMessage: "Rome." })
  })

  it("answers a running turn with cancelled and ends codex when the host closes stdin", async () => {
    harness = await startPluginHarness(() => ({ hang: true }))
    const h = harness
    const pending = h.host.request("provider/stream", h.streamParams("t1", { messages: [userMessage("wait")] }))
    await h.host.waitForEvent("t1", (e) => e.type === "turn.started", 30_000)
    h.host.closeStdin()
    expect((await pending).result.status).toBe("cancelled")
    expect((await h.host.exited).code).toBe(0)
    const mine = new RegExp(h.workspace.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
    expect(await waitForNoProcesses(mine, 3_000)).toEqual([])
  })

  it("reports codex's own turn failure as turn_failed with its message", async () => {
    harness = await startPluginHarness(() => ({ status: 400, body: "the scripted model refuses: quota-7 exceeded" }))
    const { response, events } = await harness.turn("t1", { messages: [userMessage("hi")] })
    expect(response.result.status).toBe("failed")
    expect(events[0].type).toBe("turn.started")
    expect(events.at(-1)).toMatchObject({ type: "turn.failed", code: "turn_failed", message: expect.stringContaining("quota-7 exceeded") })
  })

  it("hands options.outputSchema to codex, which sends it to the model, and removes the temp file", async () => {
    harness = await startPluginHarness(() => ({ items: [assistantMessage('{"answer":"42"}')] }))
    const schema = {
      type: "object",
      properties: { answer: { type: "string", description: "schema-marker-9931" } },
      required: ["answer"],
      additionalProperties: false
    }
    const { response } = await harness.turn("t1", { messages: [userMessage("answer")], options: { outputSchema: schema } })
    expect(response.result.status).toBe("completed")
    expect(JSON.stringify(harness.model.requests[0]!.body)).toContain("schema-marker-9931")
    const { readdirSync } = await import("node:fs")
    const { tmpdir } = await import("node:os")
    expect(readdirSync(tmpdir()).filter((n) => n.startsWith("plexum-schema-"))).toEqual([])
  })

  it("attaches image parts (even from a path with a comma) so the model receives the image", async () => {
    harness = await startPluginHarness(() => ({ items: [assistantMessage("a red pixel")] }))
    const { writeFileSync } = await import("node:fs")
    // A 1×1 PNG.
    const png = Buffer.from(
      "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==",
      "base64"
    )
    writeFileSync(`${harness.workspace}/pixel,1.png`, png)
    const { response } = await harness.turn("t1", {
      messages: [{ role: "user", content: [{ type: "text", text: "what is this?" }, { type: "image", path: "pixel,1.png" }] }]
    })
    expect(response.result.status).toBe("completed")
    const text = requestText(harness.model.requests[0]!)
    expect(text).toContain("input_image")
    expect(text).toContain("what is this?")
  })

  it("resumes session.threadId when given, and that thread becomes the one the next turn continues", async () => {
    harness = await startPluginHarness(() => ({ items: [assistantMessage("ok")] }))
    const a = (await harness.turn("t1", { messages: [userMessage("one")] })).response.result.threadId
    const b = (await harness.turn("t2", { messages: [userMessage("two")], session: { fresh: true } })).response.result.threadId
    expect(b).not.toBe(a)
    const third = await harness.turn("t3", { messages: [userMessage("three")], session: { threadId: a } })
    expect(third.events[0]).toEqual({ type: "turn.started", threadId: a, resumed: true })
    const fourth = await harness.turn("t4", { messages: [userMessage("four")] })
    expect(fourth.events[0]).toEqual({ type: "turn.started", threadId: a, resumed: true })
  })

  it("sends the model mapped from model_args to codex, which asks the model server for it", async () => {
    harness = await startPluginHarness(() => ({ items: [assistantMessage("ok")] }), {
      config: { supported_models: ["codex", "house-model"], model_args: { "house-model": "scripted-model-7" } },
      // The offline flags without their own `-m`, so the plugin chooses the model.
      extraArgs: (url) => codexOfflineArgs(url).filter((a, i, all) => a !== "-m" && all[i - 1] !== "-m")
    })
    const { response } = await harness.turn("t1", { messages: [userMessage("hi")] })
    expect(response.result.status).toBe("completed")
    const h = harness
    const modelTurn = await h.host.request("provider/stream", { ...h.streamParams("t2", { messages: [userMessage("hi")] }), modelId: "house-model" })
    expect(modelTurn.result.status).toBe("completed")
    expect(h.model.requests.at(-1)!.body.model).toBe("scripted-model-7")
  })

  it("keeps running turns known across a repeated initialize: still busy, still cancelled at shutdown", async () => {
    harness = await startPluginHarness(() => ({ hang: true }))
    const h = harness
    const pending = h.host.request("provider/stream", h.streamParams("t1", { messages: [userMessage("wait")] }))
    await h.host.waitForEvent("t1", (e) => e.type === "turn.started", 30_000)
    expect((await h.host.initialize()).result).toBeDefined()
    expect((await h.host.request("provider/stream", h.streamParams("t2", { messages: [userMessage("again")] }))).error?.code).toBe(-32003)
    h.host.closeStdin()
    expect((await pending).result.status).toBe("cancelled")
    expect((await h.host.exited).code).toBe(0)
  })
})
