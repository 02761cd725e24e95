/**
 * Writes rollouts shaped like codex 0.169's (see the recorded fixture codex-0.169-two-turns.jsonl):
 * a big session_meta, per turn the injected context, world_state and turn_context, then tool calls
 * with reasoning, token records, an event_msg echoing each result, and the output itself (a
 * truncated string for commands, content items for MCP calls, some with multi-MB images).
 */
import * as Fs from "node:fs"

export interface SyntheticOptions {
  /** Stop after the turn during which the file passes this size. */
  readonly targetBytes: number
  /** Every `bigEvery`-th call returns a `bigBytes` image (every fourth of those 4× as big). */
  readonly bigEvery?: number
  readonly bigBytes?: number
  readonly threadId?: string
}

export interface SyntheticRollout {
  readonly path: string
  readonly bytes: number
  readonly lines: number
  /** Call ids in rollout order, with their kind. */
  readonly calls: ReadonlyArray<{ readonly callId: string; readonly kind: "function" | "custom"; readonly namespace?: string }>
}

const rng = (seed: number) => () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed / 0x7fffffff
}

const WORDS = "the quick brown fox jumps over lazy dog codex rollout tool call output file line error ok".split(" ")

export const writeSyntheticRollout = async (path: string, opts: SyntheticOptions): Promise<SyntheticRollout> => {
  const rand = rng(42)
  const text = (n: number) => {
    const parts: Array<string> = []
    let len = 0
    while (len < n) {
      const w = WORDS[Math.floor(rand() * WORDS.length)]!
      const piece = rand() < 0.08 ? `${w}\n` : rand() < 0.02 ? `"${w}"\t` : `${w} `
      parts.push(piece)
      len += piece.length
    }
    return parts.join("").slice(0, n)
  }
  const b64 = (n: number) => Buffer.alloc(Math.ceil((n * 3) / 4), Math.floor(rand() * 255)).toString("base64").slice(0, n)
  const threadId = opts.threadId ?? "01a21277-0aee-7391-8f57-254533d12121"
  const bigEvery = opts.bigEvery ?? 40
  const bigBytes = opts.bigBytes ?? 3 * 1024 * 1024
  const out = Fs.createWriteStream(path)
  let bytes = 0
  let lines = 0
  let ordinal = 0
  let seconds = 0
  const calls: Array<{ callId: string; kind: "function" | "custom"; namespace?: string }> = []
  const write = async (type: string, payload: unknown, extra?: object) => {
    const ts = new Date(Date.UTC(2026, 10, 25, 11, 0, 0) + seconds++ * 137).toISOString()
    const line = `${JSON.stringify({ timestamp: ts, ordinal: ordinal++, type, payload, ...extra })}\n`
    bytes += Buffer.byteLength(line)
    lines++
    if (!out.write(line)) await new Promise<void>((r) => out.once("drain", () => r()))
  }
  await write("session_meta", {
    account_scoped: true,
    session_id: threadId,
    id: threadId,
    timestamp: "2026-11-25T11:00:00.000Z",
    cwd: "/work/project",
    originator: "codex_exec",
    cli_version: "0.169.0",
    source: "exec",
    model_provider: "mock",
    base_instructions: { text: text(24_000) }
  })
  let turn = 0
  let call = 0
  while (bytes < opts.targetBytes) {
    turn++
    const turnId = `turn-${turn}`
    await write("event_msg", { type: "task_started", turn_id: turnId, model_context_window: 258400 })
    await write("response_item", { type: "message", role: "developer", content: [{ type: "input_text", text: text(6000) }] })
    await write("response_item", {
      type: "message",
      role: "user",
      content: [{ type: "input_text", text: `<environment_context>\n  <cwd>/work/project</cwd>\n${text(600)}</environment_context>` }]
    })
    await write("world_state", { full: turn === 1, state: { notes: text(2000) } })
    await write("turn_context", { turn_id: turnId, cwd: "/work/project", approval_policy: "never", model: "gpt-5-codex", summary: text(2500) })
    const prompt = `turn ${turn}: ${text(200)}`
    await write("response_item", { type: "message", role: "user", content: [{ type: "input_text", text: prompt }] })
    await write("event_msg", { type: "item_completed", turn_id: turnId, item: { type: "UserMessage", content: [{ type: "text", text: prompt }] } })
    const perTurn = 3 + Math.floor(rand() * 6)
    for (let i = 0; i < perTurn; i++) {
      call++
      const callId = `call_${turn}_${i}_${call.toString(36)}`
      await write("response_item", { type: "reasoning", id: `rs_${call}`, summary: [], encrypted_content: b64(1500 + Math.floor(rand() * 3000)) })
      // codex 0.169 truncates command output in the rollout (~12 KB to the model, ~64 KB in the
      // echoed event); multi-MB lines come from MCP results such as images, echoed in full.
      const big = call % bigEvery === 0
      const mcp = big || call % 7 === 0
      const custom = !mcp && call % 11 === 0
      const ns = "mcp__plexum_host_agent"
      if (custom) {
        calls.push({ callId, kind: "custom" })
        await write("response_item", { type: "custom_tool_call", id: `ctc_${call}`, call_id: callId, name: "apply_patch", input: `*** Begin Patch\n*** Add File: f${call}.txt\n+${text(400)}\n*** End Patch\n` })
      } else if (mcp) {
        calls.push({ callId, kind: "function", namespace: ns })
        await write("response_item", { type: "function_call", id: `fc_${call}`, name: big ? "screenshot" : "lookup", namespace: ns, arguments: JSON.stringify({ q: text(80) }), call_id: callId })
      } else {
        calls.push({ callId, kind: "function" })
        await write("response_item", { type: "function_call", id: `fc_${call}`, name: "exec_command", arguments: JSON.stringify({ cmd: `grep -rn ${WORDS[call % WORDS.length]} src` }), call_id: callId }, { metadata: { history_sequence: call } })
      }
      await write("token_usage_record", { thread_id: threadId, turn_id: turnId, usage: { input_tokens: 1000 * call, cached_input_tokens: 10 * call, output_tokens: 50, reasoning_output_tokens: 20, total_tokens: 1050 * call } })
      const full = text(500 + Math.floor(rand() * 60_000))
      const output: unknown = custom
        ? "Success. Updated the following files:\nA f.txt\n"
        : mcp
          ? [
              { type: "input_text", text: text(300 + Math.floor(rand() * 4000)) },
              ...(big ? [{ type: "input_image", image_url: `data:image/png;base64,${b64(call % (bigEvery * 4) === 0 ? bigBytes * 4 : bigBytes)}` }] : [])
            ]
          : `Chunk ID: ${call}\nWall time: 0.1 seconds\nProcess exited with code 0\nOutput:\n${full.slice(0, 12_000)}`
      if (mcp) {
        await write("event_msg", { type: "item_completed", turn_id: turnId, item: { type: "McpToolCall", id: callId, server: "plexum-host-agent", tool: "lookup", result: { content: output } } })
      } else if (!custom) {
        await write("event_msg", { type: "item_completed", turn_id: turnId, item: { type: "CommandExecution", id: callId, status: "completed", aggregated_output: full, exit_code: 0 } })
      }
      const type = custom ? "custom_tool_call_output" : "function_call_output"
      await write("response_item", {
        type,
        id: `out_${call}`,
        call_id: callId,
        output,
        internal_chat_message_metadata_passthrough: { turn_id: turnId, create_time: 1795606122.5265021 + call }
      })
      await write("event_msg", { type: "token_count", info: { total_token_usage: { input_tokens: 1000 * call, cached_input_tokens: 10 * call, output_tokens: 50 * call, reasoning_output_tokens: 20 * call, total_tokens: 1050 * call }, last_token_usage: { input_tokens: 1000, cached_input_tokens: 10, output_tokens: 50, reasoning_output_tokens: 20, total_tokens: 1050 } } })
    }
    await write("response_item", { type: "message", role: "assistant", content: [{ type: "output_text", text: text(400) }] })
    await write("event_msg", { type: "task_complete", turn_id: turnId, last_agent_message: "done" })
  }
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())))
  return { path, bytes, lines, calls }
}
