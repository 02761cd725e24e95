/**
 * The consume mirror's rewrite (PROTOCOL.md §5). Two passes: a scan that parses only lines naming
 * a target `call_id` and plans byte-level edits (a new value spliced over the old one, every other
 * byte kept), then, only if something changes, a copy to a temp file in the same directory with
 * the edits applied, fsync, rename over the original, fsync the directory. A crash leaves either
 * the old or the new file; a crashed run's temp file is removed by the next run.
 *
 * Line lengths (`lengths: "keep"`, the default): codex ≥ 0.148 keeps byte offsets into the
 * rollout in `thread_history_1.sqlite` (CODEX.md "the history index"), and a line that changes
 * length moves every later byte under them. So no line changes its byte length: a shorter new
 * value is followed by spaces (JSON whitespace, before the next `,` or `}`; codex reads such a line
 * as before), and a value whose replacement would be longer (an output already shorter than the
 * marker) is left as it is and reported in `kept`: the model keeps seeing a value no longer than
 * the marker, nothing of it is cut, and every recorded offset stays true. With `lengths: "free"`
 * (no index to keep true) new values are spliced in at their own length.
 */
import * as Crypto from "node:crypto"
import type { FileHandle } from "node:fs/promises"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { objectSpans } from "./RolloutJsonSpan.ts"
import { callIdValues, PatternCursor } from "./RolloutLineFilter.ts"
import { scanLines } from "./RolloutLineScanner.ts"
import { isProcessAlive } from "../ProcessAlive.ts"

export type MutationOp = "light" | "heavy"

/** Whether rewritten lines keep their byte length (see the header). */
export type LineLengths = "keep" | "free"

export interface RolloutMutation {
  readonly blockId: string
  readonly op: MutationOp
}

/** Replace file bytes `[start, end)` with `bytes`. */
export interface Edit {
  readonly start: number
  readonly end: number
  readonly bytes: Buffer
}

export interface MutationPlan {
  readonly edits: ReadonlyArray<Edit>
  /** Lines that change. */
  readonly touched: number
  /** Lines whose value is shorter than its replacement, so left as they are (1-based). */
  readonly kept: ReadonlyArray<number>
  /** Block ids with no `response_item` carrying their `call_id`, in request order. */
  readonly missing: ReadonlyArray<string>
  /** Lines naming a target id that are not a well-formed JSON object (left untouched). */
  readonly badLines: ReadonlyArray<number>
}

const EMPTY_ARGS = Buffer.from('"{}"')
const EMPTY_INPUT = Buffer.from('""')

const valueAt = (line: Buffer, span: readonly [number, number]): unknown => {
  try {
    return JSON.parse(line.toString("utf8", span[0], span[1]))
  } catch {
    return undefined
  }
}

/**
 * Whether the JSON value at `span` is the string `value`. Equal bytes say yes at once; a value
 * spelled longer than any escaping of `value` could be says no without decoding it.
 */
const holds = (line: Buffer, span: readonly [number, number], value: string, json: Buffer): boolean => {
  const length = span[1] - span[0]
  if (length === json.length && line.compare(json, 0, json.length, span[0], span[1]) === 0) return true
  if (length > value.length * 12 + 2) return false
  return valueAt(line, span) === value
}

/** Per block id, the strongest op asked for (heavy includes light). */
const targetsOf = (mutations: ReadonlyArray<RolloutMutation>) => {
  const targets = new Map<string, MutationOp>()
  for (const m of mutations) if (targets.get(m.blockId) !== "heavy") targets.set(m.blockId, m.op)
  return targets
}

const CALL_ID = Buffer.from('"call_id"')

/** `json` followed by spaces up to `length` bytes, so the line keeps its length. */
const padded = (json: Buffer, length: number): Buffer =>
  json.length === length ? json : Buffer.concat([json, Buffer.alloc(length - json.length, 0x20)])

/** Plans the edits for `mutations` over the complete lines of an open rollout. */
export const planMutations = async (
  fh: FileHandle,
  mutations: ReadonlyArray<RolloutMutation>,
  marker: string,
  lengths: LineLengths = "keep"
): Promise<MutationPlan> => {
  const targets = targetsOf(mutations)
  const found = new Set<string>()
  const edits: Array<Edit> = []
  const badLines: Array<number> = []
  const kept: Array<number> = []
  let touched = 0
  const markerJson = Buffer.from(JSON.stringify(marker))
  const cursor = new PatternCursor(CALL_ID)
  if (targets.size > 0) {
    await scanLines(fh, 0, (view, start, end, offset, lineNo) => {
      if (!cursor.inLine(view, start, end)) return
      const line = view.subarray(start, end)
      const ids = callIdValues(line)
      if (ids !== undefined && !ids.some((id) => targets.has(id))) return
      // Only the few fields needed are decoded; a multi-MB output is compared, never parsed.
      const top = objectSpans(line, 0, line.length)
      if (top === undefined) {
        badLines.push(lineNo)
        return
      }
      const typeSpan = top.get("type")
      const payloadSpan = top.get("payload")
      if (typeSpan === undefined || payloadSpan === undefined) return
      if (valueAt(line, typeSpan) !== "response_item") return
      const payload = objectSpans(line, payloadSpan[0], payloadSpan[1])
      if (payload === undefined) return
      const callIdSpan = payload.get("call_id")
      const typeOfPayload = payload.get("type")
      if (callIdSpan === undefined || typeOfPayload === undefined) return
      const callId = valueAt(line, callIdSpan)
      const type = valueAt(line, typeOfPayload)
      if (typeof callId !== "string" || typeof type !== "string") return
      const op = targets.get(callId)
      if (op === undefined) return
      found.add(callId)
      const edit = (key: string, next: string, nextJson: Buffer) => {
        const span = payload.get(key)
        if (span === undefined || holds(line, span, next, nextJson)) return
        if (lengths === "free") {
          edits.push({ start: offset + span[0], end: offset + span[1], bytes: nextJson })
          touched++
          return
        }
        // Whitespace after the value (padding of an earlier rewrite) is room too.
        let end = span[1]
        while (end < line.length && (line[end] === 0x20 || line[end] === 0x09)) end++
        if (nextJson.length > end - span[0]) {
          kept.push(lineNo)
          return
        }
        edits.push({ start: offset + span[0], end: offset + end, bytes: padded(nextJson, end - span[0]) })
        touched++
      }
      if (type.endsWith("_output")) edit("output", marker, markerJson)
      else if (op === "heavy" && type === "function_call") edit("arguments", "{}", EMPTY_ARGS)
      else if (op === "heavy" && type === "custom_tool_call") edit("input", "", EMPTY_INPUT)
    })
  }
  const missing = [...new Set(mutations.map((m) => m.blockId))].filter((id) => !found.has(id))
  return { edits, touched, kept, missing, badLines }
}

// Temp files are `.<name>.plexum-mutate.<pid>.<random>.tmp` beside the rollout: hidden from
// codex's `rollout-*.jsonl` lookup, and the pid tells whether their writer can still be alive.
// cleanStaleTemps may remove this process's own temp files too: it never runs while this process
// has a temp file of the same rollout in flight, because rewrites of one rollout are serialised
// by the caller (see rewriteRollout), and a rewrite that ended removed its temp file.
const TEMP_TAG = ".plexum-mutate."
const tempPrefix = (path: string) => `.${Path.basename(path)}${TEMP_TAG}`

/** Removes temp files left beside `path` by mutations that died; returns how many. */
export const cleanStaleTemps = async (path: string): Promise<number> => {
  const dir = Path.dirname(path)
  const prefix = tempPrefix(path)
  let removed = 0
  for (const name of await Fs.readdir(dir)) {
    if (!name.startsWith(prefix) || !name.endsWith(".tmp")) continue
    const pid = Number(name.slice(prefix.length).split(".")[0])
    const full = Path.join(dir, name)
    if (Number.isInteger(pid) && pid !== process.pid && isProcessAlive(pid)) continue
    await Fs.rm(full, { force: true })
    removed++
  }
  return removed
}

const copyRange = async (src: FileHandle, dst: FileHandle, buf: Buffer, from: number, to: number) => {
  let pos = from
  while (to === Infinity || pos < to) {
    const want = to === Infinity ? buf.length : Math.min(buf.length, to - pos)
    const { bytesRead } = await src.read(buf, 0, want, pos)
    if (bytesRead === 0) {
      if (to === Infinity) return
      throw new Error(`rollout shrank while it was rewritten (expected ${to} bytes, got ${pos})`)
    }
    await writeAll(dst, buf.subarray(0, bytesRead))
    pos += bytesRead
  }
}

const writeAll = async (fh: FileHandle, bytes: Buffer) => {
  let done = 0
  while (done < bytes.length) done += (await fh.write(bytes, done, bytes.length - done)).bytesWritten
}

/** Hook for crash tests: called between the steps of a replace. */
export type ReplaceProbe = (step: "temp-written" | "renamed") => void | Promise<void>

/**
 * Writes `path` with `edits` applied (sorted, non-overlapping) atomically; bytes past the last
 * edit, including an incomplete last line, are copied as they are.
 */
export const applyEdits = async (path: string, edits: ReadonlyArray<Edit>, probe?: ReplaceProbe): Promise<void> => {
  const dir = Path.dirname(path)
  const temp = Path.join(dir, `${tempPrefix(path)}${process.pid}.${Crypto.randomBytes(6).toString("hex")}.tmp`)
  try {
    const src = await Fs.open(path, "r")
    try {
      const st = await src.stat()
      const dst = await Fs.open(temp, "wx", st.mode & 0o7777)
      try {
        await dst.chmod(st.mode & 0o7777)
        if (process.getuid?.() === 0) await dst.chown(st.uid, st.gid).catch(() => undefined)
        const buf = Buffer.allocUnsafe(4 << 20)
        let pos = 0
        for (const e of edits) {
          await copyRange(src, dst, buf, pos, e.start)
          await writeAll(dst, e.bytes)
          pos = e.end
        }
        await copyRange(src, dst, buf, pos, Infinity)
        await dst.sync()
      } finally {
        await dst.close()
      }
    } finally {
      await src.close()
    }
    await probe?.("temp-written")
    await Fs.rename(temp, path)
    await probe?.("renamed")
    const d = await Fs.open(dir, "r")
    try {
      await d.sync()
    } finally {
      await d.close()
    }
  } catch (e) {
    await Fs.rm(temp, { force: true }).catch(() => undefined)
    throw e
  }
}

export interface RewriteResult {
  readonly touched: number
  /** Lines left as they are because the new value would not fit (see the header). */
  readonly kept: ReadonlyArray<number>
  readonly missing: ReadonlyArray<string>
  readonly badLines: ReadonlyArray<number>
}

/**
 * Plans and, when something changes, atomically applies `mutations` to the rollout at `path`.
 * Callers serialise rewrites of one path within a process (the plugin holds the thread,
 * Turns.withThread, and codex's writer lock; the CLI runs one rewrite): two at once would each
 * remove the other's temp file.
 */
export const rewriteRollout = async (
  path: string,
  mutations: ReadonlyArray<RolloutMutation>,
  marker: string,
  options: { readonly lengths?: LineLengths; readonly probe?: ReplaceProbe } = {}
): Promise<RewriteResult> => {
  const { lengths = "keep", probe } = options
  await cleanStaleTemps(path)
  const fh = await Fs.open(path, "r")
  let plan: MutationPlan
  try {
    plan = await planMutations(fh, mutations, marker, lengths)
  } finally {
    await fh.close()
  }
  if (plan.edits.length > 0) await applyEdits(path, plan.edits, probe)
  return { touched: plan.touched, kept: plan.kept, missing: plan.missing, badLines: plan.badLines }
}
