// The pure parts of the app-server engine: its argv, the dynamic tool set, notifications → events.
import { describe, expect, it } from "@effect/vitest"
import { appServerArgv, compareVersions, versionOfUserAgent } from "../../../src/core/codex/AppServerArgs.ts"
import { makeTurnItemMapper } from "../../../src/core/codex/AppServerItems.ts"
import { dynamicToolSet, NO_TOOLS_KEY, toDynamicToolResponse } from "../../../src/core/codex/DynamicTools.ts"
import { rolloutPathOf } from "../../../src/layers/AppServerSlot.ts"

describe("appServerArgv", () => {
  it("keeps config flags, takes the operator's model, drops exec-only flags and adds the unload setting", () => {
    const argv = appServerArgv(["-c", "a=1", "--config=b=2", "-cc=3", "--disable", "plugins", "-m", "gpt-x", "--skip-git-repo-check", "--oss"])
    expect(argv.args).toEqual(["app-server", "-c", "a=1", "--config", "b=2", "-c", "c=3", "--disable", "plugins", "-c", "thread_unload_delay_secs=0"])
    expect(argv.model).toBe("gpt-x")
    expect(argv.dropped).toEqual(["--skip-git-repo-check", "--oss"])
  })

  it("reads codex's version from the user agent and compares versions numerically", () => {
    expect(versionOfUserAgent("plexum/0.169.0 (Debian 12.0.0; x86_64) xterm")).toBe("0.169.0")
    expect(versionOfUserAgent(undefined)).toBeUndefined()
    expect(compareVersions("0.151.0", "0.135.9")).toBeGreaterThan(0)
    expect(compareVersions("0.99.0", "0.135.0")).toBeLessThan(0)
  })
})

describe("rolloutPathOf", () => {
  it("takes the rollout codex names for a thread only when it is that thread's rollout file", () => {
    const id = "01a24e09-b99a-74a1-8c3f-925ac17bcba0"
    const path = `/home/u/.codex/sessions/2026/12/07/rollout-2026-12-07T01-06-29-${id}.jsonl`
    expect(rolloutPathOf({ id, path })).toBe(path)
    // Older codex versions name none; an ephemeral thread has none.
    expect(rolloutPathOf({ id })).toBeUndefined()
    expect(rolloutPathOf({ id, path: null })).toBeUndefined()
    // Another thread's file, a relative path or another file: searched for instead.
    expect(rolloutPathOf({ id, path: path.replace(id, "01a24e09-b99a-74a1-8c3f-925ac17bcbff") })).toBeUndefined()
    expect(rolloutPathOf({ id, path: `sessions/rollout-x-${id}.jsonl` })).toBeUndefined()
    expect(rolloutPathOf({ id, path: `/home/u/.ssh/${id}.jsonl` })).toBeUndefined()
  })
})

describe("dynamicToolSet", () => {
  const schema = { type: "object", properties: { a: { type: "string" } } }
  it("exposes valid names, maps them back, and keys the set independent of order", () => {
    const set = dynamicToolSet([{ name: "ok_tool", inputSchema: schema }, { name: "bad.name", description: "d", inputSchema: schema }])
    const bad = set.specs.find((s) => s.name !== "ok_tool")!
    expect(bad.name).toMatch(/^bad_name_[0-9a-f]{8}$/)
    expect(set.hostName(bad.name)).toBe("bad.name")
    expect(set.hostName("ok_tool")).toBe("ok_tool")
    const reordered = dynamicToolSet([
      { name: "bad.name", description: "d", inputSchema: { properties: { a: { type: "string" } }, type: "object" } },
      { name: "ok_tool", inputSchema: schema }
    ])
    expect(reordered.key).toBe(set.key)
    expect(dynamicToolSet([{ name: "ok_tool", description: "changed", inputSchema: schema }]).key).not.toBe(set.key)
    expect(dynamicToolSet([]).key).toBe(NO_TOOLS_KEY)
  })

  it("turns a host result into content items: errors as success false, images as data URLs", () => {
    expect(toDynamicToolResponse({ content: [{ type: "text", text: "no" }], isError: true })).toEqual({
      contentItems: [{ type: "inputText", text: "no" }],
      success: false
    })
    expect(toDynamicToolResponse({ content: [{ type: "image", data: "AAAA", mimeType: "image/png" }] })).toEqual({
      contentItems: [{ type: "inputImage", imageUrl: "data:image/png;base64,AAAA" }],
      success: true
    })
  })
})

describe("makeTurnItemMapper", () => {
  const t = "thread-1"
  it("passes deltas through, then the complete message; tools start and complete under their item id", () => {
    const mapper = makeTurnItemMapper((n) => (n === "x_1" ? "x.1" : n))
    const out = [
      mapper.push({ method: "item/agentMessage/delta", params: { threadId: t, itemId: "m1", delta: "hel" } }),
      mapper.push({ method: "item/agentMessage/delta", params: { threadId: t, itemId: "m1", delta: "lo" } }),
      mapper.push({ method: "item/completed", params: { threadId: t, item: { type: "agentMessage", id: "m1", text: "hello" } } }),
      mapper.push({ method: "item/started", params: { threadId: t, item: { type: "dynamicToolCall", id: "call_1", tool: "x_1", arguments: { q: 1 }, status: "inProgress" } } }),
      mapper.push({ method: "item/completed", params: { threadId: t, item: { type: "dynamicToolCall", id: "call_1", tool: "x_1", arguments: { q: 1 }, status: "completed", success: false, contentItems: [] } } }),
      mapper.push({ method: "item/completed", params: { threadId: t, item: { type: "commandExecution", id: "call_2", command: "ls", status: "completed", exitCode: 0, aggregatedOutput: "a\n" } } })
    ].flat()
    expect(out).toEqual([
      { type: "message.delta", itemId: "m1", delta: "hel" },
      { type: "message.delta", itemId: "m1", delta: "lo" },
      { type: "message", itemId: "m1", text: "hello" },
      { type: "tool.started", itemId: "call_1", kind: "dynamic", name: "x.1", input: { q: 1 } },
      { type: "tool.completed", itemId: "call_1", kind: "dynamic", name: "x.1", status: "failed", output: [] },
      { type: "tool.started", itemId: "call_2", kind: "command", name: "command", input: { command: "ls" } },
      { type: "tool.completed", itemId: "call_2", kind: "command", name: "command", status: "completed", output: "a\n", exitCode: 0 }
    ])
    expect(mapper.toolCallIds()).toEqual(["call_1", "call_2"])
  })

  it("reports plans, warnings and reasoning; skips the user's own message", () => {
    const mapper = makeTurnItemMapper((n) => n)
    expect(mapper.push({ method: "item/completed", params: { threadId: t, item: { type: "userMessage", id: "u1" } } })).toEqual([])
    expect(mapper.push({ method: "item/completed", params: { threadId: t, item: { type: "reasoning", id: "r1", summary: ["a", "b"] } } }))
      .toEqual([{ type: "reasoning", itemId: "r1", text: "a\n\nb" }])
    expect(mapper.push({ method: "turn/plan/updated", params: { threadId: t, turnId: "T", plan: [{ step: "s1", status: "completed" }, { step: "s2", status: "pending" }] } }))
      .toEqual([{ type: "plan", itemId: "plan-T", steps: [{ text: "s1", done: true }, { text: "s2", done: false }] }])
    expect(mapper.push({ method: "warning", params: { threadId: t, message: "careful" } })).toEqual([{ type: "notice", level: "warn", message: "careful" }])
  })
})
