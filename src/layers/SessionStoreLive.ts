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
import { Effect, Either, Layer, Option, Schema } from "effect"
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

const decodeRecord = Schema.decodeUnknown(Schema.parseJson(SessionRecord))

export const sessionFileName = (agentId: string, workspace: string) =>
  `${Crypto.createHash("sha256").update(`${agentId}\0${workspace}`).digest("hex")}.json`

/** Which file a path names, as of one `stat`: a rename over it, or a write to it, changes this. */
const identity = (s: BigIntStats) => `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}`

// The record is a small local file read and written every turn: synchronously, which costs a
// fraction of the CPU of fs/promises (a thread-pool round trip and a promise per system call).

/** Writes the record; succeeds with the identity of the file written. */
const writeAtomic = (file: string, value: unknown) =>
  Effect.try(() => {
    ensurePrivateDirSync(Path.dirname(file))
    return identity(writeFileAtomicSync(file, JSON.stringify(value, null, 2) + "\n"))
  })

/** The file's text with its identity (taken before reading it), or None when it does not exist. */
const readText = (file: string, known: string | undefined) =>
  Effect.try(() => {
    const id = identity(FsSync.statSync(file, { bigint: true }))
    return { id, text: id === known ? undefined : FsSync.readFileSync(file, "utf8") }
  }).pipe(
    Effect.map(Option.some),
    Effect.catchIf(
      (e) => (e.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT",
      () => Effect.succeed(Option.none<{ readonly id: string; readonly text: string | undefined }>())
    )
  )

const warn = (what: string) => (e: unknown) =>
  Effect.logWarning(`session memory: ${what}: ${e instanceof Error ? e.message : String((e as { message?: unknown })?.message ?? e)}`)

export const makeSessionStore = (stateDir: string) =>
  Effect.gen(function* () {
    const sessionsDir = Path.join(stateDir, "sessions")
    const writes = yield* Effect.makeSemaphore(1)
    const recordFile = (agentId: string, workspace: string) => Path.join(sessionsDir, sessionFileName(agentId, workspace))

    /** The last record read or written per file, with the identity of the file that held it. */
    const known = new Map<string, { readonly id: string; readonly record: SessionRecord }>()
    const readRecord = (file: string) =>
      Effect.suspend(() => readText(file, known.get(file)?.id)).pipe(
        Effect.flatMap(Option.match({
          onNone: () => Effect.sync(() => known.delete(file)).pipe(Effect.as(Option.none<SessionRecord>())),
          onSome: ({ id, text }) => {
            const kept = known.get(file)
            if (text === undefined && kept !== undefined) return Effect.succeed(Option.some(kept.record))
            return decodeRecord(text ?? "").pipe(
              Effect.tap((record) => Effect.sync(() => known.set(file, { id, record }))),
              Effect.map(Option.some)
            )
          }
        }))
      )

    const lastThread = Effect.fn("SessionStore.lastThread")(function* (agentId: string, workspace: string) {
      const record = yield* readRecord(recordFile(agentId, workspace)).pipe(
        Effect.catchAll((e) => Effect.as(warn(`cannot read the record of agent ${agentId}`)(e), Option.none()))
      )
      return Option.map(record, (r) => r.lastThreadId)
    })

    const remember = Effect.fn("SessionStore.remember")(function* (agentId: string, workspace: string, threadId: string) {
      const file = recordFile(agentId, workspace)
      yield* Effect.gen(function* () {
        // An unreadable old record is replaced rather than blocking the memory of new threads.
        const old = yield* readRecord(file).pipe(
          Effect.catchAll((e) => Effect.as(warn(`replacing the unreadable record ${file}`)(e), Option.none()))
        )
        const now = new Date().toISOString()
        const threads: Array<SessionRecord["threads"][number]> = Option.match(old, {
          onNone: () => [],
          onSome: (r) => [...r.threads]
        })
        const i = threads.findIndex((t) => t.threadId === threadId)
        if (i >= 0) threads[i] = { ...threads[i]!, lastTurnAt: now }
        else threads.push({ threadId, startedAt: now, lastTurnAt: now })
        const record: SessionRecord = { agentId, workspace, lastThreadId: threadId, threads: threads.slice(-MAX_THREADS) }
        known.set(file, { id: yield* writeAtomic(file, record), record })
      }).pipe(
        writes.withPermits(1),
        Effect.catchAll(warn(`cannot remember thread ${threadId} of agent ${agentId}`))
      )
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
