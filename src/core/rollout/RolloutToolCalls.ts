/**
 * Tool calls recorded in a rollout, paired with their outputs by `call_id` (the consume mirror's
 * handles, PROTOCOL.md §4 `tool.block`). Only lines that can carry a tool record are looked at,
 * and of those only the small fields are parsed: an output (possibly megabytes) is kept as the
 * bytes codex wrote and decoded the first time `output` is read.
 */
import { Either, Schema } from "effect"
import * as FsSync from "node:fs"
import type { FileHandle } from "node:fs/promises"
import type { TurnEvent } from "../../schemas/Protocol.ts"
import { ResponseItemPayload } from "../../schemas/RolloutLine.ts"
import { objectSpans } from "./RolloutJsonSpan.ts"
import { ToolLineFilter } from "./RolloutLineFilter.ts"
import { DEFAULT_CHUNK, type ScanOptions, type ScanResult, scanLines } from "./RolloutLineScanner.ts"

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

const decodePayload = Schema.decodeUnknownEither(ResponseItemPayload)

const asText = (u: unknown): string => (typeof u === "string" ? u : u === undefined ? "" : JSON.stringify(u))

/**
 * Where a large output sits in the rollout file: it is read from there on first use instead of
 * being copied during the scan (copies of multi-MB outputs are what a scan's memory peak is made of).
 */
interface OutputInFile {
  readonly path: string
  /** The file's inode when scanned: a mutation replaces the file, and then these bytes are gone. */
  readonly ino: number
  readonly position: number
  readonly length: number
}

/** Outputs at least this large stay in the file until read, when the scan knows the file's path. */
export const LAZY_OUTPUT_BYTES = 256 * 1024

const readOutputBytes = (where: OutputInFile): Buffer => {
  const fd = FsSync.openSync(where.path, "r")
  try {
    if (FsSync.fstatSync(fd).ino !== where.ino) {
      throw new Error(`${where.path} was replaced after it was scanned; scan it again to read this output`)
    }
    const buf = Buffer.allocUnsafe(where.length)
    let done = 0
    while (done < where.length) {
      const n = FsSync.readSync(fd, buf, done, where.length - done, where.position + done)
      if (n === 0) throw new Error(`${where.path} is shorter than when it was scanned`)
      done += n
    }
    return buf
  } finally {
    FsSync.closeSync(fd)
  }
}

/** A record whose output is decoded from its recorded bytes on first read. */
class Record implements ToolCallRecord {
  declare namespace?: string
  paired = false
  private raw: Buffer | OutputInFile | undefined
  private decoded: unknown = undefined
  constructor(
    readonly callId: string,
    readonly name: string,
    readonly kind: "function" | "custom",
    readonly input: string,
    readonly line: number,
    readonly offset: number
  ) {}

  pair(raw: Buffer | OutputInFile | undefined) {
    this.paired = true
    this.raw = raw
  }

  get output(): unknown {
    if (this.raw !== undefined) {
      const text = (Buffer.isBuffer(this.raw) ? this.raw : readOutputBytes(this.raw)).toString("utf8")
      this.raw = undefined
      try {
        this.decoded = JSON.parse(text)
      } catch {
        // Unreachable for text codex wrote; keep what is there rather than lose it.
        this.decoded = text
      }
    }
    return this.decoded
  }

  /** Serialises like a plain record (the getter's value, not the cache fields). */
  toJSON(): object {
    const { callId, name, namespace, kind, input, paired, line, offset } = this
    return { callId, name, ...(namespace === undefined ? {} : { namespace }), kind, input, output: this.output, paired, line, offset }
  }
}

const SMALL_FIELDS = ["type", "call_id", "name", "namespace", "arguments", "input", "action"] as const

export interface ToolCallScan extends ScanResult {
  readonly calls: ReadonlyArray<ToolCallRecord>
  readonly badLines: ReadonlyArray<BadLine>
  /** Outputs whose call was not seen first (codex drops them on resume). */
  readonly orphanOutputs: number
}

/** Collects tool records from candidate lines, in rollout order, pairing outputs as they come. */
class Collector {
  readonly records: Array<Record> = []
  readonly badLines: Array<BadLine> = []
  orphanOutputs = 0
  private readonly byId = new Map<string, Record>()
  private head = 0

  /** With `onRecord`, settled records are handed over in order and not kept. */
  constructor(
    private readonly onRecord?: (record: ToolCallRecord) => void,
    private readonly file?: { readonly path: string; readonly ino: number }
  ) {}

  /** Hands over the leading paired records (all of them at the end of the scan). */
  flush(all: boolean): void {
    const emit = this.onRecord
    if (emit === undefined) return
    while (this.head < this.records.length && (all || this.records[this.head]!.paired)) {
      const r = this.records[this.head++]!
      this.byId.delete(r.callId)
      emit(r)
    }
    if (this.head > 1024 && this.head * 2 > this.records.length) {
      this.records.splice(0, this.head)
      this.head = 0
    }
  }

  line(view: Buffer, start: number, end: number, offset: number, lineNo: number): void {
    const top = objectSpans(view, start, end)
    if (top === undefined) {
      this.bad(view, start, end, offset, lineNo)
      return
    }
    const typeSpan = top.get("type")
    const payloadSpan = top.get("payload")
    if (typeSpan === undefined || payloadSpan === undefined) return
    if (view.toString("utf8", typeSpan[0], typeSpan[1]) !== '"response_item"') {
      // Compact spelling is the only one codex writes; anything else is decided by a real parse.
      if (parse(view, typeSpan[0], typeSpan[1]) !== "response_item") return
    }
    const fields = objectSpans(view, payloadSpan[0], payloadSpan[1])
    if (fields === undefined) return
    const small: { [k: string]: unknown } = {}
    for (const key of SMALL_FIELDS) {
      const span = fields.get(key)
      if (span !== undefined) small[key] = parse(view, span[0], span[1])
    }
    const decoded = decodePayload(small)
    if (Either.isLeft(decoded)) return
    const p = decoded.right
    if (!("call_id" in p) || typeof p.call_id !== "string") return
    if (p.type.endsWith("_output")) {
      const call = this.byId.get(p.call_id)
      if (call === undefined || call.paired) {
        this.orphanOutputs++
        return
      }
      const span = fields.get("output")
      if (span === undefined) call.pair(undefined)
      else if (this.file !== undefined && span[1] - span[0] >= LAZY_OUTPUT_BYTES) {
        call.pair({ ...this.file, position: offset + (span[0] - start), length: span[1] - span[0] })
      } else call.pair(Buffer.from(view.subarray(span[0], span[1])))
      this.flush(false)
      return
    }
    if (!p.type.endsWith("_call")) return
    const custom = p.type === "custom_tool_call"
    const input = custom ? small.input : p.type === "function_call" ? small.arguments : (small.arguments ?? small.input ?? small.action)
    const record = new Record(
      p.call_id,
      typeof small.name === "string" ? small.name : p.type.slice(0, -"_call".length),
      custom ? "custom" : "function",
      asText(input),
      lineNo,
      offset
    )
    if (typeof small.namespace === "string") record.namespace = small.namespace
    this.records.push(record)
    this.byId.set(record.callId, record)
  }

  private bad(view: Buffer, start: number, end: number, offset: number, lineNo: number) {
    let message = "not a JSON object"
    try {
      JSON.parse(view.toString("utf8", start, end))
    } catch (e) {
      message = (e as Error).message
    }
    this.badLines.push({ line: lineNo, offset, message })
  }
}

const parse = (view: Buffer, start: number, end: number): unknown => {
  try {
    return JSON.parse(view.toString("utf8", start, end))
  } catch {
    return undefined
  }
}

/** Scans from `fromOffset` (a line start, e.g. an earlier `completeEnd`) to the last complete line. */
export const scanToolCalls = async (
  fh: FileHandle,
  fromOffset = 0,
  options?: ScanOptions & {
    /** Receive each record in rollout order as soon as it is paired (or at the end), instead of in `calls`. */
    readonly onRecord?: (record: ToolCallRecord) => void
    /** The file's path: large outputs are then read from it on first use rather than copied now. */
    readonly path?: string
  }
): Promise<ToolCallScan> => {
  const filter = new ToolLineFilter()
  const stat = await fh.stat()
  const file = options?.path === undefined ? undefined : { path: options.path, ino: stat.ino }
  const collector = new Collector(options?.onRecord, file)
  // A buffer the size of what there is to read (up to the scanner's 4 MiB, a line longer than it
  // still grows it): a turn's part of a rollout is mostly some KiB, and the exec engine scans one
  // every turn, where 4 MiB each time only added to the memory the next collection has to free.
  const chunkSize = options?.chunkSize ?? Math.min(DEFAULT_CHUNK, Math.max(64 * 1024, stat.size - fromOffset + 1))
  const result = await scanLines(
    fh,
    fromOffset,
    (view, start, end, offset, lineNo) => {
      if (filter.accepts(view, start, end)) collector.line(view, start, end, offset, lineNo)
    },
    { ...options, chunkSize }
  )
  collector.flush(true)
  return { ...result, calls: options?.onRecord === undefined ? collector.records : [], badLines: collector.badLines, orphanOutputs: collector.orphanOutputs }
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
