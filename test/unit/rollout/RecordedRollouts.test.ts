/** The rollout store against every rollout the real codex 0.169 recorded (test/fixtures/rollouts/recorded). */
import { describe, expect, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { completeEnd, withReadHandle } from "../../../src/core/RolloutLineScanner.ts"
import { buildReport } from "../../../src/core/RolloutReport.ts"
import { rewriteRollout } from "../../../src/core/RolloutRewrite.ts"
import { scanToolCalls } from "../../../src/core/RolloutToolCalls.ts"
import { copyFixture, FIXTURES, keyPaths, MARKER, rawLines } from "./RolloutTestKit.ts"

const DIR = Path.join(FIXTURES, "recorded")
const recorded = Fs.existsSync(DIR)
  ? Fs.readdirSync(DIR).filter((n) => n.endsWith(".jsonl") && !n.endsWith(".exec.jsonl")).sort()
  : []

const scan = (path: string, from = 0) => withReadHandle(path, (fh) => scanToolCalls(fh, from))

describe.skipIf(recorded.length === 0)("recorded codex rollouts", () => {
  it("every file reads cleanly: a session_meta first, no bad lines, every call paired", async () => {
    for (const name of recorded) {
      const path = Path.join(DIR, name)
      const report = await withReadHandle(path, (fh) => buildReport(fh, path, MARKER))
      expect(report.warnings, name).toMatchObject({ badLines: [], noSessionMeta: false, orphanOutputs: 0 })
      expect(report.warnings.incompleteLastLineBytes, name).toBeUndefined()
      expect(report.cliVersion, name).toBe("0.169.0")
      const { calls } = await scan(path)
      for (const c of calls) expect(c.paired, `${name} ${c.callId}`).toBe(true)
    }
  })

  it("finds the calls the recordings made, with the MCP namespace and both output shapes", async () => {
    const ids = new Map<string, Array<string>>()
    for (const name of recorded) ids.set(name, (await scan(Path.join(DIR, name))).calls.map((c) => c.callId))
    if (ids.has("exec-turn.jsonl")) expect(ids.get("exec-turn.jsonl")).toEqual(["call_exec_1"])
    if (ids.has("plain-turn.jsonl")) expect(ids.get("plain-turn.jsonl")).toEqual([])
    if (ids.has("mcp-turn-text.jsonl")) {
      const [call] = (await scan(Path.join(DIR, "mcp-turn-text.jsonl"))).calls
      expect(call).toMatchObject({ callId: "call_mcp_2", namespace: "mcp__echo", kind: "function" })
      expect(Array.isArray(call!.output)).toBe(true)
    }
    if (ids.has("mcp-turn.jsonl")) {
      const [call] = (await scan(Path.join(DIR, "mcp-turn.jsonl"))).calls
      expect(call).toMatchObject({ callId: "call_mcp_1", namespace: "mcp__echo" })
      expect(typeof call!.output).toBe("string")
    }
  })

  it.skipIf(!recorded.includes("exec-turn-resumed.jsonl"))(
    "a resumed turn read from the offset its first turn ended at lists no earlier calls",
    async () => {
      const first = Path.join(DIR, "exec-turn.jsonl")
      const resumed = Path.join(DIR, "exec-turn-resumed.jsonl")
      const offset = await completeEnd(first)
      // The first turn's bytes are unchanged in the resumed file: the offset is a line start there.
      expect(Fs.readFileSync(resumed).subarray(0, offset).equals(Fs.readFileSync(first))).toBe(true)
      expect((await scan(resumed, offset)).calls).toEqual([])
      expect((await scan(resumed, 0)).calls.map((c) => c.callId)).toEqual(["call_exec_1"])
    }
  )

  it("a heavy mutation of each call changes only its lines, keeps key order, and is idempotent", async () => {
    for (const name of recorded) {
      const path = await copyFixture(Path.join(DIR, name))
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
})
