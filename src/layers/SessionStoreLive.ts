/**
 * SessionStore as small JSON files under the plugin's state directory:
 * `sessions/<sha256(agentId "\0" workspace)>.json` (a SessionRecord). Every write goes to a
 * unique temp file renamed over the target, so a crash or a concurrent plugin
 * leaves the old or the new file, never a mix; writes in this process are serialized.
 *
 * A record this process read or wrote is kept with the file's identity (inode, size, modification
 * time): while a `stat` still shows that file, it is not read and decoded again. Every turn
 * remembers its thread, and decoding a record of 200 threads cost about 2 ms of CPU a turn
 * (docs/benchmarks.md, "The plugin's own CPU per turn"). Another plugin's write is a new file
 * (a rename), so it is read.
 */
import { Cause, Effect, Either, Layer, Option, Schema } from "effect"
import type { ParseResult } from "effect"
import * as Crypto from "node:crypto"
import * as FsSync from "node:fs"
import type { BigIntStats } from "node:fs"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { writeFileAtomicSync } from "../core/AtomicFile.ts"
import { ensurePrivateDirSync } from "../core/PrivateFiles.ts"
import { SessionRecord } from "../schemas/SessionRecord.ts"
import { PluginPaths } from "../services/PluginPaths.ts"
import { SessionStore, type SessionStoreShape } from "../services/SessionStore.ts"

/** Oldest threads beyond this many are forgotten so a record stays small. */
const MAX_THREADS = 200

const decodeRecord = Schema.decodeUnknownEither(Schema.parseJson(SessionRecord))

export const sessionFileName = (agentId: string, workspace: string) =>
  `${Crypto.createHash("sha256").update(`${agentId}\0${workspace}`).digest("hex")}.json`

/** Which file a path names, as of one `stat`: a rename over it, or a write to it, changes this. */
const identity = (s: BigIntStats) => `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}`

// The record is a small local file read and written every turn: synchronously, which costs a
// fraction of the CPU of fs/promises (a thread-pool round trip and a promise per system call),
// and in one Effect step each (a turn's `remember` was ~60 Effect operations as a chain).

/** A file system error, its cause kept (the warning says what the file system said). */
const fsFailure = (error: unknown) => new Cause.UnknownException(error, error instanceof Error ? error.message : String(error))

/** Writes the record; the identity of the file written. Throws what the file system throws. */
const writeAtomic = (file: string, value: unknown): string => {
  ensurePrivateDirSync(Path.dirname(file))
  // One line, not indented: a 200-thread record is written every turn, and indenting it made it
  // half as long again to build and to write.
  return identity(writeFileAtomicSync(file, JSON.stringify(value) + "\n"))
}

/** What went wrong, in the file system's words when it was the file system (not Effect's generic text). */
const messageOf = (e: unknown): string =>
  e instanceof Cause.UnknownException && e.error instanceof Error ? e.error.message : e instanceof Error ? e.message : String((e as { message?: unknown })?.message ?? e)

const warn = (what: string) => (e: unknown) => Effect.logWarning(`session memory: ${what}: ${messageOf(e)}`)

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

    /** The last record read or written per file, with the identity of the file that held it. */
    const known = new Map<string, { readonly id: string; readonly record: SessionRecord }>()
    /**
     * The record, or None when the file does not exist; its identity is taken before reading it,
     * and while a `stat` shows the same file the record kept is used.
     */
    const readRecordNow = (file: string): Either.Either<Option.Option<SessionRecord>, Cause.UnknownException | ParseResult.ParseError> => {
      const kept = known.get(file)
      let id: string
      let text: string | undefined
      try {
        id = identity(FsSync.statSync(file, { bigint: true }))
        text = id === kept?.id ? undefined : FsSync.readFileSync(file, "utf8")
      } catch (error) {
        if ((error as NodeJS.ErrnoException | undefined)?.code !== "ENOENT") return Either.left(fsFailure(error))
        known.delete(file)
        return Either.right(Option.none())
      }
      if (text === undefined && kept !== undefined) return Either.right(Option.some(kept.record))
      const decoded = decodeRecord(text ?? "")
      if (Either.isLeft(decoded)) return Either.left(decoded.left)
      known.set(file, { id, record: decoded.right })
      return Either.right(Option.some(decoded.right))
    }
    const readRecord = (file: string) => Effect.suspend(() => readRecordNow(file))

    // Per-turn calls: no span (Effect.fn) of their own.
    const lastThread = (agentId: string, workspace: string) =>
      Effect.suspend(() => {
        const record = readRecordNow(recordFile(agentId, workspace))
        return Either.isLeft(record)
          ? Effect.as(warn(`cannot read the record of agent ${agentId}`)(record.left), Option.none<string>())
          : Effect.succeed(Option.map(record.right, (r) => r.lastThreadId))
      })

    // Read, update and write in one synchronous step: writes in this process cannot interleave,
    // with no semaphore. Only the warnings, if any, are Effects.
    const remember = (agentId: string, workspace: string, threadId: string) =>
      Effect.suspend(() => {
        const file = recordFile(agentId, workspace)
        // An unreadable old record is replaced rather than blocking the memory of new threads.
        const old = readRecordNow(file)
        const replacing = Either.isLeft(old) ? warn(`replacing the unreadable record ${file}`)(old.left) : Effect.void
        const now = new Date().toISOString()
        const threads: Array<SessionRecord["threads"][number]> = Either.isRight(old) && Option.isSome(old.right) ? [...old.right.value.threads] : []
        const i = threads.findIndex((t) => t.threadId === threadId)
        if (i >= 0) threads[i] = { ...threads[i]!, lastTurnAt: now }
        else threads.push({ threadId, startedAt: now, lastTurnAt: now })
        const record: SessionRecord = { agentId, workspace, lastThreadId: threadId, threads: threads.slice(-MAX_THREADS) }
        try {
          known.set(file, { id: writeAtomic(file, record), record })
          return replacing
        } catch (error) {
          return Effect.zipRight(replacing, warn(`cannot remember thread ${threadId} of agent ${agentId}`)(fsFailure(error)))
        }
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
