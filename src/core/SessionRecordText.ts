/**
 * A session record file's text, read and extended (src/schemas/SessionRecord.ts has the format):
 * a whole record on the first line, then one line per turn. Pure: the file handling is
 * SessionStoreLive's.
 *
 * Why lines: every turn remembers its thread, and replacing the record each time (a new file, written
 * whole, renamed over the old one) cost about 1–2 ms of the plugin's CPU a turn once an agent had run
 * many threads (docs/benchmarks.md, "The plugin's own CPU per turn"). Appending one short line costs
 * a fraction of that, and is as safe: a crash can only cut the last line short, and a cut line is
 * left out (the turn it stood for is forgotten, nothing else).
 */
import { Either, Schema } from "effect"
import type { ParseResult } from "effect"
import { SessionRecord, SessionTurnLine } from "../schemas/SessionRecord.ts"

/** Oldest threads beyond this many are forgotten so a record stays small. */
export const MAX_THREADS = 200

const decodeRecord = Schema.decodeUnknownEither(Schema.parseJson(SessionRecord))
const decodeTurnLine = Schema.decodeUnknownEither(Schema.parseJson(SessionTurnLine))

export interface RecordText {
  readonly record: SessionRecord
  /** Lines the file holds (the record's and the turns'). */
  readonly lines: number
  /** Lines that could not be read and were left out: a cut last line, or one garbled. */
  readonly skipped: number
  /**
   * Whether a turn line may be appended: the file is in this format and ends with a whole line. A
   * line appended after a cut one would be garbled with it, so such a file is written whole again.
   */
  readonly appendable: boolean
}

/** The record `text` holds, or why it holds none (the first line, or the whole text, is no record). */
export const readRecordText = (text: string): Either.Either<RecordText, ParseResult.ParseError> => {
  const firstEnd = text.indexOf("\n")
  const first = decodeRecord(firstEnd < 0 ? text : text.slice(0, firstEnd))
  if (Either.isLeft(first)) {
    // A record written indented, before the turn lines: the whole text is one record. Anything
    // else is reported by what is wrong with its first line.
    if (firstEnd < 0 || text.slice(0, firstEnd).trim() !== "{") return Either.left(first.left)
    return Either.map(decodeRecord(text), (record) => ({ record, lines: 1, skipped: 0, appendable: false }))
  }
  let record = first.right
  let lines = 1
  let skipped = 0
  if (firstEnd >= 0) {
    const rest = text.slice(firstEnd + 1).split("\n")
    // The text ends with a newline: the split's last element is the empty rest after it.
    for (const line of rest) {
      if (line === "") continue
      lines++
      const turn = decodeTurnLine(line)
      if (Either.isLeft(turn)) skipped++
      else record = withTurn(record, turn.right.threadId, turn.right.at)
    }
  }
  return Either.right({ record, lines, skipped, appendable: skipped === 0 && text.endsWith("\n") })
}

/** `record` after a turn on `threadId` at `at`: the last thread, listed once, the oldest beyond MAX_THREADS dropped. */
export const withTurn = (record: SessionRecord, threadId: string, at: string): SessionRecord => {
  const threads = [...record.threads]
  const i = threads.findIndex((t) => t.threadId === threadId)
  if (i >= 0) threads[i] = { ...threads[i]!, lastTurnAt: at }
  else threads.push({ threadId, startedAt: at, lastTurnAt: at })
  return { ...record, lastThreadId: threadId, threads: threads.length > MAX_THREADS ? threads.slice(-MAX_THREADS) : threads }
}

/** A new record: its one thread. */
export const firstRecord = (agentId: string, workspace: string, threadId: string, at: string): SessionRecord =>
  withTurn({ agentId, workspace, lastThreadId: threadId, threads: [] }, threadId, at)

/** The whole file for `record`: one line. */
export const recordFileText = (record: SessionRecord): string => `${JSON.stringify(record)}\n`

/** The line a turn appends. */
export const turnLineText = (threadId: string, at: string): string => `${JSON.stringify({ threadId, at } satisfies SessionTurnLine)}\n`
