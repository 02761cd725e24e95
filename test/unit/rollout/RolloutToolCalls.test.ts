import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { completeEnd, withReadHandle } from "../../../src/core/rollout/RolloutLineScanner.ts"
import { scanToolCalls, type ToolCallRecord, toToolBlockEvent } from "../../../src/core/rollout/RolloutToolCalls.ts"
import { TurnEvent } from "../../../src/schemas/Protocol.ts"
import { copyFixture, HOSTILE, RECORDED_TWO_TURNS, tempDir } from "./RolloutTestKit.ts"

const scan = (path: string, from = 0, chunkSize?: number) =>
  withReadHandle(path, (fh) => scanToolCalls(fh, from, chunkSize === undefined ? undefined : { chunkSize }))

const plain = (r: ToolCallRecord) => JSON.parse(JSON.stringify(r)) as Record<string, unknown>

describe("scanToolCalls", () => {
  it("pairs the calls codex 0.169 recorded (function and custom tools)", async () => {
    const { calls, badLines } = await scan(RECORDED_TWO_TURNS)
    expect(badLines).toEqual([])
    expect(calls.map((c) => [c.callId, c.name, c.kind, c.paired])).toEqual([
      ["call_A1", "exec_command", "function", true],
      ["call_P1", "apply_patch", "custom", true]
    ])
    expect(calls[0]!.input).toBe(`{"cmd":"printf 'hi\\\\033[31mred\\\\n'"}`)
    expect(calls[0]!.output).toContain("hi\u001b[31mred\n")
    expect(calls[1]!.input).toBe("*** Begin Patch\n*** Add File: a.txt\n+hello\n*** End Patch\n")
    expect(calls[1]!.output).toBe("unsupported custom tool call: apply_patch")
  })

  it("survives a hostile rollout: unknown kinds, bad lines, CRLF, orphans, an incomplete last line", async () => {
    const result = await scan(HOSTILE)
    const byId = new Map(result.calls.map((c) => [c.callId, c]))
    expect(result.calls.map((c) => c.callId)).toEqual([
      "call_ls",
      "call_mcp",
      "call_patch",
      "call_shell",
      "call_unpaired",
      "call_spaced"
    ])
    // Output exactly as recorded, escapes and all.
    expect(byId.get("call_ls")!.output).toBe("a.txt\n\u001b[2J\u001b[31mevil\u009b31m\r\nb.txt 😀 \u2028 \u202e")
    // Content items stay content items; the namespace of an MCP call is kept; CRLF line read.
    expect(byId.get("call_mcp")!.output).toEqual([
      { type: "input_text", text: "found it" },
      { type: "input_image", image_url: "data:image/png;base64,iVBORw0KGgo=" }
    ])
    expect(byId.get("call_mcp")!.namespace).toBe("mcp__plexum_host_a")
    // Duplicate keys resolve like JSON.parse (last wins).
    expect(byId.get("call_patch")!.output).toBe("duplicate key: JSON.parse keeps this one")
    // Other *_call kinds: named after their type, input from their action.
    expect(byId.get("call_shell")).toMatchObject({ name: "local_shell", kind: "function", paired: false })
    expect(JSON.parse(byId.get("call_shell")!.input)).toEqual({ type: "exec", command: ["ls"] })
    expect(byId.get("call_unpaired")).toMatchObject({ paired: false, output: undefined })
    // Whitespace codex never writes still parses.
    expect(byId.get("call_spaced")).toMatchObject({ paired: true, output: "spaced out" })
    // The line codex is still writing is not a call yet, and not an error.
    expect(byId.has("call_half")).toBe(false)
    expect(result.tailBytes).toBeGreaterThan(0)
    expect(result.orphanOutputs).toBe(1)
    expect(result.badLines.map((b) => b.line)).toEqual([13])
  })

  it("gives the same answer whatever the read chunk size (lines split across reads)", async () => {
    const expected = (await scan(HOSTILE)).calls.map(plain)
    for (const size of [1, 7, 64, 333, 4096]) {
      expect((await scan(HOSTILE, 0, size)).calls.map(plain)).toEqual(expected)
    }
  })

  it("reads a 10 MB output line whole", async () => {
    const dir = await tempDir()
    const path = Path.join(dir, "big.jsonl")
    const big = "x\"y\\z\n".repeat((10 * 1024 * 1024) / 6)
    const lines = [
      { type: "session_meta", payload: { id: "t" } },
      { type: "response_item", payload: { type: "function_call", name: "dump", arguments: "{}", call_id: "c1" } },
      { type: "response_item", payload: { type: "function_call_output", call_id: "c1", output: big } }
    ]
    await Fs.writeFile(path, lines.map((l) => JSON.stringify(l)).join("\n") + "\n")
    const { calls } = await withReadHandle(path, (fh) => scanToolCalls(fh, 0, { chunkSize: 1 << 16 }))
    expect(calls).toHaveLength(1)
    expect(calls[0]!.output).toBe(big)
  })

  it("from an offset taken before a turn, lists only that turn's calls", async () => {
    const path = await copyFixture(RECORDED_TWO_TURNS)
    const text = await Fs.readFile(path, "utf8")
    const secondTurn = text.split("\n").findIndex((l) => l.includes('"type":"task_started"') && l.includes("45ab"))
    // Simulate: the file holds turn 1 and part of a line; the turn remembers the offset, codex appends.
    const lines = text.split("\n")
    const firstPart = lines.slice(0, secondTurn).join("\n") + "\n"
    await Fs.writeFile(path, firstPart + lines[secondTurn]!.slice(0, 20))
    const before = await completeEnd(path)
    expect(before).toBe(Buffer.byteLength(firstPart))
    await Fs.writeFile(path, text)
    const { calls } = await scan(path, before)
    expect(calls.map((c) => c.callId)).toEqual(["call_P1"])
    expect(await completeEnd(Path.join(Path.dirname(path), "nope.jsonl"))).toBe(0)
  })

  it("streams records in rollout order without keeping them", async () => {
    const seen: Array<string> = []
    const result = await withReadHandle(HOSTILE, (fh) =>
      scanToolCalls(fh, 0, { onRecord: (r) => seen.push(`${r.callId}:${r.paired}`) })
    )
    expect(result.calls).toEqual([])
    expect(seen).toEqual([
      "call_ls:true",
      "call_mcp:true",
      "call_patch:true",
      "call_shell:false",
      "call_unpaired:false",
      "call_spaced:true"
    ])
  })

  it("turns a record into a tool.block event the protocol schema accepts", async () => {
    const { calls } = await scan(HOSTILE)
    const events = calls.map(toToolBlockEvent)
    for (const e of events) expect(Schema.decodeUnknownEither(TurnEvent)(e)._tag).toBe("Right")
    expect(events[1]).toEqual({
      type: "tool.block",
      blockId: "call_mcp",
      name: "lookup",
      namespace: "mcp__plexum_host_a",
      input: '{"q":"x"}',
      output: [
        { type: "input_text", text: "found it" },
        { type: "input_image", image_url: "data:image/png;base64,iVBORw0KGgo=" }
      ],
      kind: "function"
    })
    expect(events.find((e) => e.blockId === "call_unpaired")!.output).toBeNull()
    expect("namespace" in events[0]!).toBe(false)
  })
})

describe("scanToolCalls with the file's path", () => {
  it("leaves large outputs in the file until read, and refuses to read them from a replaced file", async () => {
    const { mkdtempSync, writeFileSync, renameSync, rmSync } = await import("node:fs")
    const { tmpdir } = await import("node:os")
    const dir = mkdtempSync(`${tmpdir()}/lazy-output-`)
    const path = `${dir}/rollout-2026-11-25T00-00-00-00000000-0000-0000-0000-000000000001.jsonl`
    const big = "x".repeat(600 * 1024) + "é\u001b"
    const lines = [
      { type: "response_item", payload: { type: "function_call", call_id: "c1", name: "f", arguments: "{}" } },
      { type: "response_item", payload: { type: "function_call_output", call_id: "c1", output: big } },
      { type: "response_item", payload: { type: "function_call", call_id: "c2", name: "g", arguments: "{}" } },
      { type: "response_item", payload: { type: "function_call_output", call_id: "c2", output: "small" } }
    ]
    writeFileSync(path, lines.map((l) => JSON.stringify(l)).join("\n") + "\n")
    const first = await withReadHandle(path, (fh) => scanToolCalls(fh, 0, { path }))
    expect(first.calls[0]!.output).toBe(big)
    expect(first.calls[1]!.output).toBe("small")

    const second = await withReadHandle(path, (fh) => scanToolCalls(fh, 0, { path }))
    writeFileSync(`${dir}/next`, "{}\n")
    renameSync(`${dir}/next`, path) // what a mutation does
    expect(second.calls[1]!.output).toBe("small") // copied during the scan
    expect(() => second.calls[0]!.output).toThrow(/replaced/)
    rmSync(dir, { recursive: true })
  })
})
