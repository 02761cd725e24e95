/**
 * The thread's cumulative token usage as codex last recorded it in the rollout (the last
 * `event_msg` `token_count` line's `info.total_token_usage`). It is what a turn's usage is a
 * difference from: right after a failed or cancelled turn (whose total this plugin never saw)
 * and on a thread this profile never ran.
 *
 * Only the end of the file is read: the last `token_count` line is near it. The window doubles
 * until one is found or the whole file was read.
 */
import type { FileHandle } from "node:fs/promises"
import type { Usage } from "../../schemas/Protocol.ts"

const FIRST_WINDOW = 64 * 1024
const MARK = '"token_count"'

const count = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined)

/** `total_token_usage` of a rollout line, if it is a `token_count` event with one. */
export const usageTotalOfLine = (line: string): Usage | undefined => {
  if (!line.includes(MARK)) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(line)
  } catch {
    return undefined
  }
  const payload = (parsed as { type?: unknown; payload?: { type?: unknown; info?: { total_token_usage?: unknown } } })
  if (payload.type !== "event_msg" || payload.payload?.type !== "token_count") return undefined
  const total = payload.payload.info?.total_token_usage as Record<string, unknown> | undefined
  if (total === undefined || total === null || typeof total !== "object") return undefined
  const inputTokens = count(total.input_tokens)
  const outputTokens = count(total.output_tokens)
  if (inputTokens === undefined || outputTokens === undefined) return undefined
  return {
    inputTokens,
    cachedInputTokens: count(total.cached_input_tokens) ?? 0,
    outputTokens,
    reasoningOutputTokens: count(total.reasoning_output_tokens) ?? 0
  }
}

/** The last recorded total of the rollout open in `fh`, or undefined when it records none. */
export const lastUsageTotal = async (fh: FileHandle): Promise<Usage | undefined> => {
  const size = (await fh.stat()).size
  for (let window = FIRST_WINDOW; ; window *= 2) {
    const start = Math.max(0, size - window)
    const buf = Buffer.alloc(size - start)
    await fh.read(buf, 0, buf.length, start)
    // Lines cut at the window's start are incomplete: skip the first unless the window is the file.
    const lines = buf.toString("utf8").split("\n")
    const from = start === 0 ? 0 : 1
    for (let i = lines.length - 1; i >= from; i--) {
      const usage = usageTotalOfLine(lines[i]!)
      if (usage !== undefined) return usage
    }
    if (start === 0) return undefined
  }
}
