// Reads codex's own history index (`$CODEX_HOME/thread_history_1.sqlite`, codex ≥ 0.148; CODEX.md
// "Writer locks and the history index"): the byte offsets it recorded into a thread's rollout.
import Database from "better-sqlite3"
import { existsSync } from "node:fs"
import { join } from "node:path"

export interface RecordedOffsets {
  /** Per turn: where its first line starts and where its last line ends (null while running). */
  readonly turns: ReadonlyArray<{ readonly turnId: string; readonly start: number; readonly end: number | null }>
  /** Where codex will read on from next time. */
  readonly next: number | undefined
  readonly items: number
}

export const historyIndexPath = (codexHome: string) => join(codexHome, "thread_history_1.sqlite")

export const readRecordedOffsets = (codexHome: string, threadId: string): RecordedOffsets | undefined => {
  const path = historyIndexPath(codexHome)
  if (!existsSync(path)) return undefined
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    const turns = db
      .prepare(
        "SELECT turn_id AS turnId, rollout_byte_offset AS start, rollout_end_byte_offset AS end FROM thread_turns WHERE thread_id = ? ORDER BY rollout_ordinal"
      )
      .all(threadId) as Array<{ turnId: string; start: number; end: number | null }>
    const state = db.prepare("SELECT next_rollout_byte_offset AS next FROM thread_history_projection_state WHERE thread_id = ?").get(threadId) as
      | { next: number }
      | undefined
    const items = (db.prepare("SELECT count(*) AS n FROM thread_items WHERE thread_id = ?").get(threadId) as { n: number }).n
    return { turns, next: state?.next, items }
  } finally {
    db.close()
  }
}

/** Every offset codex recorded for the thread. */
export const allOffsets = (o: RecordedOffsets): Array<number> => [
  ...o.turns.flatMap((t) => (t.end === null ? [t.start] : [t.start, t.end])),
  ...(o.next === undefined ? [] : [o.next])
]
