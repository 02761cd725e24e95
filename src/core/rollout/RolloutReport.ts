/**
 * What `rollout inspect` tells a person about one rollout: the thread, its turns and prompts, each
 * tool call (sizes, paired, consumed), token usage, and what looked wrong. Every line is parsed
 * here (bad ones must be found), one at a time, keeping only summaries in memory.
 */
import { Either, Schema } from "effect"
import type { FileHandle } from "node:fs/promises"
import { KNOWN_LINE_TYPES, KNOWN_PAYLOAD_TYPES, RolloutLine } from "../../schemas/RolloutLine.ts"
import { scanLines } from "./RolloutLineScanner.ts"
import type { BadLine } from "./RolloutToolCalls.ts"

export interface TurnSummary {
  readonly index: number
  readonly turnId?: string
  readonly line: number
  readonly startedAt?: string
  /** The user's prompt, shortened to one line. */
  readonly prompt?: string
  readonly toolCalls: number
}

export interface ToolCallSummary {
  readonly callId: string
  readonly name: string
  readonly namespace?: string
  readonly kind: "function" | "custom"
  readonly inputBytes: number
  /** Bytes of the recorded output (its JSON text when it is not a string); absent while unpaired. */
  readonly outputBytes?: number
  readonly paired: boolean
  /** The output holds the consume marker. */
  readonly consumed: boolean
  /** The call's own input was stubbed by a heavy mutation (`{}` / empty). */
  readonly stubbed: boolean
  readonly line: number
  /** Index of the turn it belongs to, if a turn had started. */
  readonly turn?: number
  /** The start of its arguments as recorded (JSON text when not a string), at most PREVIEW_CHARS. */
  readonly inputPreview: string
  /** The start of its output as recorded (the marker when consumed); absent while unpaired. */
  readonly outputPreview?: string
  /** The complete arguments and output as recorded: only when the report was asked to keep them. */
  readonly input?: unknown
  readonly output?: unknown
}

export interface ReportOptions {
  /** Keep the complete arguments and output of the calls this accepts (`--full`, `--call`). */
  readonly keepValues?: (callId: string) => boolean
}

export interface TokenUsage {
  readonly inputTokens?: number
  readonly cachedInputTokens?: number
  readonly outputTokens?: number
  readonly reasoningOutputTokens?: number
  readonly totalTokens?: number
}

export interface RolloutWarnings {
  readonly badLines: ReadonlyArray<BadLine>
  readonly unknownLineTypes: Readonly<Record<string, number>>
  readonly unknownPayloadTypes: Readonly<Record<string, number>>
  /** Bytes after the last newline: codex may still be writing, or it died mid-line. */
  readonly incompleteLastLineBytes?: number
  readonly blankLines: number
  /** Outputs whose call never appeared before them (codex drops these on resume). */
  readonly orphanOutputs: number
  /** Line 1 is not a valid `session_meta`: codex cannot resume this file. */
  readonly noSessionMeta: boolean
}

export interface RolloutReport {
  readonly file: string
  readonly sizeBytes: number
  readonly lines: number
  readonly threadId?: string
  readonly cwd?: string
  readonly cliVersion?: string
  readonly originator?: string
  readonly startedAt?: string
  readonly model?: string
  readonly turns: ReadonlyArray<TurnSummary>
  readonly toolCalls: ReadonlyArray<ToolCallSummary>
  /** From the last `token_count` event: the thread's totals and its last request. */
  readonly tokenUsage?: { readonly total?: TokenUsage; readonly last?: TokenUsage }
  readonly warnings: RolloutWarnings
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

const decodeLine = Schema.decodeUnknownEither(RolloutLine)
const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)
const str = (u: unknown): string | undefined => (typeof u === "string" ? u : undefined)
const num = (u: unknown): number | undefined => (typeof u === "number" ? u : undefined)
const bytesOf = (u: unknown): number =>
  Buffer.byteLength(typeof u === "string" ? u : u === undefined ? "" : JSON.stringify(u) ?? "")

/** How much of a call's arguments and output a preview shows. */
export const PREVIEW_CHARS = 100
const textOfValue = (u: unknown): string => (typeof u === "string" ? u : u === undefined ? "" : JSON.stringify(u) ?? "")
/** The start of a value's text; "…" marks a cut. Escaping for a terminal is the printer's job. */
export const previewOf = (u: unknown): string => {
  const text = textOfValue(u)
  return text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS - 1)}…` : text
}

const PROMPT_CHARS = 120
const shorten = (text: string): string => {
  const flat = text.trim().replace(/\s+/g, " ")
  return flat.length > PROMPT_CHARS ? `${flat.slice(0, PROMPT_CHARS - 1)}…` : flat
}

/** Text of `input_text`/`text` items of a message's content. */
const textOf = (content: unknown): string =>
  typeof content === "string"
    ? content
    : Array.isArray(content)
      ? content
          .map((c) => (isObject(c) && typeof c.text === "string" ? c.text : ""))
          .filter((t) => t.length > 0)
          .join("\n")
      : ""

const usageOf = (u: unknown): TokenUsage | undefined => {
  if (!isObject(u)) return undefined
  const out: Mutable<TokenUsage> = {}
  const set = (k: keyof TokenUsage, v: unknown) => {
    const n = num(v)
    if (n !== undefined) out[k] = n
  }
  set("inputTokens", u.input_tokens)
  set("cachedInputTokens", u.cached_input_tokens)
  set("outputTokens", u.output_tokens)
  set("reasoningOutputTokens", u.reasoning_output_tokens)
  set("totalTokens", u.total_tokens)
  return out
}

const bump = (counts: Record<string, number>, key: string) => {
  counts[key] = (counts[key] ?? 0) + 1
}

/** Builds the report of an open rollout; `file` is only echoed. */
export const buildReport = async (fh: FileHandle, file: string, marker: string, options: ReportOptions = {}): Promise<RolloutReport> => {
  const keep = options.keepValues ?? (() => false)
  const report: Mutable<RolloutReport> = { file, sizeBytes: 0, lines: 0, turns: [], toolCalls: [], warnings: undefined! }
  const turns: Array<Mutable<TurnSummary> & { sawContext: boolean }> = []
  const calls: Array<Mutable<ToolCallSummary>> = []
  const byId = new Map<string, Mutable<ToolCallSummary>>()
  const badLines: Array<BadLine> = []
  const unknownLineTypes: Record<string, number> = {}
  const unknownPayloadTypes: Record<string, number> = {}
  let blankLines = 0
  let orphanOutputs = 0
  let noSessionMeta = true
  const current = () => turns[turns.length - 1]
  const beginTurn = (line: number, turnId: string | undefined, timestamp: string | undefined) => {
    const turn: Mutable<TurnSummary> & { sawContext: boolean } = { index: turns.length + 1, line, toolCalls: 0, sawContext: false }
    if (turnId !== undefined) turn.turnId = turnId
    if (timestamp !== undefined) turn.startedAt = timestamp
    turns.push(turn)
    return turn
  }
  const setPrompt = (text: string, line: number) => {
    const turn = current() ?? beginTurn(line, undefined, undefined)
    if (turn.prompt === undefined && text.trim().length > 0) turn.prompt = shorten(text)
  }

  const onValue = (value: unknown, lineNo: number, offset: number) => {
    if (!isObject(value)) {
      badLines.push({ line: lineNo, offset, message: "not a JSON object" })
      return
    }
    const decoded = decodeLine(value)
    if (Either.isLeft(decoded)) {
      bump(unknownLineTypes, typeof value.type === "string" ? value.type : "(no type)")
      return
    }
    const line = decoded.right
    const ts = str(line.timestamp)
    switch (line.type) {
      case "session_meta": {
        if (!("id" in (line.payload as object))) break
        const p = line.payload as { id: string; cwd?: string; cli_version?: string; originator?: string; timestamp?: string }
        if (lineNo === 1) noSessionMeta = false
        report.threadId ??= p.id
        if (p.cwd !== undefined) report.cwd ??= p.cwd
        if (p.cli_version !== undefined) report.cliVersion ??= p.cli_version
        if (p.originator !== undefined) report.originator ??= p.originator
        const started = p.timestamp ?? ts
        if (started !== undefined) report.startedAt ??= started
        return
      }
      case "turn_context": {
        const p = line.payload as { turn_id?: string; model?: string }
        const turn = current()
        const same = turn !== undefined && (p.turn_id === undefined ? !turn.sawContext : turn.turnId === p.turn_id)
        const t = same ? turn! : beginTurn(lineNo, p.turn_id, ts)
        t.sawContext = true
        if (p.model !== undefined) report.model = p.model
        return
      }
      case "event_msg": {
        const p = line.payload as Record<string, unknown>
        if (p.type === "task_started") {
          const id = str(p.turn_id)
          if (id === undefined || current()?.turnId !== id) beginTurn(lineNo, id, ts)
        } else if (p.type === "user_message" && typeof p.message === "string") {
          setPrompt(p.message, lineNo)
        } else if (p.type === "item_completed" && isObject(p.item) && p.item.type === "UserMessage") {
          setPrompt(textOf(p.item.content), lineNo)
        } else if (p.type === "token_count" && isObject(p.info)) {
          const total = usageOf(p.info.total_token_usage)
          const last = usageOf(p.info.last_token_usage)
          report.tokenUsage = { ...(total ? { total } : {}), ...(last ? { last } : {}) }
        }
        return
      }
      case "response_item": {
        if (!isObject(line.payload) || typeof line.payload.type !== "string") {
          bump(unknownPayloadTypes, "(malformed)")
          return
        }
        const p = line.payload as Record<string, unknown> & { readonly type: string }
        if (!KNOWN_PAYLOAD_TYPES.has(p.type)) bump(unknownPayloadTypes, p.type)
        if (p.type === "message" && p.role === "user") {
          const text = textOf(p.content)
          // Context codex injects (environment, AGENTS.md) comes as user messages in angle brackets.
          if (!text.trimStart().startsWith("<")) setPrompt(text, lineNo)
          return
        }
        const callId = str(p.call_id)
        if (callId === undefined) return
        if (p.type.endsWith("_output")) {
          const call = byId.get(callId)
          if (call === undefined || call.paired) {
            orphanOutputs++
            return
          }
          call.paired = true
          call.outputBytes = bytesOf(p.output)
          call.outputPreview = previewOf(p.output)
          if (keep(callId)) call.output = p.output
          call.consumed = p.output === marker
          return
        }
        if (!p.type.endsWith("_call")) return
        const custom = p.type === "custom_tool_call"
        const input = custom ? p.input : (p.arguments ?? p.input ?? p.action)
        const turn = current()
        const call: Mutable<ToolCallSummary> = {
          callId,
          name: str(p.name) ?? p.type.slice(0, -"_call".length),
          kind: custom ? "custom" : "function",
          inputBytes: bytesOf(input),
          paired: false,
          consumed: false,
          stubbed: custom ? p.input === "" : p.type === "function_call" && p.arguments === "{}",
          line: lineNo,
          inputPreview: previewOf(input)
        }
        if (keep(callId)) call.input = input
        const ns = str(p.namespace)
        if (ns !== undefined) call.namespace = ns
        if (turn !== undefined) {
          call.turn = turn.index
          turn.toolCalls++
        }
        calls.push(call)
        byId.set(callId, call)
        return
      }
      default:
        if (!KNOWN_LINE_TYPES.has(line.type)) bump(unknownLineTypes, line.type)
    }
  }

  const scan = await scanLines(fh, 0, (view, start, end, offset, lineNo) => {
    const text = view.toString("utf8", start, end)
    if (text.trim().length === 0) {
      blankLines++
      return
    }
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (e) {
      badLines.push({ line: lineNo, offset, message: (e as Error).message })
      return
    }
    onValue(value, lineNo, offset)
  })
  report.sizeBytes = (await fh.stat()).size
  report.lines = scan.lines
  report.turns = turns.map(({ sawContext: _, ...t }) => t)
  report.toolCalls = calls
  report.warnings = {
    badLines,
    unknownLineTypes,
    unknownPayloadTypes,
    ...(scan.tailBytes > 0 ? { incompleteLastLineBytes: scan.tailBytes } : {}),
    blankLines,
    orphanOutputs,
    noSessionMeta
  }
  return report
}
