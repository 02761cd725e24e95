/**
 * codex's own cross-process writer lock on a thread (PROTOCOL.md §5, CODEX.md "Writer locks"):
 * an exclusive `flock` on `$CODEX_HOME/thread-writer-locks/<threadId>.lock`, held by every codex
 * process (exec, TUI, app-server) that writes the thread. codex opens, creates and removes those
 * files only while it holds `.coordination.lock` in the same directory, so this does the same:
 *
 *   acquire: lock `.coordination.lock`; open (or create) `<id>.lock`; try to lock it without
 *            waiting; unlock `.coordination.lock`; retry until the deadline if another holds it.
 *   release: lock `.coordination.lock`; remove `<id>.lock` if this process created it; close it.
 *
 * A CODEX_HOME without `thread-writer-locks/` has never seen a codex that takes these locks (every
 * such codex creates the directory and leaves `.coordination.lock` in it; 0.135 has none): there is
 * no lock to honour, and nothing is created there, so such a home is left exactly as codex keeps it.
 *
 * Node has no flock(2): the util-linux `flock` command is run on a descriptor this process opened
 * and passes down as fd 3. flock locks belong to the open file description, so the lock stays
 * held after the command exits, for as long as this process keeps the descriptor open, and the
 * kernel drops it when this process dies: nothing lingers after its owner.
 */
import { spawn } from "node:child_process"
import { constants } from "node:fs"
import * as Fs from "node:fs/promises"
import type { FileHandle } from "node:fs/promises"
import * as Path from "node:path"
import { helperPath } from "../HelperCommands.ts"

export const WRITER_LOCK_DIR = "thread-writer-locks"
const COORDINATION = ".coordination.lock"
/** flock's exit status when the lock is taken (`-E`), distinct from its own errors (1). */
const BUSY_STATUS = 75
const RETRY_MS = 50
const FLOCK_MISSING = "the `flock` command (util-linux) is not installed; it is needed to honour codex's writer lock"

/** Another process holds the thread's writer lock past the deadline (or codex's coordination lock stayed taken). */
export class WriterLockBusy extends Error {
  constructor(readonly threadId: string, readonly why?: string) {
    super(`thread ${threadId} is in use by another codex process${why === undefined ? "" : ` (${why})`}`)
  }
}

export interface HeldWriterLock {
  /** false when the home has no `thread-writer-locks/` (no codex there takes writer locks). */
  readonly taken: boolean
  /** Removes the lock file if this process created it, then unlocks. Safe to call twice. */
  readonly release: () => Promise<void>
}

const NOTHING_TO_HOLD: HeldWriterLock = { taken: false, release: async () => {} }

export const writerLockPath = (codexHome: string, threadId: string) =>
  Path.join(codexHome, WRITER_LOCK_DIR, `${threadId}.lock`)

/**
 * `flock -x` on the open file `fh`: waits up to `waitMs` (0: not at all). true when locked, false
 * when another holder kept it; a missing `flock` command or any other failure rejects.
 */
const flockFd = (fh: FileHandle, waitMs: number, signal?: AbortSignal): Promise<boolean> =>
  new Promise((resolve, reject) => {
    const wait = waitMs <= 0 ? ["-n"] : ["-w", (waitMs / 1000).toFixed(3)]
    // By absolute path only (src/core/HelperCommands.ts), never through a relative PATH entry.
    const flock = helperPath("flock")
    if (flock === undefined) return reject(new Error(FLOCK_MISSING))
    const child = spawn(flock, ["-x", ...wait, "-E", String(BUSY_STATUS), "3"], {
      stdio: ["ignore", "ignore", "pipe", fh.fd],
      signal
    })
    let stderr = ""
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr = (stderr + d).slice(-500)))
    child.on("error", (e) =>
      reject(
        (e as NodeJS.ErrnoException).code === "ENOENT"
          ? new Error(FLOCK_MISSING)
          : e
      )
    )
    child.on("close", (code, sig) => {
      if (code === 0) resolve(true)
      else if (code === BUSY_STATUS) resolve(false)
      else reject(new Error(`flock failed (${sig ?? `exit ${code}`}): ${stderr.trim()}`))
    })
  })

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const onAbort = () => {
      clearTimeout(timer)
      resolve()
    }
    // The listener goes with its timer: a long wait retries every few ms and must not pile them up.
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort)
      resolve()
    }, ms)
    signal?.addEventListener("abort", onAbort, { once: true })
  })

/** Runs `f` holding `.coordination.lock` (waiting at most `waitMs`); undefined if it stayed taken. */
const withCoordination = async <A>(
  dir: string,
  waitMs: number,
  signal: AbortSignal | undefined,
  f: () => Promise<A>
): Promise<{ readonly value: A } | undefined> => {
  const fh = await Fs.open(Path.join(dir, COORDINATION), constants.O_RDWR | constants.O_CREAT, 0o600)
  try {
    if (!(await flockFd(fh, waitMs, signal))) return undefined
    return { value: await f() }
  } finally {
    await fh.close() // the last descriptor of that open file: the lock goes with it
  }
}

/** Opens `<id>.lock`, creating it (and saying so) only when it is not there. */
const openLockFile = async (path: string): Promise<{ fh: FileHandle; created: boolean }> => {
  for (;;) {
    try {
      return { fh: await Fs.open(path, constants.O_RDWR), created: false }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e
    }
    try {
      return { fh: await Fs.open(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600), created: true }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
    }
  }
}

/**
 * Runs its callers' critical sections one at a time: this process's own turns at
 * `.coordination.lock`. Without it, 64 mutations at once each left a `flock -w` process waiting
 * on that lock and spent their whole budget queueing behind each other, not behind a writer.
 */
export interface CoordinationQueue {
  readonly run: <A>(f: () => Promise<A>) => Promise<A>
}

export const makeCoordinationQueue = (): CoordinationQueue => {
  let tail: Promise<unknown> = Promise.resolve()
  return {
    run: (f) => {
      const result = tail.then(f, f)
      tail = result.catch(() => undefined)
      return result
    }
  }
}

const UNQUEUED: CoordinationQueue = { run: (f) => f() }

/**
 * `.coordination.lock` is held by anyone (codex or this plugin) only while a lock file is opened,
 * locked or removed: waiting for it is waiting in a queue, bounded apart from `waitMs`.
 */
const COORDINATION_WAIT_MS = 60_000

/**
 * Takes codex's writer lock of `threadId`, waiting up to `waitMs` for another holder (counted from
 * when it was first found held, so not the first wait in `queue` or for `.coordination.lock`);
 * rejects with `WriterLockBusy` when it is still held then. Abort `signal` to give up early.
 */
export const acquireWriterLock = async (
  codexHome: string,
  threadId: string,
  waitMs: number,
  signal?: AbortSignal,
  queue: CoordinationQueue = UNQUEUED
): Promise<HeldWriterLock> => {
  const dir = Path.join(codexHome, WRITER_LOCK_DIR)
  const path = writerLockPath(codexHome, threadId)
  const present = await Fs.stat(dir).then(
    (st) => st.isDirectory(),
    (e: NodeJS.ErrnoException) => (e.code === "ENOENT" ? false : Promise.reject(e))
  )
  if (!present) return NOTHING_TO_HOLD
  const coordinationDeadline = Date.now() + Math.max(waitMs, COORDINATION_WAIT_MS)
  let busySince: number | undefined
  for (;;) {
    const attempt = await queue.run(() =>
      withCoordination(dir, Math.max(coordinationDeadline - Date.now(), 0), signal, async () => {
        const { fh, created } = await openLockFile(path)
        let locked = false
        try {
          locked = await flockFd(fh, 0, signal)
        } finally {
          if (!locked) {
            if (created) await Fs.rm(path, { force: true })
            await fh.close()
          }
        }
        return locked ? { fh, created } : undefined
      })
    )
    if (attempt?.value !== undefined) return holding(dir, path, attempt.value.fh, attempt.value.created, queue)
    signal?.throwIfAborted()
    if (attempt === undefined) throw new WriterLockBusy(threadId, `${COORDINATION} stayed locked for ${Math.max(waitMs, COORDINATION_WAIT_MS)} ms`)
    busySince ??= Date.now()
    if (Date.now() - busySince >= waitMs) throw new WriterLockBusy(threadId)
    await sleep(Math.min(RETRY_MS, busySince + waitMs - Date.now()), signal)
  }
}

const RELEASE_WAIT_MS = 10_000

const holding = (dir: string, path: string, fh: FileHandle, created: boolean, queue: CoordinationQueue): HeldWriterLock => {
  let released = false
  return {
    taken: true,
    release: async () => {
      if (released) return
      released = true
      if (!created) return fh.close() // codex's file (or one it left): closing unlocks, it stays
      try {
        // Removed under `.coordination.lock`, as codex removes its own, so no codex opens the
        // name between the unlink and the unlock and ends up locking a file nobody else sees.
        const done = await queue.run(() =>
          withCoordination(dir, RELEASE_WAIT_MS, undefined, async () => {
            await fh.close()
            await Fs.rm(path, { force: true })
          })
        )
        if (done === undefined) throw new Error(`could not remove ${path}: ${COORDINATION} stayed locked`)
      } finally {
        await fh.close().catch(() => undefined) // already closed on the usual path
      }
    }
  }
}
