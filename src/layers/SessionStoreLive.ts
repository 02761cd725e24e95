/**
 * SessionStore as small files under the plugin's state directory:
 * `sessions/<sha256(agentId "\0" workspace)>.json`, a record and the turns since, one JSON line each
 * (src/schemas/SessionRecord.ts, src/core/SessionRecordText.ts). A turn appends its line; a new
 * file, an indented one (written before the turn lines), one with a line that could not be read, one
 * of COMPACT_AFTER lines, or one the append failed on is written whole instead: to a unique temp
 * file renamed over the target, so a crash or a concurrent plugin leaves the old or the new file,
 * never a mix. Writes in this process are serialized (each is one synchronous step).
 *
 * A record this process read or wrote is kept with the file's identity (device, inode, size,
 * modification time): while a `stat` still shows that file, it is not read and decoded again. Every
 * turn remembers its thread, and decoding a record of 200 threads cost about 2 ms of CPU a turn
 * (docs/benchmarks.md, "The plugin's own CPU per turn"). Another plugin's write changes the size or
 * is a new file (a rename), so it is read.
 */
import { Cause, Effect, Either, Layer, Option } from "effect"
import type { ParseResult } from "effect"
import * as Crypto from "node:crypto"
import * as FsSync from "node:fs"
import type { BigIntStats } from "node:fs"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { writeFileAtomicSync } from "../core/AtomicFile.ts"
import { ensurePrivateDirSync } from "../core/PrivateFiles.ts"
import { firstRecord, readRecordText, recordFileText, turnLineText, withTurn } from "../core/SessionRecordText.ts"
import type { SessionRecord } from "../schemas/SessionRecord.ts"
import { PluginPaths } from "../services/PluginPaths.ts"
import { SessionStore, type SessionStoreShape } from "../services/SessionStore.ts"

/** A file of this many lines is written whole at the next turn: read again, it stays quick to fold. */
const COMPACT_AFTER = 256

export const sessionFileName = (agentId: string, workspace: string) =>
  `${Crypto.createHash("sha256").update(`${agentId}\0${workspace}`).digest("hex")}.json`

/** Which file a path names, as of one `stat`: a rename over it, or a write to it, changes this. */
const identity = (s: BigIntStats) => `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}`

// The record is a small local file read and written every turn: synchronously, which costs a
// fraction of the CPU of fs/promises (a thread-pool round trip and a promise per system call),
// and in one Effect step each (a turn's `remember` was ~60 Effect operations as a chain).

/** A file system error, its cause kept (the warning says what the file system said). */
const fsFailure = (error: unknown) => new Cause.UnknownException(error, error instanceof Error ? error.message : String(error))

/** Writes the whole record; the status of the file written. Throws what the file system throws. */
const writeWhole = (file: string, record: SessionRecord): BigIntStats => {
  ensurePrivateDirSync(Path.dirname(file))
  return writeFileAtomicSync(file, recordFileText(record))
}

/**
 * Appends `line` to `file`; the status of the file written, or undefined when there is no file at
 * that path (nothing was written then). Neither creates the file (a turn line alone is no record)
 * nor follows a symlink (ELOOP: the caller writes the record whole, which replaces the link, as
 * every write did before turns were appended). A short write is an error.
 */
const appendLine = (file: string, line: string): BigIntStats | undefined => {
  let fd: number
  try {
    fd = FsSync.openSync(file, FsSync.constants.O_WRONLY | FsSync.constants.O_APPEND | FsSync.constants.O_NOFOLLOW)
  } catch (error) {
    if ((error as NodeJS.ErrnoException | undefined)?.code === "ENOENT") return undefined
    throw error
  }
  try {
    const bytes = Buffer.from(line)
    const written = FsSync.writeSync(fd, bytes)
    if (written !== bytes.length) throw new Error(`short write: ${written} of ${bytes.length} bytes`)
    return FsSync.fstatSync(fd, { bigint: true })
  } finally {
    FsSync.closeSync(fd)
  }
}

/** Whether `path` still names the file `stat` is of (no record was renamed over it meanwhile). */
const stillNames = (path: string, stat: BigIntStats): boolean => {
  try {
    const now = FsSync.statSync(path, { bigint: true })
    return now.dev === stat.dev && now.ino === stat.ino
  } catch {
    return false
  }
}

/** What went wrong, in the file system's words when it was the file system (not Effect's generic text). */
const messageOf = (e: unknown): string =>
  e instanceof Cause.UnknownException && e.error instanceof Error ? e.error.message : e instanceof Error ? e.message : String((e as { message?: unknown })?.message ?? e)

const warn = (what: string) => (e: unknown) => Effect.logWarning(`session memory: ${what}: ${messageOf(e)}`)

/** The last record read or written from a file: the file's status then, and whether a turn may append. */
interface Known {
  readonly stat: BigIntStats
  readonly id: string
  readonly record: SessionRecord
  readonly lines: number
  readonly appendable: boolean
}

export const makeSessionStore = (stateDir: string) =>
  Effect.gen(function* () {
    const sessionsDir = Path.join(stateDir, "sessions")
    // The file's name is a hash: worked out once per agent and workspace, not twice a turn.
    const fileByAgent = new Map<string, string>()
    const recordFile = (agentId: string, workspace: string) => {
      const key = `${agentId}\0${workspace}`
      let file = fileByAgent.get(key)
      if (file === undefined) fileByAgent.set(key, file = Path.join(sessionsDir, sessionFileName(agentId, workspace)))
      return file
    }

    /** The last record read or written per file, with the status of the file that held it. */
    const known = new Map<string, Known>()
    const keep = (file: string, stat: BigIntStats, record: SessionRecord, lines: number, appendable: boolean) => {
      known.set(file, { stat, id: identity(stat), record, lines, appendable: appendable && lines < COMPACT_AFTER })
    }
    /**
     * Appends a turn's `line` to the file `kept` was read from, `record` being that file's record
     * with the turn. "appended": kept as the file's record now (or, when another writer appended
     * too, read again at the next turn). "not appended": the file is gone. "lost": a record was
     * renamed over the file meanwhile, and the line went to the one it replaced. `{error}`: the
     * append failed (a file not ours, a symlink, a full disk).
     */
    const appendOnce = (file: string, kept: Known, record: SessionRecord, line: string): "appended" | "not appended" | "lost" | { readonly error: unknown } => {
      let appended: BigIntStats | undefined
      try {
        appended = appendLine(file, line)
      } catch (error) {
        return { error }
      }
      if (appended === undefined) return "not appended"
      if (!stillNames(file, appended)) return "lost"
      const onlyOurs = appended.dev === kept.stat.dev && appended.ino === kept.stat.ino && appended.size === kept.stat.size + BigInt(Buffer.byteLength(line))
      if (onlyOurs) keep(file, appended, record, kept.lines + 1, true)
      else known.delete(file)
      return "appended"
    }
    /**
     * The record, or None when the file does not exist; the file's status is taken before reading it,
     * and while a `stat` shows the same file the record kept is used. `skipped`: lines of the file
     * just read that were left out (a warning's worth).
     */
    const readRecordNow = (file: string): Either.Either<Option.Option<Known & { readonly skipped: number }>, Cause.UnknownException | ParseResult.ParseError> => {
      const kept = known.get(file)
      let stat: BigIntStats
      let text: string | undefined
      try {
        stat = FsSync.statSync(file, { bigint: true })
        text = identity(stat) === kept?.id ? undefined : FsSync.readFileSync(file, "utf8")
      } catch (error) {
        if ((error as NodeJS.ErrnoException | undefined)?.code !== "ENOENT") return Either.left(fsFailure(error))
        known.delete(file)
        return Either.right(Option.none())
      }
      if (text === undefined && kept !== undefined) return Either.right(Option.some({ ...kept, skipped: 0 }))
      let read = readRecordText(text ?? "")
      // A cut last line may be another plugin's append, caught half done: read once more if the file grew.
      if (Either.isRight(read) && read.right.skipped > 0 && text !== undefined && !text.endsWith("\n")) {
        try {
          const again = FsSync.statSync(file, { bigint: true })
          if (again.size !== stat.size) {
            stat = again
            text = FsSync.readFileSync(file, "utf8")
            read = readRecordText(text)
          }
        } catch (error) {
          if ((error as NodeJS.ErrnoException | undefined)?.code !== "ENOENT") return Either.left(fsFailure(error))
          known.delete(file)
          return Either.right(Option.none())
        }
      }
      if (Either.isLeft(read)) {
        known.delete(file)
        return Either.left(read.left)
      }
      const { record, lines, skipped, appendable } = read.right
      keep(file, stat, record, lines, appendable)
      return Either.right(Option.some({ ...known.get(file)!, skipped }))
    }
    const readRecord = (file: string) =>
      Effect.suspend(() => {
        const read = readRecordNow(file)
        return Either.isRight(read) && Option.isSome(read.right) && read.right.value.skipped > 0
          ? Effect.as(skippedWarning(file, read.right.value.skipped), Option.some(read.right.value.record))
          : Effect.map(read, Option.map((k) => k.record))
      })
    const skippedWarning = (file: string, skipped: number) =>
      Effect.logWarning(`session memory: left out ${skipped} line(s) of ${file} that could not be read (a cut or garbled turn line; the turns they stood for are forgotten)`)

    // Per-turn calls: no span (Effect.fn) of their own.
    const lastThread = (agentId: string, workspace: string) =>
      Effect.suspend(() => {
        const file = recordFile(agentId, workspace)
        const read = readRecordNow(file)
        if (Either.isLeft(read)) return Effect.as(warn(`cannot read the record of agent ${agentId}`)(read.left), Option.none<string>())
        const last = Option.map(read.right, (k) => k.record.lastThreadId)
        return Option.isSome(read.right) && read.right.value.skipped > 0 ? Effect.as(skippedWarning(file, read.right.value.skipped), last) : Effect.succeed(last)
      })

    // Read, update and write in one synchronous step: writes in this process cannot interleave,
    // with no semaphore. Only the warnings, if any, are Effects.
    const remember = (agentId: string, workspace: string, threadId: string) =>
      Effect.suspend(() => {
        const file = recordFile(agentId, workspace)
        // An unreadable old record is replaced rather than blocking the memory of new threads.
        const old = readRecordNow(file)
        const warnings: Array<Effect.Effect<void>> = []
        if (Either.isLeft(old)) warnings.push(warn(`replacing the unreadable record ${file}`)(old.left))
        else if (Option.isSome(old.right) && old.right.value.skipped > 0) warnings.push(skippedWarning(file, old.right.value.skipped))
        const at = new Date().toISOString()
        const kept = Either.isRight(old) ? Option.getOrUndefined(old.right) : undefined
        const turnOn = (base: Known | undefined) => base === undefined ? firstRecord(agentId, workspace, threadId, at) : withTurn(base.record, threadId, at)
        const writeRecord = (record: SessionRecord) => keep(file, writeWhole(file, record), record, 1, true)
        try {
          const outcome = kept?.appendable ? appendOnce(file, kept, turnOn(kept), turnLineText(threadId, at)) : "not appendable"
          if (outcome === "lost") {
            // A record was renamed over the file between the read and the append: the line went to
            // the file it replaced. The record the path holds now, with this turn, is written whole.
            const now = readRecordNow(file)
            if (Either.isLeft(now)) warnings.push(warn(`replacing the unreadable record ${file}`)(now.left))
            writeRecord(turnOn(Either.isRight(now) ? Option.getOrUndefined(now.right) : undefined))
          } else if (outcome !== "appended") {
            if (typeof outcome === "object") warnings.push(warn(`cannot add to the record ${file}, writing it whole`)(fsFailure(outcome.error)))
            writeRecord(turnOn(kept))
          }
        } catch (error) {
          known.delete(file)
          warnings.push(warn(`cannot remember thread ${threadId} of agent ${agentId}`)(fsFailure(error)))
        }
        return warnings.length === 0 ? Effect.void : Effect.all(warnings, { discard: true })
      })

    const list = Effect.fn("SessionStore.list")(function* () {
      const names = yield* Effect.tryPromise(() => Fs.readdir(sessionsDir)).pipe(
        Effect.catchAll((e) =>
          (e.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT"
            ? Effect.succeed([] as Array<string>)
            : Effect.as(warn(`cannot list ${sessionsDir}`)(e), [] as Array<string>)
        )
      )
      const files = names.filter((n) => n.endsWith(".json")).sort().map((n) => Path.join(sessionsDir, n))
      const read = yield* Effect.forEach(files, (file) => Effect.either(readRecord(file)), { concurrency: 16 })
      const records: Array<SessionRecord> = []
      const unreadable: Array<string> = []
      read.forEach((r, i) => {
        if (Either.isLeft(r)) unreadable.push(files[i]!)
        else if (Option.isSome(r.right)) records.push(r.right.value)
      })
      return { dir: sessionsDir, records, unreadable }
    })

    return { lastThread, remember, list } satisfies SessionStoreShape
  })

export const SessionStoreLive = Layer.effect(
  SessionStore,
  Effect.flatMap(PluginPaths, (paths) => makeSessionStore(paths.stateDir))
)
