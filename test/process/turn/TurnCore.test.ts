// The turn core through the real executable with a fake codex: turn.started first, threads as
// codex reports them, turn ids and agents admitted atomically, hostile params refused at the edge.
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { makeTempCodexHome } from "../../support/CodexOffline.ts"
import { makeProfile, type ReferenceHost, startReferenceHost } from "../../support/ReferenceHost.ts"

const FAKE = join(import.meta.dirname, "../../fixtures/fake-codex/fake-codex.mjs")
const OLD_THREAD = "0199aaaa-0000-7000-8000-000000000001"
const NEW_THREAD = "0199bbbb-0000-7000-8000-000000000002"

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!()
})

const startPlugin = async (mode: string, env: Record<string, string> = {}, config: Record<string, unknown> = {}) => {
  const home = await makeTempCodexHome()
  const profile = await makeProfile({ binary: FAKE, ...config })
  const host = await startReferenceHost({
    env: { PLEXUM_PROFILE_ROOT: profile.root, CODEX_HOME: home.dir, FAKE_CODEX_MODE: mode, ...env }
  })
  cleanups.push(() => host.dispose(), home.cleanup, profile.cleanup)
  expect((await host.initialize()).result).toBeDefined()
  return { host, codexHome: home.dir }
}

const params = (turnId: string, agentId: string, request: Record<string, unknown> = {}) => ({
  turnId,
  modelId: "codex",
  agent: { agentId, workspace: "/tmp" },
  request: { messages: [{ role: "user", content: "hi" }], ...request }
})

const streamOk = async (host: ReferenceHost, turnId: string, agentId = "agent-1", request: Record<string, unknown> = {}) => {
  const response = await host.request("provider/stream", params(turnId, agentId, request))
  return { response, events: [...host.eventsOf(turnId)] }
}

/** The response to a request sent raw, by its id. */
const waitForResponse = async (host: ReferenceHost, id: string): Promise<any> => {
  for (let i = 0; i < 400; i++) {
    for (const line of host.stdoutLines) {
      const msg = JSON.parse(line)
      if (msg.id === id && msg.method === undefined) return msg
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`no response to ${id}`)
}

describe("turn core", () => {
  it("runs a turn with the exec engine, and says why in a warn, when codex cannot serve the app-server engine", async () => {
    const { host } = await startPlugin("ok", {}, { engine: "app-server" })
    for (const turnId of ["t1", "t2"]) {
      const { response, events } = await streamOk(host, turnId, `agent-${turnId}`)
      expect(response.result.status).toBe("completed")
      expect(events.at(-1)).toMatchObject({ type: "turn.completed" })
    }
    const fallbacks = host.logs.filter((l) => l.level === "warn" && /exec engine/.test(l.message))
    expect(fallbacks).toHaveLength(2) // one per turn
    expect(fallbacks[0].message).toContain("app-server")
  })

  it("sends text in any script intact: one-, two-, three- and four-byte UTF-8 in the same batch", async () => {
    const { host } = await startPlugin("ok")
    const text = "plain ascii, naïve café, em — dash, 日本語, emoji 🙂, end"
    const { response, events } = await streamOk(host, "t1", "agent-1", { messages: [{ role: "user", content: text }] })
    expect(response.result.status).toBe("completed")
    // The fake codex answers with the prompt it got: the message carries the text exactly.
    expect(events.find((e) => e.type === "message").text).toContain(text)
    expect(events.map((e) => e.type)).toEqual(["turn.started", "message", "usage", "turn.completed"])
  })

  it("sends turn.started first even when codex reports a problem before it names the thread", async () => {
    const { host } = await startPlugin("notice-first")
    const { response, events } = await streamOk(host, "t1")
    expect(response.result.status).toBe("completed")
    expect(events.map((e) => e.type)).toEqual(["turn.started", "notice", "message", "usage", "turn.completed"])
    expect(events[1].message).toContain("before the thread started")
  })

  it("reads a thread codex switched to from its start, and does not reduce its usage by the old thread's total", async () => {
    const { host, codexHome } = await startPlugin("switch-thread", { FAKE_CODEX_THREAD: NEW_THREAD })
    // The thread asked for has a long rollout (its end offset is far beyond the new file's size)
    // and a large recorded total.
    const dir = join(codexHome, "sessions/2026/11/30")
    await mkdir(dir, { recursive: true })
    const rec = (type: string, payload: unknown) => JSON.stringify({ timestamp: "2026-11-30T00:00:00.000Z", type, payload }) + "\n"
    await writeFile(
      join(dir, `rollout-2026-11-30T00-00-00-${OLD_THREAD}.jsonl`),
      rec("session_meta", { id: OLD_THREAD, timestamp: "2026-11-30T00:00:00.000Z", cwd: "/tmp", originator: "x", cli_version: "0.169.0" }) +
        rec("response_item", { type: "message", role: "user", content: [{ type: "input_text", text: "x".repeat(20_000) }] }) +
        rec("event_msg", { type: "token_count", info: { total_token_usage: { input_tokens: 1000, cached_input_tokens: 100, output_tokens: 500, reasoning_output_tokens: 50, total_tokens: 1500 } } })
    )
    const { response, events } = await streamOk(host, "t1", "agent-1", { session: { threadId: OLD_THREAD } })
    expect(response.result).toMatchObject({ status: "completed", threadId: NEW_THREAD })
    expect(events[0]).toEqual({ type: "turn.started", threadId: NEW_THREAD, resumed: false })
    expect(events.find((e) => e.type === "notice").message).toContain(OLD_THREAD)
    expect(events.filter((e) => e.type === "tool.block").map((e) => e.blockId)).toEqual(["call_switched"])
    expect(events.find((e) => e.type === "usage")).toEqual({
      type: "usage",
      inputTokens: 10,
      cachedInputTokens: 2,
      outputTokens: 5,
      reasoningOutputTokens: 1
    })
  })

  it("reads the turn's tool calls from a rollout codex writes only after reporting the turn's end", async () => {
    // The rollout is first looked for when codex reports the end; a search that misses is repeated after codex exits.
    const { host } = await startPlugin("late-rollout")
    const { response, events } = await streamOk(host, "t1", "agent-1", {})
    expect(response.result).toMatchObject({ status: "completed" })
    expect(events.filter((e) => e.type === "tool.block").map((e) => e.blockId)).toEqual(["call_late"])
    expect(host.logs.filter((l: any) => l.level === "warn")).toEqual([])
  })

  it("starts a new thread carrying the transcript when session.threadId has no rollout, and says so", async () => {
    const { host } = await startPlugin("ok")
    const { response, events } = await streamOk(host, "t1", "agent-1", {
      session: { threadId: OLD_THREAD },
      messages: [
        { role: "user", content: "what is the capital of France?" },
        { role: "assistant", content: "Paris." },
        { role: "user", content: "and of Italy?" }
      ]
    })
    expect(response.result.status).toBe("completed")
    expect(events[0]).toMatchObject({ type: "turn.started", resumed: false })
    expect(events[1]).toMatchObject({ type: "notice", level: "warn" })
    expect(events[1].message).toContain(OLD_THREAD)
    // The fake codex answers with the prompt it read: the transcript came along.
    const prompt = events.find((e) => e.type === "message").text
    expect(prompt).toContain("what is the capital of France?")
    expect(prompt).toContain("Paris.")
    expect(prompt).toContain("and of Italy?")
    // A resume never reached codex (no `resume` in its argv), so no backtrace could be reported.
    expect(events.every((e) => e.type !== "turn.failed")).toBe(true)
  })

  it("refuses a turnId that is running (-32602 naming it) for the same or another agent, and the running turn is unharmed", async () => {
    const { host } = await startPlugin("hang")
    const running = host.request("provider/stream", params("t1", "agent-a"))
    await host.waitForEvent("t1", (e) => e.type === "turn.started", 20_000)
    for (const agent of ["agent-a", "agent-b"]) {
      const refused = await host.request("provider/stream", params("t1", agent))
      expect(refused.error?.code).toBe(-32602)
      expect(refused.error?.message).toContain("t1")
    }
    // Still busy, still cancellable.
    expect((await host.request("provider/stream", params("t2", "agent-a"))).error?.code).toBe(-32003)
    // agent-b was not left busy by its refused turn.
    const other = host.request("provider/stream", params("t3", "agent-b"))
    await host.waitForEvent("t3", (e) => e.type === "turn.started", 20_000)
    expect((await host.request("provider/cancel", { turnId: "t1" })).result).toEqual({ cancelled: true })
    expect((await host.request("provider/cancel", { turnId: "t3" })).result).toEqual({ cancelled: true })
    expect((await running).result.status).toBe("cancelled")
    expect((await other).result.status).toBe("cancelled")
    expect(host.eventsOf("t1").at(-1)).toMatchObject({ type: "turn.failed", code: "cancelled" })
    expect(host.eventsOf("t1").filter((e) => e.type === "turn.started")).toHaveLength(1)
  })

  it("refuses a tool inputSchema nested 20,000 deep with -32602 and keeps serving", async () => {
    const { host } = await startPlugin("ok")
    // Built as text: JSON.stringify itself cannot go that deep.
    const depth = 20_000
    const deep = '{"type":"object","properties":{"x":'.repeat(depth) + "{}" + "}}".repeat(depth)
    const request = `{"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"deep","inputSchema":${deep}}]}`
    host.sendRaw(`{"jsonrpc":"2.0","id":"deep","method":"provider/stream","params":{"turnId":"t1","modelId":"codex","agent":{"agentId":"agent-1","workspace":"/tmp"},"request":${request}}}\n`)
    const refused = await waitForResponse(host, "deep")
    expect(refused.error?.code).toBe(-32602)
    expect(refused.error?.data?.message).toMatch(/nested deeper than/)
    const { response } = await streamOk(host, "t2")
    expect(response.result.status).toBe("completed")
  })
})
