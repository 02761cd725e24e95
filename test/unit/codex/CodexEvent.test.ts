import { describe, expect, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Schema } from "effect"
import { CodexEvent, decodeCodexLine, isCommonDecodedEvent } from "../../../src/schemas/CodexEvent.ts"

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

describe("isCommonDecodedEvent (the hot path's shortcut)", () => {
  const asDecoded = Schema.is(Schema.typeSchema(CodexEvent))
  const lines = Fs.readdirSync(recordedRoot, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith(".exec.jsonl"))
    .flatMap((f) => Fs.readFileSync(Path.join(recordedRoot, f), "utf8").split("\n").filter((l) => l.trim() !== ""))
    .map((l) => JSON.parse(l) as Record<string, any>)
  const manyKinds = [
    { type: "item.completed", item: { id: "i1", type: "command_execution", command: "ls", aggregated_output: "a", exit_code: 0, status: "completed" } },
    { type: "item.updated", item: { id: "i2", type: "todo_list", items: [{ text: "x", completed: true }] } },
    { type: "item.completed", item: { id: "i3", type: "reasoning", text: "r" } }
  ]
  const all = [...lines, ...manyKinds]
  const mutations: Array<(e: any) => any> = [
    (e) => e,
    (e) => (e.item ? { ...e, item: { ...e.item, id: 7 } } : { ...e, thread_id: 1 }),
    (e) => (e.item ? { ...e, item: { ...e.item, text: null, command: 3 } } : e),
    (e) => (e.item ? { ...e, item: { ...e.item, exit_code: "0", status: undefined } } : e),
    (e) => (e.item ? { ...e, item: { ...e.item, aggregated_output: undefined } } : e),
    (e) => (e.item ? { ...e, item: { ...e.item, items: [{ text: "x", completed: "no" }] } } : e),
    (e) => (e.item ? { ...e, item: null } : { ...e, type: 5 })
  ]
  it("never accepts what the schema refuses, and accepts every common recorded event", () => {
    expect(lines.length).toBeGreaterThan(10)
    let accepted = 0
    for (const line of all) {
      for (const mutate of mutations) {
        const e = mutate(structuredClone(line))
        if (isCommonDecodedEvent(e)) {
          accepted++
          expect(asDecoded(e), JSON.stringify(e)).toBe(true)
        }
      }
      const common = ["agent_message", "reasoning", "command_execution", "todo_list"].includes(line.item?.type) && line.item.aggregated_output !== undefined
      if (common) expect(isCommonDecodedEvent(line)).toBe(true)
    }
    expect(accepted).toBeGreaterThan(0)
  })
})
