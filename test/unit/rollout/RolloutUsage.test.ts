// The baseline of a turn's usage is the thread's total as codex last recorded it in the rollout.
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { describe, expect, it } from "vitest"
import { lastUsageTotal } from "../../../src/core/rollout/RolloutUsage.ts"

const recordedRoot = Path.join(import.meta.dirname, "../../fixtures/rollouts/recorded")
const versions = Fs.readdirSync(recordedRoot).filter((d) => /^\d+\.\d+\.\d+$/.test(d))

const totalOf = async (file: string) => {
  const fh = await Fs.promises.open(file, "r")
  try {
    return await lastUsageTotal(fh)
  } finally {
    await fh.close()
  }
}

describe("lastUsageTotal", () => {
  it.each(versions)("codex %s: the rollout's last total is what `exec --json` reported as the thread's total", async (version) => {
    const dir = Path.join(recordedRoot, version)
    const events = Fs.readFileSync(Path.join(dir, "exec-turn-resumed.exec.jsonl"), "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l))
    const reported = events.filter((e) => e.type === "turn.completed").at(-1).usage
    expect(await totalOf(Path.join(dir, "exec-turn-resumed.jsonl"))).toEqual({
      inputTokens: reported.input_tokens,
      cachedInputTokens: reported.cached_input_tokens,
      outputTokens: reported.output_tokens,
      reasoningOutputTokens: reported.reasoning_output_tokens
    })
  })

  it("finds a total far from the end, and says none when the rollout records none", async () => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "rollout-usage-"))
    try {
      const line = (type: string, payload: unknown) => JSON.stringify({ timestamp: "t", type, payload }) + "\n"
      const total = { input_tokens: 7, cached_input_tokens: 1, output_tokens: 3, reasoning_output_tokens: 2, total_tokens: 10 }
      const big = line("response_item", { type: "message", role: "user", content: [{ type: "input_text", text: "x".repeat(300_000) }] })
      const withTotal = Path.join(dir, "a.jsonl")
      Fs.writeFileSync(withTotal, line("session_meta", { id: "a" }) + line("event_msg", { type: "token_count", info: { total_token_usage: total } }) + big + big)
      expect(await totalOf(withTotal)).toEqual({ inputTokens: 7, cachedInputTokens: 1, outputTokens: 3, reasoningOutputTokens: 2 })
      const without = Path.join(dir, "b.jsonl")
      Fs.writeFileSync(without, line("session_meta", { id: "b" }) + big)
      expect(await totalOf(without)).toBeUndefined()
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
