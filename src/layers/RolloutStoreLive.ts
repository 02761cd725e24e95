/** RolloutStore over the files under `PluginPaths.codexHome`. */
import { Effect, Layer, Option } from "effect"
import { acquireWriterLock, makeCoordinationQueue, WriterLockBusy } from "../core/codex/CodexWriterLock.ts"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { completeEnd, LineTooLong, withReadHandle } from "../core/rollout/RolloutLineScanner.ts"
import { isFile, locateRollout, isValidThreadId, makeKeptListing, threadIdOfRolloutPath } from "../core/rollout/RolloutLocate.ts"
import { buildReport, type ReportOptions } from "../core/rollout/RolloutReport.ts"
import { rewriteRollout } from "../core/rollout/RolloutRewrite.ts"
import { rolloutWriters } from "../core/rollout/RolloutWriters.ts"
import { lastUsageTotal } from "../core/rollout/RolloutUsage.ts"
import { scanToolCalls } from "../core/rollout/RolloutToolCalls.ts"
import { PluginPaths, type PluginPathsShape } from "../services/PluginPaths.ts"
import {
  RolloutNotFound,
  RolloutReadError,
  RolloutStore,
  RolloutWriteError,
  ThreadInUse
} from "../services/RolloutStore.ts"

const describe = (e: unknown): string =>
  e instanceof LineTooLong ? e.message : e instanceof Error ? e.message : String(e)

const readError = (path: string) => (e: unknown) => new RolloutReadError({ path, message: `cannot read rollout ${path}: ${describe(e)}` })

/**
 * How long `mutate` waits for another process to let go of codex's writer lock of the thread
 * before failing with `ThreadInUse` (PROTOCOL.md §5): long enough for a codex that is finishing
 * to exit, short enough that a host never waits on a codex that is still working.
 */
export const WRITER_LOCK_WAIT_MS = 5_000

/** How often a rewrite looks again for a writer that holds the rollout open. */
const WRITER_POLL = "50 millis"

/** codex's history index (CODEX.md "Writer locks and the history index"). */
export const HISTORY_INDEX = "thread_history_1.sqlite"

export interface RolloutStoreOptions {
  /** Overrides `WRITER_LOCK_WAIT_MS` (tests). */
  readonly writerLockWaitMs?: number
}

export const makeRolloutStore = (paths: Pick<PluginPathsShape, "codexHome">, options: RolloutStoreOptions = {}) =>
  Effect.gen(function* () {
    // A thread's file never moves while it lives in sessions/ (only to archived_sessions/), and the
    // search walks every newer day directory: remember hits, trust them while the file is there.
    const located = new Map<string, string>()
    const listing = makeKeptListing()

    // No Effect.fn span: find runs twice on every exec turn (after the turn, and for a resume).
    const find = (threadId: string): Effect.Effect<string, RolloutNotFound | RolloutReadError> =>
      Effect.suspend((): Effect.Effect<string, RolloutNotFound | RolloutReadError> => {
        if (!isValidThreadId(threadId)) {
          return Effect.fail(new RolloutNotFound({ threadId, reason: "invalid", message: `invalid thread id ${JSON.stringify(threadId)}` }))
        }
        // Synchronous (RolloutLocate.ts): a few stats and small listings, once per exec turn.
        let found: string | undefined
        try {
          const known = located.get(threadId)
          if (known !== undefined && isFile(known)) return Effect.succeed(known)
          found = locateRollout(paths.codexHome, threadId, listing)
        } catch (e) {
          return Effect.fail(readError(paths.codexHome)(e))
        }
        if (found === undefined) {
          located.delete(threadId)
          return Effect.fail(new RolloutNotFound({ threadId, reason: "missing", message: `no rollout for thread ${threadId}` }))
        }
        located.set(threadId, found)
        return Effect.succeed(found)
      })

    const endOffset = Effect.fn("RolloutStore.endOffset")((path: string) =>
      Effect.tryPromise({ try: () => completeEnd(path), catch: readError(path) })
    )

    const lastUsage = Effect.fn("RolloutStore.lastUsageTotal")((path: string) =>
      Effect.tryPromise({ try: () => withReadHandle(path, lastUsageTotal), catch: readError(path) }).pipe(
        Effect.map(Option.fromNullable)
      )
    )

    // No Effect.fn span or generator: once per exec turn.
    const toolCalls = (path: string, options?: { readonly fromOffset?: number }) =>
      Effect.flatMap(
        Effect.tryPromise({
          try: () => withReadHandle(path, (fh) => scanToolCalls(fh, options?.fromOffset ?? 0, { path })),
          catch: readError(path)
        }),
        (scan) =>
          scan.badLines.length === 0
            ? Effect.succeed(scan.calls)
            : Effect.as(
              Effect.forEach(scan.badLines, (bad) =>
                Effect.logWarning("rollout line is not valid JSON; skipped").pipe(
                  Effect.annotateLogs({ path, line: bad.line, error: bad.message })
                ), { discard: true }),
              scan.calls
            )
      )

    // codex ≥ 0.148 keeps byte offsets into rollouts here; while it may exist no line changes length.
    const hasHistoryIndex = () =>
      Fs.stat(Path.join(paths.codexHome, HISTORY_INDEX)).then(
        () => true,
        (e: NodeJS.ErrnoException) => e.code !== "ENOENT" // cannot tell: keep lengths, the safe side
      )

    const waitMs = options.writerLockWaitMs ?? WRITER_LOCK_WAIT_MS
    const coordination = makeCoordinationQueue()
    /** codex's own lock of the thread (other codex processes), held until the scope closes. */
    const holdCodexWriterLock = (path: string, threadId: string | undefined) =>
      threadId === undefined
        ? Effect.void // not a codex rollout name: no codex writes it under a lock
        : Effect.acquireRelease(
            Effect.tryPromise({
              try: (signal) => acquireWriterLock(paths.codexHome, threadId, waitMs, signal, coordination),
              catch: (e) =>
                e instanceof WriterLockBusy
                  ? new ThreadInUse({
                    threadId,
                    message: `thread ${threadId} is in use by another codex process (${e.why ?? `it kept codex's writer lock for ${waitMs} ms`})`
                  })
                  : new RolloutWriteError({ path, message: `cannot take codex's writer lock of thread ${threadId}: ${describe(e)}` })
            }),
            (held) =>
              Effect.tryPromise(held.release).pipe(
                Effect.catchAll((e) =>
                  Effect.logWarning("could not release codex's writer lock cleanly").pipe(
                    Effect.annotateLogs({ threadId, error: describe(e.error) })
                  )
                )
              )
          )

    /**
     * Waits (within the writer-lock budget) until no other process holds `path` open for writing:
     * a resuming codex opens the rollout before it takes its writer lock (src/core/rollout/RolloutWriters.ts).
     */
    const noOtherWriter = (path: string, threadId: string | undefined) =>
      Effect.gen(function* () {
        const deadline = Date.now() + waitMs
        for (;;) {
          const writers = yield* Effect.promise(() => rolloutWriters(path))
          if (writers.length === 0) return
          if (Date.now() >= deadline) {
            return yield* new ThreadInUse({
              threadId: threadId ?? Path.basename(path),
              message: `rollout ${path} is open for writing by process ${writers.join(", ")} (kept for ${waitMs} ms)`
            })
          }
          yield* Effect.sleep(WRITER_POLL)
        }
      })

    const mutate = Effect.fn("RolloutStore.mutate")(function* (
      path: string,
      mutations: ReadonlyArray<{ readonly blockId: string; readonly op: "light" | "heavy" }>,
      marker: string
    ) {
      const rewrite = Effect.tryPromise({
        try: async () => rewriteRollout(path, mutations, marker, { lengths: (await hasHistoryIndex()) ? "keep" : "free" }),
        catch: (e) => {
          const code = (e as NodeJS.ErrnoException).code
          return code === "ENOENT" || code === "EISDIR"
            ? readError(path)(e)
            : new RolloutWriteError({ path, message: `cannot rewrite rollout ${path}: ${describe(e)}` })
        }
      }).pipe(Effect.uninterruptible)
      // codex's own lock for the whole rewrite, so no other codex process appends to the file being
      // replaced, and no process holding the file open for writing without that lock (yet).
      // (This plugin's own turns are kept away by Turns.withThread, held by the caller.)
      const threadId = threadIdOfRolloutPath(path)
      const result = yield* Effect.scoped(
        holdCodexWriterLock(path, threadId).pipe(Effect.zipRight(noOtherWriter(path, threadId)), Effect.zipRight(rewrite))
      )
      if (result.badLines.length > 0) {
        yield* Effect.logWarning("rollout lines naming a mutated call are not valid JSON; left as they are").pipe(
          Effect.annotateLogs({ path, lines: result.badLines.join(",") })
        )
      }
      if (result.kept.length > 0) {
        yield* Effect.logInfo("tool outputs shorter than the marker left as they are (a rewrite never moves codex's offsets)").pipe(
          Effect.annotateLogs({ path, lines: result.kept.join(",") })
        )
      }
      return { touched: result.touched, missing: [...result.missing] }
    })

    const report = Effect.fn("RolloutStore.report")((path: string, marker: string, options?: ReportOptions) =>
      Effect.tryPromise({ try: () => withReadHandle(path, (fh) => buildReport(fh, path, marker, options)), catch: readError(path) })
    )

    return RolloutStore.of({ find, endOffset, lastUsageTotal: lastUsage, toolCalls, mutate, report })
  })

export const RolloutStoreLive = Layer.effect(RolloutStore, Effect.flatMap(PluginPaths, makeRolloutStore))
