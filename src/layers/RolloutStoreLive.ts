/** RolloutStore over the files under `PluginPaths.codexHome`. */
import { Effect, Layer, Option, type Scope } from "effect"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { completeEnd, LineTooLong, withReadHandle } from "../core/RolloutLineScanner.ts"
import { locateRollout, isValidThreadId, threadIdOfRolloutPath } from "../core/RolloutLocate.ts"
import { buildReport, type ReportOptions } from "../core/RolloutReport.ts"
import { rewriteRollout } from "../core/RolloutRewrite.ts"
import { lastUsageTotal } from "../core/RolloutUsage.ts"
import { scanToolCalls } from "../core/RolloutToolCalls.ts"
import { PluginPaths, type PluginPathsShape } from "../services/PluginPaths.ts"
import {
  RolloutNotFound,
  RolloutReadError,
  RolloutStore,
  RolloutWriteError
} from "../services/RolloutStore.ts"

const describe = (e: unknown): string =>
  e instanceof LineTooLong ? e.message : e instanceof Error ? e.message : String(e)

const readError = (path: string) => (e: unknown) => new RolloutReadError({ path, message: `cannot read rollout ${path}: ${describe(e)}` })

export const makeRolloutStore = (paths: Pick<PluginPathsShape, "codexHome">) =>
  Effect.gen(function* () {
    const locks = new Map<string, Effect.Semaphore>()
    const semaphore = (key: string) => {
      let s = locks.get(key)
      if (s === undefined) {
        s = Effect.unsafeMakeSemaphore(1)
        locks.set(key, s)
      }
      return s
    }
    const lockKeyOfPath = (path: string) => threadIdOfRolloutPath(path) ?? Path.resolve(path)
    // A thread's file never moves while it lives in sessions/ (only to archived_sessions/), and the
    // search walks every newer day directory: remember hits, trust them while the file is there.
    const located = new Map<string, string>()
    const stillThere = (path: string) => Fs.stat(path).then((s) => s.isFile(), () => false)

    const find = Effect.fn("RolloutStore.find")(function* (threadId: string) {
      if (!isValidThreadId(threadId)) {
        return yield* new RolloutNotFound({ threadId, reason: "invalid", message: `invalid thread id ${JSON.stringify(threadId)}` })
      }
      const found = yield* Effect.tryPromise({
        try: async () => {
          const known = located.get(threadId)
          if (known !== undefined && (await stillThere(known))) return known
          const path = await locateRollout(paths.codexHome, threadId)
          if (path === undefined) located.delete(threadId)
          else located.set(threadId, path)
          return path
        },
        catch: readError(paths.codexHome)
      })
      if (found === undefined) {
        return yield* new RolloutNotFound({ threadId, reason: "missing", message: `no rollout for thread ${threadId}` })
      }
      return found
    })

    const endOffset = Effect.fn("RolloutStore.endOffset")((path: string) =>
      Effect.tryPromise({ try: () => completeEnd(path), catch: readError(path) })
    )

    const lastUsage = Effect.fn("RolloutStore.lastUsageTotal")((path: string) =>
      Effect.tryPromise({ try: () => withReadHandle(path, lastUsageTotal), catch: readError(path) }).pipe(
        Effect.map(Option.fromNullable)
      )
    )

    const toolCalls = Effect.fn("RolloutStore.toolCalls")(function* (path: string, options?: { readonly fromOffset?: number }) {
      const scan = yield* Effect.tryPromise({
        try: () => withReadHandle(path, (fh) => scanToolCalls(fh, options?.fromOffset ?? 0, { path })),
        catch: readError(path)
      })
      for (const bad of scan.badLines) {
        yield* Effect.logWarning("rollout line is not valid JSON; skipped").pipe(
          Effect.annotateLogs({ path, line: bad.line, error: bad.message })
        )
      }
      return scan.calls
    })

    const withThreadLock =
      (threadId: string) =>
      <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
        semaphore(threadId).withPermits(1)(self)

    const lockThread = (threadId: string): Effect.Effect<void, never, Scope.Scope> =>
      Effect.acquireRelease(semaphore(threadId).take(1), () => semaphore(threadId).release(1)).pipe(Effect.asVoid)

    const mutate = Effect.fn("RolloutStore.mutate")(function* (
      path: string,
      mutations: ReadonlyArray<{ readonly blockId: string; readonly op: "light" | "heavy" }>,
      marker: string
    ) {
      const result = yield* Effect.tryPromise({
        try: () => rewriteRollout(path, mutations, marker),
        catch: (e) => {
          const code = (e as NodeJS.ErrnoException).code
          return code === "ENOENT" || code === "EISDIR"
            ? readError(path)(e)
            : new RolloutWriteError({ path, message: `cannot rewrite rollout ${path}: ${describe(e)}` })
        }
      }).pipe(Effect.uninterruptible, withThreadLock(lockKeyOfPath(path)))
      if (result.badLines.length > 0) {
        yield* Effect.logWarning("rollout lines naming a mutated call are not valid JSON; left as they are").pipe(
          Effect.annotateLogs({ path, lines: result.badLines.join(",") })
        )
      }
      return { touched: result.touched, missing: [...result.missing] }
    })

    const mutateThread = Effect.fn("RolloutStore.mutateThread")(function* (
      threadId: string,
      mutations: ReadonlyArray<{ readonly blockId: string; readonly op: "light" | "heavy" }>,
      marker: string
    ) {
      const path = yield* find(threadId)
      return yield* mutate(path, mutations, marker)
    })

    const report = Effect.fn("RolloutStore.report")((path: string, marker: string, options?: ReportOptions) =>
      Effect.tryPromise({ try: () => withReadHandle(path, (fh) => buildReport(fh, path, marker, options)), catch: readError(path) })
    )

    return RolloutStore.of({ find, endOffset, lastUsageTotal: lastUsage, toolCalls, mutate, mutateThread, withThreadLock, lockThread, report })
  })

export const RolloutStoreLive = Layer.effect(RolloutStore, Effect.flatMap(PluginPaths, makeRolloutStore))
