// A rewrite keeps every line's byte length (PROTOCOL.md §5: offsets codex keeps into the rollout stay
// valid): shorter values are padded with JSON whitespace, values that would grow are left alone.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { withReadHandle } from "../../../src/core/rollout/RolloutLineScanner.ts"
import { rewriteRollout } from "../../../src/core/rollout/RolloutRewrite.ts"
import { scanToolCalls } from "../../../src/core/rollout/RolloutToolCalls.ts"
import { HISTORY_INDEX, makeRolloutStore } from "../../../src/layers/RolloutStoreLive.ts"
import { copyFixture, HOSTILE, keyPaths, MARKER, rawLines, RECORDED_TWO_TURNS } from "./RolloutTestKit.ts"

/** Byte offset where each line starts: what codex's history index records. */
const lineStarts = (bytes: Buffer) => {
  const starts = [0]
  for (let nl = bytes.indexOf(10); nl !== -1; nl = bytes.indexOf(10, nl + 1)) starts.push(nl + 1)
  return starts
}

const ALL = ["call_A1", "call_P1"]

describe("rewriteRollout keeps line lengths", () => {
  it("pads shorter values: same size, every line starts where it did, values and key order as asked", async () => {
    const path = await copyFixture(RECORDED_TWO_TURNS)
    const before = await Fs.readFile(path)
    const result = await rewriteRollout(path, ALL.map((blockId) => ({ blockId, op: "heavy" as const })), MARKER)
    expect(result).toMatchObject({ touched: 4, kept: [], missing: [] })
    const after = await Fs.readFile(path)
    expect(after.length).toBe(before.length)
    expect(lineStarts(after)).toEqual(lineStarts(before))
    const [b, a] = [rawLines(before), rawLines(after)]
    for (const [i, line] of a.entries()) {
      if (line.equals(b[i]!)) continue
      const [o, n] = [JSON.parse(b[i]!.toString()), JSON.parse(line.toString())]
      expect(keyPaths(n)).toEqual(keyPaths(o))
      // Only spaces were added, right after the new value.
      expect(line.toString()).toMatch(/("\.\.\.\(tool called\)"|"\{\}"|"") +[,}]/)
    }
    const calls = (await withReadHandle(path, (fh) => scanToolCalls(fh))).calls
    expect(calls.map((c) => [c.callId, c.input, c.output])).toEqual([
      ["call_A1", "{}", MARKER],
      ["call_P1", "", MARKER]
    ])
  })

  it("is idempotent over its own padding, and a later, longer marker reuses the padding", async () => {
    const path = await copyFixture(RECORDED_TWO_TURNS)
    await rewriteRollout(path, [{ blockId: "call_A1", op: "light" }], MARKER)
    const once = await Fs.readFile(path)
    const inode = (await Fs.stat(path)).ino
    expect(await rewriteRollout(path, [{ blockId: "call_A1", op: "light" }], MARKER)).toMatchObject({ touched: 0, kept: [] })
    expect((await Fs.stat(path)).ino).toBe(inode)
    const longer = `${MARKER} (consumed by the host)`
    expect(await rewriteRollout(path, [{ blockId: "call_A1", op: "light" }], longer)).toMatchObject({ touched: 1, kept: [] })
    const twice = await Fs.readFile(path)
    expect(twice.length).toBe(once.length)
    expect(lineStarts(twice)).toEqual(lineStarts(once))
    const calls = (await withReadHandle(path, (fh) => scanToolCalls(fh))).calls
    expect(calls.find((c) => c.callId === "call_A1")!.output).toBe(longer)
  })

  it("leaves a value shorter than its replacement as it is, whole, and says which line", async () => {
    const path = await copyFixture(HOSTILE)
    const before = await Fs.readFile(path)
    const ids = ["call_ls", "call_mcp", "call_patch", "call_spaced"]
    const result = await rewriteRollout(path, ids.map((blockId) => ({ blockId, op: "heavy" as const })), MARKER)
    // call_spaced's output is `"spaced out"`: 12 bytes, the marker needs 18.
    expect(result.kept).toEqual([23])
    const after = await Fs.readFile(path)
    expect(after.length).toBe(before.length)
    expect(lineStarts(after)).toEqual(lineStarts(before))
    expect(rawLines(after)[22]!.equals(rawLines(before)[22]!)).toBe(true)
    // The others were rewritten in place, CRLF lines included.
    expect(JSON.parse(rawLines(after)[9]!.toString()).payload.output).toBe(MARKER)
    expect(rawLines(after)[11]!.toString().endsWith("}}\r")).toBe(true)
    expect(JSON.parse(rawLines(after)[11]!.toString()).payload.output).toBe(MARKER)
  })

  it("a marker longer than every output changes nothing and does not even replace the file", async () => {
    const path = await copyFixture(RECORDED_TWO_TURNS)
    const before = await Fs.readFile(path)
    const inode = (await Fs.stat(path)).ino
    const result = await rewriteRollout(path, [{ blockId: "call_P1", op: "light" }], "x".repeat(1 << 20))
    expect(result.touched).toBe(0)
    expect(result.kept.length).toBe(1)
    expect((await Fs.readFile(path)).equals(before)).toBe(true)
    expect((await Fs.stat(path)).ino).toBe(inode)
  })

  it("session/mutate keeps lengths where codex keeps its history index, and shrinks lines where it does not", async () => {
    const sizeAfterMutate = async (withIndex: boolean) => {
      const path = await copyFixture(RECORDED_TWO_TURNS)
      const home = Path.dirname(path)
      if (withIndex) await Fs.writeFile(Path.join(home, HISTORY_INDEX), "")
      const before = (await Fs.stat(path)).size
      await Effect.runPromise(
        Effect.flatMap(makeRolloutStore({ codexHome: home }), (store) => store.mutate(path, [{ blockId: "call_A1", op: "heavy" }], MARKER))
      )
      return { before, after: (await Fs.stat(path)).size }
    }
    const kept = await sizeAfterMutate(true)
    expect(kept.after).toBe(kept.before)
    const free = await sizeAfterMutate(false)
    expect(free.after).toBeLessThan(free.before)
  })
})
