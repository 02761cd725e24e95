// codex's history index stays valid across session/mutate (PROTOCOL.md §5): every byte offset codex
// recorded for the thread in thread_history_1.sqlite (codex ≥ 0.148) still points at the start of
// the same line, an output shorter than the marker is left whole, and codex itself — `exec resume`,
// app-server `thread/read` and `thread/turns/list` — reads the rewritten thread without an error.
// Runs the pinned codex; `npm run compat` runs it against other versions (skipped before 0.148.0).
import { readFile } from "node:fs/promises"
import { execFileSync } from "node:child_process"
import { afterEach, describe, expect, it } from "vitest"
import { appServerCalls } from "../support/CodexAppServer.ts"
import { codexAtLeast } from "../support/CodexVersion.ts"
import { codexBin, codexOfflineArgs, runCodexExec } from "../support/CodexOffline.ts"
import { allOffsets, readRecordedOffsets } from "../support/HistoryIndex.ts"
import { type PluginHarness, startPluginHarness, userMessage } from "../support/PluginHarness.ts"
import { assistantMessage, functionCall, type ModelRequest, requestText } from "../support/ScriptedModelServer.ts"

const codex = codexBin

let harness: PluginHarness | undefined
afterEach(async () => {
  await harness?.dispose()
  harness = undefined
})

const BIG = "big-output-5521 ".repeat(40)
// Longer than the small command's whole output, shorter than the big one's.
const MARKER = `[consumed by the host] ${"-".repeat(280)}`

/** Turn 1: a command with a big output, then one with a tiny output; later requests: plain answers. */
const script = (req: ModelRequest) => {
  if (req.index === 0) return { items: [functionCall("exec_command", { cmd: `printf '${BIG}'` }, { callId: "call_big" })] }
  if (req.index === 1) return { items: [functionCall("exec_command", { cmd: "printf ok-9" }, { callId: "call_tiny" })] }
  return { items: [assistantMessage(`answer ${req.index}`)] }
}

/** The line of `bytes` starting at `offset` (which must be a line start), parsed. */
const lineAt = (bytes: Buffer, offset: number) => {
  expect(offset === 0 || bytes[offset - 1] === 10, `offset ${offset} is not a line start`).toBe(true)
  const end = bytes.indexOf(10, offset)
  return JSON.parse(bytes.toString("utf8", offset, end === -1 ? bytes.length : end))
}

/** call_id → output of the rollout's `*_output` response items (what the mirror rewrites). */
const outputsOf = (bytes: Buffer) =>
  new Map(
    bytes
      .toString()
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l))
      .filter((l) => l.type === "response_item" && String(l.payload?.type).endsWith("_output"))
      .map((l) => [l.payload.call_id as string, l.payload.output as unknown])
  )

/** What identifies a line regardless of rewritten values. */
const identity = (line: any) => ({ ordinal: line.ordinal, timestamp: line.timestamp, type: line.type, payloadType: line.payload?.type })

describe.skipIf(!codexAtLeast("0.148.0"))("codex's history index after a rewrite", () => {
  it("keeps every recorded offset on the same line, and codex reads the thread on", async () => {
    harness = await startPluginHarness(script, { config: { binary: codex, consume_marker: MARKER } })
    const h = harness
    const first = await h.turn("t1", { messages: [userMessage("run both")] })
    expect(first.response.result.status).toBe("completed")
    const threadId = first.response.result.threadId
    const rollout = execFileSync("find", [h.codexHome + "/sessions", "-name", `rollout-*-${threadId}.jsonl`], { encoding: "utf8" }).trim()

    const recorded = await readRecordedOffsets(h.codexHome, threadId)
    expect(recorded, "codex ≥ 0.148 keeps a history index").toBeDefined()
    const offsets = allOffsets(recorded!)
    expect(offsets.length).toBeGreaterThanOrEqual(3)
    const before = await readFile(rollout)
    const linesBefore = offsets.filter((o) => o < before.length).map((o) => identity(lineAt(before, o)))

    const mutated = await h.host.request("session/mutate", {
      agent: { agentId: "agent-1", workspace: h.workspace },
      threadId,
      mutations: [{ blockId: "call_big", op: "heavy" }, { blockId: "call_tiny", op: "heavy" }]
    })
    // The big output and both argument strings; the tiny output is shorter than the marker: kept.
    expect(mutated.result).toEqual({ touched: 3, missing: [] })
    const after = await readFile(rollout)
    expect(after.length).toBe(before.length)
    expect(offsets.filter((o) => o < after.length).map((o) => identity(lineAt(after, o)))).toEqual(linesBefore)
    const outputs = outputsOf(after)
    expect(outputs.get("call_big")).toBe(MARKER)
    expect(outputs.get("call_tiny")).toContain("ok-9")
    // The index itself was not touched.
    expect(await readRecordedOffsets(h.codexHome, threadId)).toEqual(recorded)

    // codex resumes the rewritten thread: the model gets the marker, and codex indexes on from its offset.
    const resumed = await runCodexExec({
      codexHome: h.codexHome,
      cwd: h.workspace,
      args: codexOfflineArgs(h.model.baseUrl),
      prompt: "and now?",
      tail: ["resume", threadId, "-"],
      bin: codex
    })
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(resumed.events.filter((e) => e.type === "error" || e.type === "turn.failed")).toEqual([])
    const sent = requestText(h.model.requests.at(-1)!)
    expect(sent).toContain("[consumed by the host]")
    expect(sent).not.toContain("big-output-5521")
    expect(sent).toContain("ok-9")
    const grown = await readFile(rollout)
    const later = (await readRecordedOffsets(h.codexHome, threadId))!
    expect(later.turns.length).toBe(recorded!.turns.length + 1)
    expect(later.items).toBeGreaterThan(recorded!.items)
    for (const o of allOffsets(later)) if (o < grown.length) lineAt(grown, o)

    // The app-server reads it without an error.
    const served = await appServerCalls(codex, h.codexHome, [
      { method: "thread/read", params: { threadId, includeTurns: true } },
      { method: "thread/turns/list", params: { threadId, limit: 50, sortDirection: "asc" } }
    ])
    expect(served.answers.map((a) => a.error)).toEqual([undefined, undefined])
    expect(served.answers[0]!.result.thread.turns.length).toBe(2)
    expect(served.answers[1]!.result.data.length).toBe(2)
  }, 120_000)
})
