// Reads codex's own history index (`$CODEX_HOME/thread_history_1.sqlite`, codex ≥ 0.148; CODEX.md
// "Writer locks and the history index"): the byte offsets it recorded into a thread's rollout.
// Through sql.js (SQLite compiled to WebAssembly) so that `npm install` builds nothing natively.
// It reads the database file as bytes: call it when no codex is writing the index (codex checkpoints
// it into the main file when it exits; a `-wal` file left beside it would hold rows this misses).
import { existsSync, readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import initSqlJs, { type Database } from "sql.js"

export interface RecordedOffsets {
  /** Per turn: where its first line starts and where its last line ends (null while running). */
  readonly turns: ReadonlyArray<{ readonly turnId: string; readonly start: number; readonly end: number | null }>
  /** Where codex will read on from next time. */
  readonly next: number | undefined
  readonly items: number
}

export const historyIndexPath = (codexHome: string) => join(codexHome, "thread_history_1.sqlite")

const rows = (db: Database, sql: string, params: ReadonlyArray<string>): Array<Record<string, unknown>> => {
  const statement = db.prepare(sql)
  try {
    statement.bind([...params])
    const out: Array<Record<string, unknown>> = []
    while (statement.step()) out.push(statement.getAsObject())
    return out
  } finally {
    statement.free()
  }
}

export const readRecordedOffsets = async (codexHome: string, threadId: string): Promise<RecordedOffsets | undefined> => {
  const path = historyIndexPath(codexHome)
  if (!existsSync(path)) return undefined
  const wal = `${path}-wal`
  if (existsSync(wal) && statSync(wal).size > 0) {
    throw new Error(`${wal} holds writes not yet in ${path}: read the index after codex has exited`)
  }
  const SQL = await initSqlJs()
  const db = new SQL.Database(readFileSync(path))
  try {
    const turns = rows(
      db,
      "SELECT turn_id AS turnId, rollout_byte_offset AS start, rollout_end_byte_offset AS end FROM thread_turns WHERE thread_id = ? ORDER BY rollout_ordinal",
      [threadId]
    ) as Array<{ turnId: string; start: number; end: number | null }>
    const state = rows(db, "SELECT next_rollout_byte_offset AS next FROM thread_history_projection_state WHERE thread_id = ?", [threadId])[0] as
      | { next: number }
      | undefined
    const items = (rows(db, "SELECT count(*) AS n FROM thread_items WHERE thread_id = ?", [threadId])[0] as { n: number }).n
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
