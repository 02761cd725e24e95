import { describe, expect, it } from "@effect/vitest"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { findValueSpan } from "../../../src/core/rollout/RolloutJsonSpan.ts"
import { withReadHandle } from "../../../src/core/rollout/RolloutLineScanner.ts"
import { rewriteRollout } from "../../../src/core/rollout/RolloutRewrite.ts"
import { scanToolCalls } from "../../../src/core/rollout/RolloutToolCalls.ts"
import { copyFixture, HOSTILE, keyPaths, MARKER, rawLines, RECORDED_TWO_TURNS } from "./RolloutTestKit.ts"

/** Lines that differ between two versions of a file (same line count expected). */
const changedLines = (before: Buffer, after: Buffer) => {
  const a = rawLines(before)
  const b = rawLines(after)
  expect(b.length).toBe(a.length)
  return a.flatMap((line, i) => (line.equals(b[i]!) ? [] : [i + 1]))
}

describe("rewriteRollout", () => {
  it("light: replaces only the outputs, every other byte stays", async () => {
    const path = await copyFixture(RECORDED_TWO_TURNS)
    const before = await Fs.readFile(path)
    const result = await rewriteRollout(path, [{ blockId: "call_A1", op: "light" }, { blockId: "call_P1", op: "light" }], MARKER)
    expect(result).toEqual({ touched: 2, kept: [], missing: [], badLines: [] })
    const after = await Fs.readFile(path)
    expect(changedLines(before, after)).toEqual([13, 31])
    const [old13, new13] = [rawLines(before)[12]!, rawLines(after)[12]!]
    const [o, n] = [JSON.parse(old13.toString()), JSON.parse(new13.toString())]
    expect(n.payload.output).toBe(MARKER)
    // Same keys in the same order, and all other values equal.
    expect(keyPaths(n)).toEqual(keyPaths(o))
    expect({ ...n, payload: { ...n.payload, output: null } }).toEqual({ ...o, payload: { ...o.payload, output: null } })
    // The bytes around the value are the original bytes (no re-serialisation).
    const span = findValueSpan(old13, 0, old13.length, ["payload", "output"])!
    expect(new13.subarray(0, span[0]).equals(old13.subarray(0, span[0]))).toBe(true)
    expect(new13.subarray(new13.length - (old13.length - span[1])).equals(old13.subarray(span[1]))).toBe(true)
    // The calls keep their inputs.
    const calls = (await withReadHandle(path, (fh) => scanToolCalls(fh))).calls
    expect(calls.map((c) => [c.output, c.input.length > 2])).toEqual([
      [MARKER, true],
      [MARKER, true]
    ])
  })

  it("heavy: also stubs function_call arguments to {} and custom_tool_call input to empty", async () => {
    const path = await copyFixture(RECORDED_TWO_TURNS)
    const before = await Fs.readFile(path)
    const result = await rewriteRollout(path, [{ blockId: "call_A1", op: "heavy" }, { blockId: "call_P1", op: "heavy" }], MARKER)
    expect(result.touched).toBe(4)
    expect(changedLines(before, await Fs.readFile(path))).toEqual([10, 13, 29, 31])
    const calls = (await withReadHandle(path, (fh) => scanToolCalls(fh))).calls
    expect(calls.map((c) => [c.callId, c.input, c.output])).toEqual([
      ["call_A1", "{}", MARKER],
      ["call_P1", "", MARKER]
    ])
  })

  it("is idempotent: a second run touches nothing and leaves the very same file", async () => {
    const path = await copyFixture(RECORDED_TWO_TURNS)
    await rewriteRollout(path, [{ blockId: "call_A1", op: "heavy" }], MARKER)
    const once = await Fs.readFile(path)
    const inode = (await Fs.stat(path)).ino
    const again = await rewriteRollout(path, [{ blockId: "call_A1", op: "heavy" }, { blockId: "call_A1", op: "light" }], MARKER)
    expect(again).toEqual({ touched: 0, kept: [], missing: [], badLines: [] })
    expect((await Fs.readFile(path)).equals(once)).toBe(true)
    expect((await Fs.stat(path)).ino).toBe(inode) // not even replaced
  })

  it("reports unknown block ids as missing, in request order, once each", async () => {
    const path = await copyFixture(RECORDED_TWO_TURNS)
    const before = await Fs.readFile(path)
    const result = await rewriteRollout(
      path,
      [{ blockId: "nope-2", op: "light" }, { blockId: "call_A1", op: "light" }, { blockId: "nope-1", op: "heavy" }, { blockId: "nope-2", op: "heavy" }],
      MARKER
    )
    expect(result.missing).toEqual(["nope-2", "nope-1"])
    expect(result.touched).toBe(1)
    expect(changedLines(before, await Fs.readFile(path))).toEqual([13])
  })

  it("on a hostile file: keeps numbers, escapes, CRLF, bad and unknown lines and the incomplete tail", async () => {
    const path = await copyFixture(HOSTILE)
    const before = await Fs.readFile(path)
    const result = await rewriteRollout(
      path,
      ["call_ls", "call_mcp", "call_patch", "call_spaced", "call_half", "call_q"].map((blockId) => ({ blockId, op: "heavy" as const })),
      MARKER,
      { lengths: "free" } // values at their own length (no history index to keep true), so line 23 can grow
    )
    // call_half sits in the incomplete last line; call_q is an unknown payload kind (found, not edited).
    expect(result.missing).toEqual(["call_half"])
    expect(result.badLines).toEqual([13])
    const after = await Fs.readFile(path)
    expect(changedLines(before, after)).toEqual([9, 10, 11, 12, 15, 16, 23])
    const a = rawLines(after)
    // Numbers and escapes beside the output are untouched bytes.
    expect(a[9]!.toString()).toContain('"big":12345678901234567890,"f":1.0,"e":1E+2,"neg":-0,"esc":"\\/\\u00e9"}}')
    expect(JSON.parse(a[9]!.toString()).payload.output).toBe(MARKER)
    // CRLF lines keep their \r; the duplicate key's last value is the one replaced.
    expect(a[10]!.toString().endsWith("}}\r")).toBe(true)
    expect(a[11]!.toString()).toContain(`"output":"${MARKER}"}}\r`)
    expect(a[15]!.toString()).toContain(`"output":"Success","output":"${MARKER}"`)
    expect(a[21]!.toString()).toContain(`"arguments": "{}", "call_id" : "call_spaced"`)
    // The line codex may still be writing is copied as it was.
    expect(a[a.length - 1]!.equals(rawLines(before).at(-1)!)).toBe(true)
    expect(after.at(-1)).not.toBe(10)
  })

  it("keeps the file's mode", async () => {
    const path = await copyFixture(RECORDED_TWO_TURNS)
    await Fs.chmod(path, 0o640)
    await rewriteRollout(path, [{ blockId: "call_A1", op: "light" }], MARKER)
    expect((await Fs.stat(path)).mode & 0o7777).toBe(0o640)
  })

  it("removes temp files left by a mutation that died, and leaves none of its own", async () => {
    const path = await copyFixture(RECORDED_TWO_TURNS)
    const dir = Path.dirname(path)
    // A pid that cannot be alive (above pid_max), like a SIGKILLed run's leftover.
    const stale = Path.join(dir, `.${Path.basename(path)}.plexum-mutate.999999999.abcdef.tmp`)
    await Fs.writeFile(stale, "half a file")
    const unrelated = Path.join(dir, ".something-else.tmp")
    await Fs.writeFile(unrelated, "keep me")
    await rewriteRollout(path, [{ blockId: "call_A1", op: "light" }], MARKER)
    expect((await Fs.readdir(dir)).sort()).toEqual([".something-else.tmp", Path.basename(path)])
  })

  it("does nothing to a file without the ids (no replace)", async () => {
    const path = await copyFixture(HOSTILE)
    const inode = (await Fs.stat(path)).ino
    expect(await rewriteRollout(path, [{ blockId: "absent", op: "heavy" }], MARKER)).toMatchObject({ touched: 0, missing: ["absent"] })
    expect((await Fs.stat(path)).ino).toBe(inode)
  })
})
