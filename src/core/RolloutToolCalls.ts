/**
 * Tool calls recorded in a rollout, paired with their outputs by `call_id` (the consume mirror's
 * handles, PROTOCOL.md §4 `tool.block`). Only lines that can carry a tool record are parsed.
 */
import { Either, Schema } from "effect"
import type { FileHandle } from "node:fs/promises"
import type { TurnEvent } from "../schemas/Protocol.ts"
import { ResponseItemPayload } from "../schemas/RolloutLine.ts"
import { ToolLineFilter } from "./RolloutLineFilter.ts"
import { type ScanResult, scanLines } from "./RolloutLineScanner.ts"

export interface ToolCallRecord {
  /** codex's own call id: the `blockId` of `tool.block` and `session/mutate`. */
  readonly callId: string
  readonly name: string
  readonly namespace?: string
  readonly kind: "function" | "custom"
  /** `arguments` (function calls) or `input` (custom tools) exactly as recorded. */
  readonly input: string
  /** The output's `output` as recorded (a string or content items); `undefined` while unpaired. */
  readonly output: unknown
  readonly paired: boolean
  /** 1-based line of the call, counted from where the scan started. */
  readonly line: number
  /** Byte offset of the call's line in the file. */
  readonly offset: number
}

export interface BadLine {
  readonly line: number
  readonly offset: number
  readonly message: string
}

type MutableRecord = { -readonly [K in keyof ToolCallRecord]: ToolCallRecord[K] }

const decodePayload = Schema.decodeUnknownEither(ResponseItemPayload)

const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const asText = (u: unknown): string => (typeof u === "string" ? u : u === undefined ? "" : JSON.stringify(u))

/** What a `*_call` payload is called in a `tool.block`: its `name`, else its type without `_call`. */
const callRecord = (p: ResponseItemPayload, line: number, offset: number): MutableRecord | undefined => {
  if (!("call_id" in p) || typeof p.call_id !== "string") return undefined
  switch (p.type) {
    case "function_call":
    case "custom_tool_call":
      break
    default:
      if (!p.type.endsWith("_call")) return undefined
  }
  const raw = p as Record<string, unknown>
  const custom = p.type === "custom_tool_call"
  const input = custom ? raw.input : p.type === "function_call" ? raw.arguments : (raw.arguments ?? raw.input ?? raw.action)
  const record: MutableRecord = {
    callId: p.call_id,
    name: typeof raw.name === "string" ? raw.name : p.type.slice(0, -"_call".length),
    kind: custom ? "custom" : "function",
    input: asText(input),
    output: undefined,
    paired: false,
    line,
    offset
  }
  if (typeof raw.namespace === "string") record.namespace = raw.namespace
  return record
}

/** Collects tool calls from parsed lines, in rollout order, pairing outputs as they come. */
export class ToolCallCollector {
  readonly records: Array<MutableRecord> = []
  readonly badLines: Array<BadLine> = []
  /** Outputs whose call was not seen first (codex drops them on resume). */
  orphanOutputs = 0
  private readonly byId = new Map<string, MutableRecord>()

  /** Feeds one parsed rollout line; anything that is not a tool record is ignored. */
  add(value: unknown, line: number, offset: number): void {
    if (!isObject(value) || value.type !== "response_item") return
    const decoded = decodePayload(value.payload)
    if (Either.isLeft(decoded)) return
    const p = decoded.right
    if ("call_id" in p && p.type.endsWith("_output")) {
      const call = this.byId.get(p.call_id)
      if (call === undefined || call.paired) {
        this.orphanOutputs++
        return
      }
      call.output = "output" in p ? p.output : undefined
      call.paired = true
      return
    }
    const record = callRecord(p, line, offset)
    if (record === undefined) return
    this.records.push(record)
    this.byId.set(record.callId, record)
  }
}

export interface ToolCallScan extends ScanResult {
  readonly calls: ReadonlyArray<ToolCallRecord>
  readonly badLines: ReadonlyArray<BadLine>
  readonly orphanOutputs: number
}

/** Scans from `fromOffset` (a line start, e.g. an earlier `completeEnd`) to the last complete line. */
export const scanToolCalls = async (fh: FileHandle, fromOffset = 0): Promise<ToolCallScan> => {
  const filter = new ToolLineFilter()
  const collector = new ToolCallCollector()
  const result = await scanLines(fh, fromOffset, (view, start, end, offset, lineNo) => {
    if (!filter.accepts(view, start, end)) return
    let value: unknown
    try {
      value = JSON.parse(view.toString("utf8", start, end))
    } catch (e) {
      collector.badLines.push({ line: lineNo, offset, message: (e as Error).message })
      return
    }
    collector.add(value, lineNo, offset)
  })
  return { ...result, calls: collector.records, badLines: collector.badLines, orphanOutputs: collector.orphanOutputs }
}

/** The `tool.block` event the turn runner sends for one recorded call (unpaired output → null). */
export const toToolBlockEvent = (r: ToolCallRecord): Extract<TurnEvent, { type: "tool.block" }> => ({
  type: "tool.block",
  blockId: r.callId,
  name: r.name,
  ...(r.namespace === undefined ? {} : { namespace: r.namespace }),
  input: r.input,
  output: r.paired ? r.output : null,
  kind: r.kind
})
