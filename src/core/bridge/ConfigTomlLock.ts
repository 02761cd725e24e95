/**
 * The lock every plugin process takes before it edits `$CODEX_HOME/config.toml` (McpRegistryLive),
 * as a scoped resource: a lock file made with O_EXCL, held until the scope closes, then removed if
 * it is still ours. A user's `codex mcp add` takes no lock of ours: the edit itself checks that the
 * file did not change under it (src/core/AtomicFile.ts).
 *
 * A lock whose owner died on this host, or that is older than LOCK_STALE_MS, is taken over. The
 * wait for a live holder is bounded: past it the error names the holder.
 */
import { Clock, Effect, Random, Schema, type Scope } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import { isProcessAlive } from "../ProcessAlive.ts"

/** Waiting longer than this for another process's registration is an error. */
const LOCK_WAIT_MS = 90_000
/** A lock older than this is abandoned even if its pid looks alive (pid reuse). */
const LOCK_STALE_MS = 120_000
/** A lock file that is not (yet) a whole owner record is left to its writer this long. */
const HALF_WRITTEN_MS = 5_000

/** Another process held the lock for the whole wait. */
export class LockTimedOut extends Schema.TaggedError<LockTimedOut>()("LockTimedOut", {
  lockPath: Schema.String,
  /** The lock file's content as last seen: its holder's pid, host and time. */
  holder: Schema.String,
  message: Schema.String
}) {}

/** The lock file could not be made, read or moved. */
export class LockFailed extends Schema.TaggedError<LockFailed>()("LockFailed", {
  lockPath: Schema.String,
  message: Schema.String,
  cause: Schema.Defect
}) {}

interface LockOwner {
  readonly pid: number
  readonly host: string
  readonly nonce: string
  readonly at: number
}

const readText = (path: string) => Effect.promise(() => Fs.readFile(path, "utf8").catch(() => undefined))

/** Stale: its owner died on this host, or it is too old; a half-written lock only once it is old. */
const isStale = (path: string, text: string | undefined) =>
  Effect.gen(function* () {
    const stat = yield* Effect.promise(() => Fs.stat(path).catch(() => undefined))
    if (stat === undefined) return false
    const age = (yield* Clock.currentTimeMillis) - stat.mtimeMs
    let owner: LockOwner
    try {
      owner = JSON.parse(text ?? "") as LockOwner
    } catch {
      return age > HALF_WRITTEN_MS
    }
    if (age > LOCK_STALE_MS) return true
    return owner.host === Os.hostname() && typeof owner.pid === "number" && !isProcessAlive(owner.pid)
  })

/** Makes the lock file; false when it exists. */
const create = (lockPath: string, content: string) =>
  Effect.tryPromise({
    try: () => Fs.writeFile(lockPath, content, { flag: "wx", mode: 0o600 }),
    catch: (e) => e as NodeJS.ErrnoException
  }).pipe(
    Effect.as(true),
    Effect.catchAll((e) =>
      e.code === "EEXIST" ? Effect.succeed(false) : Effect.fail(new LockFailed({ lockPath, message: e.message, cause: e }))
    )
  )

/**
 * Moves a stale lock aside (rename is atomic, so two recoverers cannot both remove it); if what was
 * moved turns out not to be the lock judged stale, it is put back with link(), which cannot
 * overwrite a lock someone took meanwhile. True when something was moved (try again at once).
 */
const recover = (lockPath: string, seen: string | undefined, nonce: string) =>
  Effect.tryPromise({
    try: async () => {
      const aside = `${lockPath}.stale.${process.pid}.${nonce}`
      const moved = await Fs.rename(lockPath, aside).then(() => true, () => false)
      if (!moved) return false
      if ((await Fs.readFile(aside, "utf8").catch(() => undefined)) !== seen) await Fs.link(aside, lockPath).catch(() => undefined)
      await Fs.rm(aside, { force: true })
      return true
    },
    catch: (e) => new LockFailed({ lockPath, message: (e as Error).message, cause: e })
  })

const take = (lockPath: string, nonce: string, waitMs: number) =>
  Effect.gen(function* () {
    const content = JSON.stringify({ pid: process.pid, host: Os.hostname(), nonce, at: yield* Clock.currentTimeMillis } satisfies LockOwner)
    const deadline = (yield* Clock.currentTimeMillis) + waitMs
    for (;;) {
      if (yield* create(lockPath, content)) return
      const seen = yield* readText(lockPath)
      if ((yield* isStale(lockPath, seen)) && (yield* recover(lockPath, seen, nonce))) continue
      if ((yield* Clock.currentTimeMillis) > deadline) {
        const holder = seen ?? "?"
        return yield* new LockTimedOut({ lockPath, holder, message: `timed out waiting for ${lockPath} (held by ${holder})` })
      }
      // The holder is another process: nothing to wait on but the file itself. Interruptible here,
      // and only here: the lock is not held between tries.
      yield* Effect.interruptible(Effect.sleep(yield* Random.nextIntBetween(25, 100)))
    }
  })

/** Only our own lock: after a (wrongful) steal the file may be someone else's. */
const release = (lockPath: string, nonce: string) =>
  Effect.tryPromise(async () => {
    const text = await Fs.readFile(lockPath, "utf8").catch(() => undefined)
    if (text !== undefined && text.includes(nonce)) await Fs.rm(lockPath, { force: true })
  }).pipe(
    // Left in place, other plugins wait for it to go stale before they edit.
    Effect.catchAll((e) =>
      Effect.logWarning(`cannot remove the lock ${lockPath}: ${String(e.error)}; other plugins wait until it is stale`)
    )
  )

/** Holds the lock at `lockPath` until the scope closes; waits at most `waitMs` for another holder. */
export const holdConfigTomlLock = (lockPath: string, waitMs: number = LOCK_WAIT_MS): Effect.Effect<void, LockTimedOut | LockFailed, Scope.Scope> => {
  const nonce = Crypto.randomUUID()
  return Effect.acquireRelease(take(lockPath, nonce, waitMs), () => release(lockPath, nonce))
}
