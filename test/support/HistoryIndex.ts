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

/**
 * The database as SQLite would read it: codex can exit leaving writes in its write-ahead log (no
 * checkpoint), which sql.js, reading the file's bytes, does not see. The log's committed frames
 * (those of the current salt, up to the last commit) are copied onto their pages.
 */
const withWalApplied = (dbFile: Buffer, walFile: Buffer): Buffer => {
  const pageSize = walFile.readUInt32BE(8)
  const salt1 = walFile.readUInt32BE(16)
  const salt2 = walFile.readUInt32BE(20)
  const pages = new Map<number, Buffer>()
  let committed = new Map<number, Buffer>()
  let dbPages = Math.ceil(dbFile.length / pageSize)
  for (let at = 32; at + 24 + pageSize <= walFile.length; at += 24 + pageSize) {
    if (walFile.readUInt32BE(at + 8) !== salt1 || walFile.readUInt32BE(at + 12) !== salt2) break
    const pgno = walFile.readUInt32BE(at)
    pages.set(pgno, walFile.subarray(at + 24, at + 24 + pageSize))
    const commitSize = walFile.readUInt32BE(at + 4)
    if (commitSize > 0) {
      committed = new Map(pages)
      dbPages = commitSize
    }
  }
  const out = Buffer.alloc(dbPages * pageSize)
  dbFile.copy(out, 0, 0, Math.min(dbFile.length, out.length))
  for (const [pgno, page] of committed) if (pgno <= dbPages) page.copy(out, (pgno - 1) * pageSize)
  return out
}

export const readRecordedOffsets = async (codexHome: string, threadId: string): Promise<RecordedOffsets | undefined> => {
  const path = historyIndexPath(codexHome)
  if (!existsSync(path)) return undefined
  const wal = `${path}-wal`
  const image = existsSync(wal) && statSync(wal).size > 0 ? withWalApplied(readFileSync(path), readFileSync(wal)) : readFileSync(path)
  const SQL = await initSqlJs()
  const db = new SQL.Database(image)
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
