import { describe, expect, it } from "@effect/vitest"
import { buildTurnPrompt } from "../../../src/core/codex/TurnPrompt.ts"
import type { Message } from "../../../src/schemas/Protocol.ts"

const conversation: ReadonlyArray<Message> = [
  { role: "user", content: "What is in src?" },
  { role: "assistant", content: "Two files: a.ts and b.ts." },
  { role: "user", content: [{ type: "text", text: "Look at this screenshot" }, { type: "image", path: "shots/1.png" }] },
  { role: "user", content: "and fix b.ts" }
]

describe("buildTurnPrompt", () => {
  it("gives a resumed thread only the messages after the last assistant message, images as paths", () => {
    const p = buildTurnPrompt(conversation, { resumed: true, workspace: "/ws" })
    expect(p.text).toBe("Look at this screenshot\n\nand fix b.ts")
    expect(p.images).toEqual(["/ws/shots/1.png"])
  })

  it("gives a new thread a readable transcript of the earlier turns, then the new messages", () => {
    const p = buildTurnPrompt(conversation, { resumed: false, workspace: "/ws" })
    expect(p.text).toContain("### user\nWhat is in src?")
    expect(p.text).toContain("### assistant\nTwo files: a.ts and b.ts.")
    expect(p.text.indexOf("Two files")).toBeLessThan(p.text.indexOf("and fix b.ts"))
    expect(p.text.endsWith("Look at this screenshot\n\nand fix b.ts")).toBe(true)
    expect(p.images).toEqual(["/ws/shots/1.png"])
  })

  it("sends a first message of a new conversation as it is", () => {
    expect(buildTurnPrompt([{ role: "user", content: "hello" }], { resumed: false })).toEqual({ text: "hello", images: [] })
  })

  it("mentions images of earlier turns by path without attaching them again", () => {
    const p = buildTurnPrompt(
      [
        { role: "user", content: [{ type: "image", path: "/abs/old.png" }] },
        { role: "assistant", content: "nice" },
        { role: "user", content: "again" }
      ],
      { resumed: false }
    )
    expect(p.text).toContain("[image: /abs/old.png]")
    expect(p.images).toEqual([])
  })

  it("labels new non-user messages so they are not taken for the user", () => {
    const p = buildTurnPrompt(
      [{ role: "assistant", content: "done?" }, { role: "tool", content: "exit 0" }, { role: "user", content: "ok" }],
      { resumed: true }
    )
    expect(p.text).toBe("[tool]\nexit 0\n\nok")
  })
})
