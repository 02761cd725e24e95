import { describe, expect, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { makeCodexEventMapper, usageDifference, type CodexEventMapperOptions } from "../../../src/core/codex/CodexEventMapper.ts"
import { decodeCodexLine, type CodexEvent } from "../../../src/schemas/CodexEvent.ts"
import type { TurnEvent } from "../../../src/schemas/Protocol.ts"
import { CodexExit, CodexNotFound, CodexOutputError } from "../../../src/services/CodexProcess.ts"

const recordedRoot = Path.join(import.meta.dirname, "../../fixtures/rollouts/recorded")
const versions = Fs.readdirSync(recordedRoot).filter((d) => /^\d+\.\d+\.\d+$/.test(d))
const readRecorded = (version: string, name: string): Array<CodexEvent> =>
  Fs.readFileSync(Path.join(recordedRoot, version, `${name}.exec.jsonl`), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => decodeCodexLine(l))

/** The id codex gave the recording's first item of this type (ids shift between versions). */
const itemIdOf = (events: ReadonlyArray<CodexEvent>, type: string): string => {
  const e = events.find((e) => "item" in e && e.item.type === type)
  if (e === undefined || !("item" in e)) throw new Error(`no ${type} item`)
  return (e.item as { id: string }).id
}

/** Recordings are redone after codex upgrades: take thread ids from them rather than hard-coding. */
const threadOf = (events: ReadonlyArray<CodexEvent>) => {
  const e = events.find((e) => e.type === "thread.started")
  return e?.type === "thread.started" ? e.thread_id : undefined
}

const mapAll = (events: ReadonlyArray<CodexEvent | string>, options: CodexEventMapperOptions = { resumed: false }) => {
  const mapper = makeCodexEventMapper(options)
  const out: Array<TurnEvent> = []
  for (const e of events) out.push(...mapper.onEvent(typeof e === "string" ? decodeCodexLine(e) : e))
  return { mapper, out }
}

const METADATA_WARNING = {
  type: "notice",
  level: "warn",
  message: "Model metadata for `mock-model` not found. Defaulting to fallback metadata; this can degrade performance and cause issues."
}

describe.each(versions)("CodexEventMapper on recorded codex %s runs", (version) => {
  const recorded = (name: string) => readRecorded(version, name)
  // 0.151 and later print a non-fatal "Model metadata … not found" error item first; 0.135 does not.
  const warnings = (events: ReadonlyArray<CodexEvent>) =>
    events.some((e) => "item" in e && e.item.type === "error") ? [METADATA_WARNING] : []

  it("plain turn: turn.started first, reasoning, message, completed with the final message and usage", () => {
    const events = recorded("plain-turn")
    const { mapper, out } = mapAll(events)
    expect(out).toEqual([
      { type: "turn.started", threadId: threadOf(events), resumed: false },
      ...warnings(events),
      { type: "reasoning", itemId: itemIdOf(events, "reasoning"), text: "Thinking about a greeting" },
      { type: "message", itemId: itemIdOf(events, "agent_message"), text: "Hello! How can I help?" }
    ])
    const usage = { inputTokens: 1200, cachedInputTokens: 200, outputTokens: 40, reasoningOutputTokens: 12 }
    // The runner makes this `turn.completed {finalMessage, usage}` (TurnRunnerLive turnEnd).
    expect(mapper.outcome()).toEqual({ _tag: "completed", finalMessage: "Hello! How can I help?", usage })
    expect(mapper.threadId()).toBe(threadOf(events))
  })

  it("exec turn: a command becomes tool.started/tool.completed with its output and exit code", () => {
    const events = recorded("exec-turn")
    const { mapper, out } = mapAll(events)
    const tools = out.filter((e) => e.type.startsWith("tool."))
    const itemId = itemIdOf(events, "command_execution")
    expect(tools).toEqual([
      { type: "tool.started", itemId, kind: "command", name: "command", input: { command: "/bin/bash -c 'echo fixture-output && ls'" } },
      { type: "tool.completed", itemId, kind: "command", name: "command", status: "completed", output: "fixture-output\n", exitCode: 0 }
    ])
    const outcome = mapper.outcome()
    expect(outcome._tag === "completed" && outcome.finalMessage).toBe("The command printed fixture-output.")
  })

  it("resumed turn: usage is the difference from the thread's previous cumulative total", () => {
    const first = mapAll(recorded("exec-turn")).mapper.outcome()
    // A first turn's usage is the thread's whole total.
    const previous = first._tag === "completed" ? first.usage : undefined
    const events = recorded("exec-turn-resumed")
    expect(threadOf(events)).toBe(threadOf(recorded("exec-turn")))
    const { mapper, out } = mapAll(events, { resumed: true, previousUsageTotal: previous })
    expect(out[0]).toEqual({ type: "turn.started", threadId: threadOf(events), resumed: true })
    const outcome = mapper.outcome()
    expect(outcome).toMatchObject({
      _tag: "completed",
      usage: { inputTokens: 1200, cachedInputTokens: 200, outputTokens: 40, reasoningOutputTokens: 12 }
    })
  })

  it("mcp turn: a call into another MCP server is kind mcp, into this agent's host server kind dynamic", () => {
    const itemId = itemIdOf(recorded("mcp-turn"), "mcp_tool_call")
    const mcp = mapAll(recorded("mcp-turn")).out.filter((e) => e.type === "tool.completed")
    expect(mcp).toEqual([
      {
        type: "tool.completed",
        itemId,
        kind: "mcp",
        name: "echo/echo",
        status: "completed",
        output: { content: [{ type: "text", text: "echo: ping" }], structured_content: { echoed: "ping" } }
      }
    ])
    const dynamic = mapAll(recorded("mcp-turn"), {
      resumed: false,
      ownServerName: "echo",
      hostToolName: (n) => `host.${n}`
    }).out.filter((e) => e.type === "tool.started")
    expect(dynamic).toEqual([{ type: "tool.started", itemId, kind: "dynamic", name: "host.echo", input: { text: "ping" } }])
  })

  it("failed turn: codex's message is kept, and wins over the exit status that follows", () => {
    const { mapper, out } = mapAll(recorded("failed-turn"))
    const message = '{"error":{"message":"scripted failure for the fixture"}}'
    expect(out.at(-1)).toEqual({ type: "notice", level: "warn", message })
    const exit = new CodexExit({ status: 1, signal: null, stderrTail: "", message: "codex exited with status 1" })
    expect(mapper.failedRun(exit)).toEqual({ _tag: "failed", code: "turn_failed", message })
    expect(mapper.outcome()).toEqual({ _tag: "failed", code: "turn_failed", message })
  })
})

describe("CodexEventMapper", () => {
  const thread = '{"type":"thread.started","thread_id":"t-1"}'

  it("maps process errors to their failure codes", () => {
    const m = makeCodexEventMapper({ resumed: false })
    expect(m.failedRun(new CodexNotFound({ binary: "codex", message: "not found" }))).toMatchObject({ code: "codex_not_found" })
    expect(m.failedRun(new CodexExit({ status: 2, signal: null, stderrTail: "boom", message: "codex exited with status 2: boom" })))
      .toEqual({ _tag: "failed", code: "codex_exit", message: "codex exited with status 2: boom" })
    expect(m.failedRun(new CodexOutputError({ message: "no thread" }))).toMatchObject({ code: "codex_output" })
  })

  it("a stream that ends without turn.completed is unreadable output, not success", () => {
    const { mapper } = mapAll([thread, '{"type":"turn.started"}'])
    expect(mapper.outcome()).toMatchObject({ _tag: "failed", code: "codex_output" })
  })

  it("a todo list becomes a plan, repeated only when it changes", () => {
    const todo = (done: boolean) =>
      `{"type":"item.updated","item":{"id":"item_5","type":"todo_list","items":[{"text":"read","completed":true},{"text":"edit","completed":${done}}]}}`
    const { out } = mapAll([thread, todo(false), todo(false), todo(true)])
    expect(out.filter((e) => e.type === "plan")).toEqual([
      { type: "plan", itemId: "item_5", steps: [{ text: "read", done: true }, { text: "edit", done: false }] },
      { type: "plan", itemId: "item_5", steps: [{ text: "read", done: true }, { text: "edit", done: true }] }
    ])
  })

  it("file changes, web searches, declined and failed tools, sub-agents and unknown tool-like items", () => {
    const { out } = mapAll([
      thread,
      '{"type":"item.completed","item":{"id":"i1","type":"file_change","changes":[{"path":"/w/a.ts","kind":"update"}],"status":"failed"}}',
      '{"type":"item.started","item":{"id":"i2","type":"web_search","query":"effect"}}',
      '{"type":"item.completed","item":{"id":"i2","type":"web_search","query":"effect","action":{"type":"search"}}}',
      '{"type":"item.completed","item":{"id":"i3","type":"command_execution","command":"rm -rf /","aggregated_output":"","exit_code":null,"status":"declined"}}',
      '{"type":"item.completed","item":{"id":"i4","type":"mcp_tool_call","server":"s","tool":"t","arguments":{},"result":null,"error":{"message":"tool broke"},"status":"failed"}}',
      '{"type":"item.started","item":{"id":"i5","type":"collab_tool_call","tool":"spawn_agent","prompt":"do x","receiver_thread_ids":[],"status":"in_progress"}}',
      '{"type":"item.started","item":{"id":"i6","type":"image_generation","status":"in_progress","prompt":"a cat"}}'
    ])
    expect(out).toContainEqual({ type: "tool.completed", itemId: "i1", kind: "file_change", name: "file_change", status: "failed", output: [{ path: "/w/a.ts", kind: "update" }] })
    expect(out).toContainEqual({ type: "tool.started", itemId: "i2", kind: "web_search", name: "web_search", input: { query: "effect" } })
    expect(out.filter((e) => e.type === "tool.started" && e.itemId === "i2")).toHaveLength(1)
    expect(out).toContainEqual({ type: "tool.started", itemId: "i3", kind: "command", name: "command", input: { command: "rm -rf /" } })
    expect(out).toContainEqual({ type: "tool.completed", itemId: "i3", kind: "command", name: "command", status: "declined", output: "" })
    expect(out).toContainEqual({ type: "tool.completed", itemId: "i4", kind: "mcp", name: "s/t", status: "failed", error: "tool broke" })
    expect(out).toContainEqual({ type: "tool.started", itemId: "i5", kind: "other", name: "spawn_agent", input: { prompt: "do x", receiverThreadIds: [] } })
    expect(out).toContainEqual(expect.objectContaining({ type: "tool.started", itemId: "i6", kind: "other", name: "image_generation" }))
  })

  it("unreadable lines become a few warnings, then are only counted; unknown events are ignored", () => {
    const { out } = mapAll([thread, ...Array.from({ length: 20 }, (_, i) => `garbage ${i}`), '{"type":"future.event"}'])
    const notices = out.filter((e) => e.type === "notice")
    expect(notices).toHaveLength(5)
    expect(notices[0]).toEqual({ type: "notice", level: "warn", message: "codex printed an unreadable line: garbage 0" })
    expect(out).toHaveLength(6)
  })

  it("a second thread.started does not start the turn twice", () => {
    const { out } = mapAll([thread, '{"type":"thread.started","thread_id":"t-2"}'])
    expect(out).toEqual([{ type: "turn.started", threadId: "t-1", resumed: false }])
  })
})

describe("usageDifference", () => {
  const u = (n: number) => ({ inputTokens: n, cachedInputTokens: n, outputTokens: n, reasoningOutputTokens: n })
  it("is the total for a thread with no known previous total, else the difference", () => {
    expect(usageDifference(u(10), undefined)).toEqual(u(10))
    expect(usageDifference(u(10), u(4))).toEqual(u(6))
  })
  it("takes a total below the previous one as a restarted count", () => {
    expect(usageDifference(u(3), u(4))).toEqual(u(3))
  })
})

describe("CodexEventMapper when codex does not resume the thread it was asked for", () => {
  it("reports resumed: false and says which thread codex started instead", () => {
    const mapper = makeCodexEventMapper({ resumed: true, resumeThreadId: "not-a-codex-id" })
    expect(mapper.onEvent({ type: "thread.started", thread_id: "0199-new" })).toEqual([
      { type: "turn.started", threadId: "0199-new", resumed: false },
      { type: "notice", level: "warn", message: "codex started a new thread 0199-new instead of resuming not-a-codex-id" }
    ])
  })
  it("reports resumed: true when codex resumes it", () => {
    const mapper = makeCodexEventMapper({ resumed: true, resumeThreadId: "0199-old" })
    expect(mapper.onEvent({ type: "thread.started", thread_id: "0199-old" })).toEqual([
      { type: "turn.started", threadId: "0199-old", resumed: true }
    ])
  })
})
