/**
 * Cheap byte tests that decide which rollout lines are worth JSON.parse. In serialised JSON a
 * raw `"` inside a string is always escaped, so the bytes `"call_id"` can only be a key (or a
 * string whose whole content is call_id): a line without them holds no tool record and is
 * skipped unparsed. False positives are fine (the parse decides); false negatives are not.
 */

const CALL_ID = Buffer.from('"call_id"')
const RESPONSE_ITEM = Buffer.from('"response_item"')
const CALL_ID_VALUE = Buffer.from('"call_id":"')

/**
 * Finds the lines of one chunk that contain a pattern with one forward search per hit instead of
 * one search per line: lines are visited in order, so the next hit is remembered.
 */
export class PatternCursor {
  private view: Buffer | undefined
  private next = -1
  constructor(private readonly pattern: Buffer) {}

  /** Whether `view[start, end)` contains the pattern; lines must come in order within a view. */
  inLine(view: Buffer, start: number, end: number): boolean {
    if (view !== this.view) {
      this.view = view
      this.next = view.indexOf(this.pattern, start)
    } else if (this.next !== -1 && this.next < start) {
      this.next = view.indexOf(this.pattern, start)
    }
    return this.next !== -1 && this.next + this.pattern.length <= end
  }
}

/** A line that may carry a `response_item` with a `call_id`. */
export class ToolLineFilter {
  private readonly callId = new PatternCursor(CALL_ID)

  accepts(view: Buffer, start: number, end: number): boolean {
    if (!this.callId.inLine(view, start, end)) return false
    return view.subarray(start, end).indexOf(RESPONSE_ITEM) !== -1
  }
}

/**
 * The `call_id` string values written compactly in a line, read without parsing it. `undefined`
 * means "cannot tell" (a spaced or escaped spelling): the caller must parse the line.
 */
export const callIdValues = (line: Buffer): ReadonlyArray<string> | undefined => {
  const out: Array<string> = []
  let keys = 0
  for (let at = line.indexOf(CALL_ID); at !== -1; at = line.indexOf(CALL_ID, at + CALL_ID.length)) keys++
  for (let at = line.indexOf(CALL_ID_VALUE); at !== -1; at = line.indexOf(CALL_ID_VALUE, at + 1)) {
    const from = at + CALL_ID_VALUE.length
    const close = line.indexOf(0x22, from)
    if (close === -1) return undefined
    const raw = line.subarray(from, close)
    if (raw.indexOf(0x5c) !== -1) return undefined
    out.push(raw.toString("utf8"))
  }
  return out.length === keys ? out : undefined
}
