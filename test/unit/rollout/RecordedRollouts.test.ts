/**
 * The rollout store against every rollout the real codex recorded, version by version
 * (test/fixtures/rollouts/recorded/<version>/, scripts/record-rollout-fixtures.ts).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { completeEnd, withReadHandle } from "../../../src/core/rollout/RolloutLineScanner.ts"
import { buildReport } from "../../../src/core/rollout/RolloutReport.ts"
import { rewriteRollout } from "../../../src/core/rollout/RolloutRewrite.ts"
import { scanToolCalls } from "../../../src/core/rollout/RolloutToolCalls.ts"
import { compareCodexVersions, parseCodexVersion } from "../../../src/core/codex/CodexVersionRange.ts"
import { copyFixture, FIXTURES, keyPaths, MARKER, rawLines } from "./RolloutTestKit.ts"

const ROOT = Path.join(FIXTURES, "recorded")
const versions = Fs.readdirSync(ROOT, { withFileTypes: true })
  .filter((e) => e.isDirectory() && parseCodexVersion(e.name) !== undefined)
  .map((e) => e.name)
  .sort((a, b) => compareCodexVersions(parseCodexVersion(a)!, parseCodexVersion(b)!))
const atLeast = (version: string, than: string) => compareCodexVersions(parseCodexVersion(version)!, parseCodexVersion(than)!) >= 0

const scan = (path: string, from = 0) => withReadHandle(path, (fh) => scanToolCalls(fh, from))

it("holds recordings of the oldest tested codex and more", () => {
  expect(versions).toContain("0.135.0")
  expect(versions.length).toBeGreaterThanOrEqual(4)
})

describe.each(versions)("rollouts recorded by codex %s", (version) => {
  const DIR = Path.join(ROOT, version)
  const recorded = Fs.readdirSync(DIR).filter((n) => n.endsWith(".jsonl") && !n.endsWith(".exec.jsonl")).sort()
  const file = (name: string) => Path.join(DIR, name)

  it("has every fixture the recorder makes", () => {
    expect(recorded).toEqual(["exec-turn-resumed", "exec-turn", "failed-turn", "mcp-turn-text", "mcp-turn", "plain-turn"].map((n) => `${n}.jsonl`).sort())
  })

  it("every file reads cleanly: a session_meta first, no bad lines, every call paired", async () => {
    for (const name of recorded) {
      const path = file(name)
      const report = await withReadHandle(path, (fh) => buildReport(fh, path, MARKER))
      expect(report.warnings, name).toMatchObject({ badLines: [], noSessionMeta: false, orphanOutputs: 0 })
      // Every line type this version writes is one the plugin knows.
      expect([report.warnings.unknownLineTypes, report.warnings.unknownPayloadTypes], name).toEqual([{}, {}])
      expect(report.warnings.incompleteLastLineBytes, name).toBeUndefined()
      expect(report.cliVersion, name).toBe(version)
      const { calls } = await scan(path)
      for (const c of calls) expect(c.paired, `${name} ${c.callId}`).toBe(true)
    }
  })

  it("writes the paginated format (ordinal on every line) from 0.151 on, and not before", () => {
    const lines = Fs.readFileSync(file("exec-turn.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l))
    expect(lines.every((l) => "ordinal" in l)).toBe(atLeast(version, "0.151.0"))
    expect(lines.some((l) => l.type === "event_msg" && l.payload.type === "item_completed")).toBe(atLeast(version, "0.151.0"))
  })

  it("finds the calls the recordings made (tool.block ids), with the MCP namespace and its output shapes", async () => {
    const ids = async (name: string) => (await scan(file(name))).calls.map((c) => c.callId)
    expect(await ids("exec-turn.jsonl")).toEqual(["call_exec_1"])
    expect(await ids("plain-turn.jsonl")).toEqual([])
    expect(await ids("failed-turn.jsonl")).toEqual([])
    const [text] = (await scan(file("mcp-turn-text.jsonl"))).calls
    expect(text).toMatchObject({ callId: "call_mcp_2", namespace: "mcp__echo", kind: "function" })
    // A text-only MCP result: a content-item array from 0.151 on; 0.135 records a string.
    expect(Array.isArray(text!.output)).toBe(atLeast(version, "0.151.0"))
    expect(JSON.stringify(text!.output)).toContain("echo: pong")
    const [structured] = (await scan(file("mcp-turn.jsonl"))).calls
    expect(structured).toMatchObject({ callId: "call_mcp_1", namespace: "mcp__echo" })
    expect(typeof structured!.output).toBe("string")
  })

  it("a resumed turn read from the offset its first turn ended at lists no earlier calls", async () => {
    const first = file("exec-turn.jsonl")
    const resumed = file("exec-turn-resumed.jsonl")
    const offset = await completeEnd(first)
    // The first turn's bytes are unchanged in the resumed file: the offset is a line start there.
    expect(Fs.readFileSync(resumed).subarray(0, offset).equals(Fs.readFileSync(first))).toBe(true)
    expect((await scan(resumed, offset)).calls).toEqual([])
    expect((await scan(resumed, 0)).calls.map((c) => c.callId)).toEqual(["call_exec_1"])
  })

  it("a light mutation replaces only the outputs with the marker and inspect shows them consumed", async () => {
    for (const name of recorded) {
      const path = await copyFixture(file(name))
      const before = Fs.readFileSync(path)
      const { calls } = await scan(path)
      const result = await rewriteRollout(path, calls.map((c) => ({ blockId: c.callId, op: "light" as const })), MARKER)
      expect(result.missing, name).toEqual([])
      const [a, b] = [rawLines(before), rawLines(Fs.readFileSync(path))]
      expect(b.length, name).toBe(a.length)
      const after = (await scan(path)).calls
      expect(after.map((c) => [c.callId, c.output]), name).toEqual(calls.map((c) => [c.callId, MARKER]))
      // Arguments stay as they were.
      expect(after.map((c) => c.input), name).toEqual(calls.map((c) => c.input))
      const report = await withReadHandle(path, (fh) => buildReport(fh, path, MARKER))
      expect(report.toolCalls.every((c) => c.consumed && !c.stubbed), name).toBe(true)
      expect(report.warnings.badLines, name).toEqual([])
    }
  })

  it("a heavy mutation of each call changes only its lines, keeps key order, and is idempotent", async () => {
    for (const name of recorded) {
      const path = await copyFixture(file(name))
      const before = Fs.readFileSync(path)
      const { calls } = await scan(path)
      const result = await rewriteRollout(path, calls.map((c) => ({ blockId: c.callId, op: "heavy" as const })), MARKER)
      expect(result.missing, name).toEqual([])
      const after = Fs.readFileSync(path)
      const [a, b] = [rawLines(before), rawLines(after)]
      expect(b.length, name).toBe(a.length)
      const changed = a.flatMap((line, i) => (line.equals(b[i]!) ? [] : [i]))
      expect(changed.length, name).toBe(result.touched)
      // Same keys in the same order (below the replaced output, a content-item array becomes a string).
      const keys = (line: Buffer) => keyPaths(JSON.parse(line.toString())).filter((k) => !k.startsWith(".payload.output["))
      for (const i of changed) expect(keys(b[i]!), name).toEqual(keys(a[i]!))
      expect((await scan(path)).calls.every((c) => c.output === MARKER && c.input === "{}"), name).toBe(true)
      expect(await rewriteRollout(path, calls.map((c) => ({ blockId: c.callId, op: "heavy" as const })), MARKER), name).toMatchObject({ touched: 0 })
    }
  })

  it("inspect reports the turns, prompts and calls of each recording", async () => {
    const report = async (name: string) => withReadHandle(file(name), (fh) => buildReport(fh, file(name), MARKER))
    const resumed = await report("exec-turn-resumed.jsonl")
    expect(resumed.turns.map((t) => [t.prompt, t.toolCalls])).toEqual([
      ["Run a command that prints fixture-output.", 1],
      ["What did the command print?", 0]
    ])
    expect(resumed.toolCalls.map((c) => [c.callId, c.name, c.turn, c.consumed])).toEqual([["call_exec_1", "exec_command", 1, false]])
    const mcp = await report("mcp-turn.jsonl")
    expect(mcp.toolCalls.map((c) => [c.callId, c.namespace, c.name])).toEqual([["call_mcp_1", "mcp__echo", "echo"]])
    expect((await report("plain-turn.jsonl")).turns.map((t) => t.prompt)).toEqual(["Say hello."])
  })
})
