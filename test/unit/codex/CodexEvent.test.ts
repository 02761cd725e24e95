import { describe, expect, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { decodeCodexLine } from "../../../src/schemas/CodexEvent.ts"

const recordedRoot = Path.join(import.meta.dirname, "../../fixtures/rollouts/recorded")
const versions = Fs.readdirSync(recordedRoot).filter((d) => /^\d+\.\d+\.\d+$/.test(d))

describe("decodeCodexLine", () => {
  it.each(versions)("decodes every line codex %s printed in the recorded runs as a known event", (version) => {
    const recorded = Path.join(recordedRoot, version)
    const files = Fs.readdirSync(recorded).filter((f) => f.endsWith(".exec.jsonl"))
    expect(files.length).toBeGreaterThan(0)
    for (const file of files) {
      const lines = Fs.readFileSync(Path.join(recorded, file), "utf8").split("\n").filter(Boolean)
      for (const line of lines) {
        const event = decodeCodexLine(line)
        expect(event.type, `${file}: ${line}`).not.toMatch(/^</)
        if ("item" in event) expect(event.item.type, `${file}: ${line}`).not.toBe("<unknown>")
      }
    }
  })

  it("reads a command item with its output and exit code", () => {
    const e = decodeCodexLine(
      '{"type":"item.completed","item":{"id":"item_2","type":"command_execution","command":"ls","aggregated_output":"a\\n","exit_code":0,"status":"completed"}}'
    )
    expect(e).toEqual({
      type: "item.completed",
      item: { type: "command_execution", id: "item_2", command: "ls", aggregated_output: "a\n", exit_code: 0, status: "completed" }
    })
  })

  it("keeps an unknown event kind whole instead of failing", () => {
    const e = decodeCodexLine('{"type":"session.configured","model":"x","nested":{"a":1}}')
    expect(e).toEqual({
      type: "<unknown>",
      eventType: "session.configured",
      raw: { type: "session.configured", model: "x", nested: { a: 1 } }
    })
  })

  it("keeps an unknown item kind, and a known kind whose fields drifted, as unknown items", () => {
    const unknownKind = decodeCodexLine('{"type":"item.started","item":{"id":"item_9","type":"image_view","path":"/a.png"}}')
    expect(unknownKind).toMatchObject({ type: "item.started", item: { type: "<unknown>", itemType: "image_view" } })
    const drifted = decodeCodexLine('{"type":"item.completed","item":{"id":"item_1","type":"agent_message","content":"moved"}}')
    expect(drifted).toMatchObject({
      type: "item.completed",
      item: { type: "<unknown>", itemType: "agent_message", raw: { content: "moved" } }
    })
  })

  it("reads web_search whose JSON carries the key id twice", () => {
    const e = decodeCodexLine('{"type":"item.completed","item":{"id":"item_3","type":"web_search","id":"ws_1","query":"effect ts","action":{"type":"search"}}}')
    expect(e).toMatchObject({ type: "item.completed", item: { type: "web_search", id: "ws_1", query: "effect ts" } })
  })

  it("defaults missing usage counts to zero", () => {
    expect(decodeCodexLine('{"type":"turn.completed","usage":{"input_tokens":5}}')).toEqual({
      type: "turn.completed",
      usage: { input_tokens: 5, cached_input_tokens: 0, output_tokens: 0, reasoning_output_tokens: 0 }
    })
  })

  it("turns lines that are not a JSON object with a type into <unparsed>, cut for display", () => {
    expect(decodeCodexLine("Reading prompt from stdin...")).toEqual({
      type: "<unparsed>",
      line: "Reading prompt from stdin...",
      bytes: 28
    })
    expect(decodeCodexLine("[1,2]").type).toBe("<unparsed>")
    expect(decodeCodexLine('{"no":"type"}').type).toBe("<unparsed>")
    const long = decodeCodexLine("x".repeat(10_000))
    expect(long.type === "<unparsed>" && long.line.length).toBeLessThan(300)
  })
})
