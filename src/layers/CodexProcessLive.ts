/**
 * CodexProcess on node:child_process: spawns codex in its own process group, reads its stdout
 * with the one line reader (src/core/LineStream.ts: Buffer lines, memory bounded by the largest
 * line, not the turn) and decodes each line, ends what codex left behind. A thin layer of our own
 * rather than @effect/platform's CommandExecutor because its release sends TERM and then waits for
 * the exit forever.
 */
import { Channel, Chunk, Deferred, Effect, Either, Exit, FiberId, Layer, Option, type Scope, Stream } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as NodeStreams from "node:stream"
import { PassThrough } from "node:stream"
import { asBuffer, isOverlong, type Line, LineCutter, lineText, readableBytes } from "../core/LineStream.ts"
import { type ChildExit, type DetachedChild, launchDetached, spawnDetached } from "../core/DetachedChild.ts"
import type { ForkServer } from "../core/ForkServer.ts"
import { afterEventLoopTurns, endStdoutHolders, stdoutLinkOf } from "../core/StdoutHolders.ts"
import { acquireReleaseInScope } from "../core/ScopeFinalizers.ts"
import { scopedStream } from "../core/StreamPull.ts"
import { newRunMark, ENV_RUN_MARK } from "../core/RunMark.ts"
import { decodeCodexLine, unparsed, type CodexEvent, type CodexExited } from "../schemas/CodexEvent.ts"
import {
  CodexExit,
  CodexNotFound,
  CodexOutputError,
  CodexProcess,
  type CodexProcessShape,
  type CodexRun,
  type CodexRunError,
  type CodexRunSpec
} from "../services/CodexProcess.ts"
import { Launcher } from "../services/Launcher.ts"
import { ProcessGroups, type ProcessGroupsShape } from "../services/ProcessGroups.ts"

export interface CodexProcessOptions {
  /** A longer stdout line is replaced by an `<unparsed>` event; default 64 MiB. */
  readonly maxLineBytes?: number
  /** How much of stderr is kept for the error message; default 8 KiB. */
  readonly stderrTailBytes?: number
  /** stdout bytes read ahead of a slow consumer before the pipe is paused; default 1 MiB. */
  readonly readAheadBytes?: number
  /** What starts codex without forking the plugin (src/core/ForkServer.ts); none: node's spawn. */
  readonly forkServer?: Effect.Effect<ForkServer | undefined>
}

interface Running extends DetachedChild {
  readonly pgid: number
  /** The run's mark (src/core/RunMark.ts), in codex's environment and so in what it starts. */
  readonly mark: string
  /** codex's stdout as /proc links name it (`stdoutLink`), if known. */
  readonly stdoutLink: string | undefined
  /** Whether stdout has reached its end (or broke): the pipe's own end, not the consumer's. */
  readonly stdoutEnded: () => boolean
}

const cwdMissing = (cwd: string) => {
  try {
    return !Fs.statSync(cwd).isDirectory()
  } catch {
    return true
  }
}

/** A spawn failure as one line for the host: the errno and what it means, never a stack. */
const couldNotStart = (err: NodeJS.ErrnoException) =>
  new CodexExit({
    status: null,
    signal: null,
    stderrTail: "",
    message: `could not start codex: ${err.code === "E2BIG" ? "its arguments and environment exceed the system limit (E2BIG)" : (err.message ?? String(err)).split("\n")[0]}`
  })

/** Why codex did not start, in the host's terms: a missing or unrunnable binary is not a codex failure. */
const toStartError = (spec: CodexRunSpec) => (err: NodeJS.ErrnoException): CodexNotFound | CodexExit => {
  if ((err.code === "ENOENT" || err.code === "EACCES") && !cwdMissing(spec.cwd)) {
    return new CodexNotFound({
      binary: spec.binary,
      message: `codex executable "${spec.binary}" ${err.code === "EACCES" ? "is not executable" : "was not found"} (${err.code})`
    })
  }
  return err.code === "ENOENT"
    ? new CodexExit({ status: null, signal: null, stderrTail: "", message: `could not start codex: working directory ${spec.cwd} does not exist` })
    : couldNotStart(err)
}

const spawnChild = (
  spec: CodexRunSpec,
  stderrTailBytes: number,
  forkServer: Effect.Effect<ForkServer | undefined>
): Effect.Effect<Running, CodexNotFound | CodexExit> =>
  Effect.suspend(() => {
    // `binary` was made absolute at initialize (src/core/codex/CodexBinary.ts); a name that was not
    // found then is never looked up now, when PATH search would run relative to the workspace.
    if (!Path.isAbsolute(spec.binary)) {
      return Effect.fail(new CodexNotFound({
        binary: spec.binary,
        message: `codex executable "${spec.binary}" was not found on PATH when the plugin was initialized`
      }))
    }
    const mark = newRunMark()
    const env = { ...spec.env, [ENV_RUN_MARK]: mark }
    const how = { stderrTailBytes, failure: toStartError(spec) }
    const spawned = Effect.flatMap(forkServer, (server) =>
      server === undefined ? spawnDetached({ ...spec, env }, how) : launchDetached(server, { ...spec, env }, how))
    return Effect.map(spawned, (started) => {
      // codex reads the prompt until EOF.
      started.child.stdin.end(spec.stdin)
      const pid = started.child.pid!
      if (spec.spawned !== undefined) Deferred.unsafeDone(spec.spawned, Exit.succeed(pid))
      // The pipe's own end of file (or break), not the consumer's: what is left is in the read-ahead.
      let stdoutEnded = false
      const ended = () => {
        stdoutEnded = true
      }
      started.child.stdout.once("end", ended).once("error", ended)
      return { ...started, pgid: pid, mark, stdoutLink: stdoutLinkOf(pid), stdoutEnded: () => stdoutEnded }
    })
  })
/** A stdout line as an event; an overlong one is an `<unparsed>` that says how long it was. */
const decodeLine = (line: Line): CodexEvent | undefined => {
  if (isOverlong(line)) return unparsed(`<a line of ${line.bytes} bytes, over the ${line.limit}-byte limit>`, line.bytes)
  const text = lineText(line)
  return text.trim().length === 0 ? undefined : decodeCodexLine(text, line.length)
}

/** How codex exited, as soon as it has (its status is on the child from the `exit` event on). */
const exitOf = (run: Running): Effect.Effect<ChildExit> => {
  const { exitCode: code, signalCode: signal } = run.child
  return code !== null || signal !== null ? Effect.succeed({ code, signal }) : Effect.promise(() => run.exit)
}

/** How codex ended: a failure for anything but a zero exit after a thread; else the `<exited>` event. */
const checkExit = (run: Running, sawThread: () => boolean, unparsedCount: () => number) =>
  Effect.flatMap(exitOf(run), (exit): Effect.Effect<CodexExited, CodexRunError> => {
    const stderrTail = run.stderr.text()
    if (exit.code !== 0) {
      // Neither: the fork server's waiter, which alone knew the status, was killed (src/core/ForkServer.ts).
      const how = exit.code !== null ? `exited with status ${exit.code}` : exit.signal !== null ? `was killed by ${exit.signal}` : "ended, and how is unknown"
      return Effect.fail(new CodexExit({
        status: exit.code,
        signal: exit.signal,
        stderrTail,
        message: `codex ${how}${stderrTail ? `: ${stderrTail}` : ""}`
      }))
    }
    if (!sawThread()) {
      const seen = unparsedCount() > 0 ? ` (${unparsedCount()} unreadable stdout line(s))` : ""
      return Effect.fail(new CodexOutputError({
        message: `codex exited without starting a thread${seen}${stderrTail ? `: ${stderrTail}` : ""}`
      }))
    }
    return Effect.succeed({ type: "<exited>", status: exit.code, signal: exit.signal, stderrTail })
  })

/**
 * Why a non-JSON stdout line is not fatal: codex's stdout is JSONL, but a wrapper
 * script, a shell profile or a future codex version can print a stray line. Failing
 * a turn that otherwise works would be worse than showing the line as a warning
 * (the mapper turns `<unparsed>` into a `notice`). What is fatal is output that is
 * unreadable as a whole: a zero exit without any `thread.started` → CodexOutputError
 * (and the mapper fails a turn that never finished with `codex_output`).
 *
 * `background`: where what a finished codex left is ended after the turn's answer (the plugin's
 * lifetime; its close waits for those ends). Without it, they are ended before the stream ends.
 */
export const makeCodexProcess = (
  groups: ProcessGroupsShape,
  options: CodexProcessOptions = {},
  background?: Scope.Scope
): CodexProcessShape => {
  const maxLineBytes = options.maxLineBytes ?? 64 * 1024 * 1024
  const tailBytes = options.stderrTailBytes ?? 8 * 1024
  const readAheadBytes = options.readAheadBytes ?? 1024 * 1024
  const forkServer = options.forkServer ?? Effect.succeed(undefined)

  /**
   * Ends what codex left behind: its group, the groups its commands started, and whatever carries
   * the run's mark (the shell snapshot codex starts in a session of its own, CODEX.md).
   */
  const endLeftovers = (run: Running, threadId: string | undefined) =>
    Effect.flatMap(groups.end(run.pgid, run.mark), () => {
      // A command whose spawn codex was in the middle of when it was stopped (or when it died) is
      // out of every group's reach and may have lost the mark with codex's environment policy
      // (ProcessGroups). A codex that exited 0 ended its commands itself.
      if (run.child.exitCode === 0 || threadId === undefined) return Effect.void
      return Effect.flatMap(groups.endThreadCommands(threadId, run.pgid), (found) =>
        found > 0 ? Effect.logWarning(`found and ended ${found} process(es) of thread ${threadId} that codex left running`) : Effect.void)
    })

  /**
   * codex started, and its stdout read by pull (`CodexRun.next`) through the one line reader's byte
   * stream (src/core/LineStream.ts), its line cutter and the decoding in the same step.
   *
   * Until end of file: never a timer or codex's exit, since on a busy machine codex's exit can be
   * handled before the pipe's last lines are read (CODEX.md). A process that inherited codex's
   * stdout could hold the pipe open past codex's exit: if stdout has not ended within a few turns
   * of the event loop after the exit, a watcher fiber ends what codex started, then anything else
   * still holding the pipe (it dropped the mark and left codex's group), found by the descriptor
   * itself (src/core/StdoutHolders.ts); the end of file follows.
   *
   * The read-ahead bound: stdout flows into a buffer of `readAheadBytes` and pauses once it is full,
   * so a slow consumer pushes back on codex through the pipe. Raw bytes wait, not decoded events: a
   * Buffer lives outside V8's young generation, so bytes that wait cost the garbage collector
   * nothing, and each line is decoded only when the turn pulls it, so its objects die young. What
   * waits is read as one chunk at the next pull: a slow consumer gets bigger chunks, not a queue
   * (docs/benchmarks.md, "100,000 codex events").
   *
   * One small effect per pull over one Stream layer, not stacked Stream operators: each operator
   * cost every chunk its own pass through Effect's channel machinery, and after the fork that
   * started codex every object allocated costs a page fault more (bench/PluginCpu.bench.ts).
   */
  const start = (spec: CodexRunSpec): Effect.Effect<CodexRun, CodexRunError, Scope.Scope> =>
    Effect.suspend(() => {
      let threadId: string | undefined
      let unparsedLines = 0
      const readAhead = new PassThrough({ highWaterMark: readAheadBytes })
      // The leftovers end once: the first caller (the exit watcher below, or the release) claims
      // the end by completing `endClaimed` (Deferred.succeed says whether this call did) and runs it
      // into `leftoversEnded`; the other waits for that. Uninterruptible: the watcher may be stopped
      // mid-end by the scope's close that the end of file it brought began. Deferreds, not
      // Effect.cached: a cached effect hands its first caller's fiber refs to every later one, and a
      // fiber's pending interruption is one of them, so the release would take the stopped
      // watcher's interruption as its own and the turn's failure would become an interruption.
      const endClaimed = Deferred.unsafeMake<void>(FiberId.none)
      const leftoversEnded = Deferred.unsafeMake<void>(FiberId.none)
      const endOnceOf = (running: Running) =>
        Effect.uninterruptible(Effect.flatMap(Deferred.succeed(endClaimed, undefined), (first) =>
          first ? Effect.intoDeferred(Effect.suspend(() => endLeftovers(running, threadId)), leftoversEnded) : Deferred.await(leftoversEnded)))
      const acquire = Effect.flatMap(spawnChild(spec, tailBytes, forkServer), (running) =>
        Effect.as(groups.track(running.pgid, running.mark), { running, endOnce: endOnceOf(running) }))
      // The release reads nothing fiber-local (src/core/ScopeFinalizers.ts).
      return Effect.flatMap(acquireReleaseInScope(acquire, ({ running: r, endOnce }) => {
        // codex still running (cancel, timeout, shutdown) or dead: all of it ends before the
        // turn's end is told, while the turn still holds its thread. codex gone on its own
        // (status 0): what it left ends just after the answer, off the host's wait.
        const finish = Effect.zipRight(endOnce, groups.untrack(r.pgid))
        const ended = r.child.exitCode === 0 && background !== undefined ? Effect.asVoid(Effect.forkIn(finish, background)) : finish
        return Effect.zipRight(ended, Effect.sync(() => {
          readAhead.destroy()
          r.child.stdout.destroy()
          r.child.stderr.destroy()
        }))
      }), ({ running, endOnce }) => {
        // A broken pipe destroys the buffer with its error, which ends the bytes read.
        NodeStreams.pipeline(running.child.stdout, readAhead, () => {})
        // At codex's exit: if its stdout has not ended within a few turns of the event loop,
        // something holds the pipe, and it is ended now so the end of file can come.
        const exitSettled = Effect.async<void>((resume) => {
          void running.exit.then(() => afterEventLoopTurns(3, () => resume(Effect.void)))
        })
        const watcher = Effect.zipRight(exitSettled, Effect.suspend(() => running.stdoutEnded()
          ? Effect.void
          : Effect.zipRight(endOnce, endStdoutHolders("codex", running.stdoutLink, Effect.sync(running.stdoutEnded), groups.endProcesses))))
        // The one line reader's byte stream (src/core/LineStream.ts), pulled here; its line cutter
        // and the decoding in the same step, so a chunk crosses one Stream layer, not four. Pulled
        // from its channel: the end comes as a value, not as a failure mapped twice per pull.
        return Effect.zipRight(Effect.forkScoped(watcher), Effect.map(Channel.toPull(Stream.toChannel(readableBytes(readAhead))), (pullBytes): CodexRun => {
          const cutter = new LineCutter({ maxLineBytes })
          const decodeInto = (lines: Array<Line>, events: Array<CodexEvent>) => {
            for (const line of lines) {
              const event = decodeLine(line)
              if (event === undefined) continue
              if (event.type === "thread.started") threadId ??= event.thread_id
              else if (event.type === "<unparsed>") unparsedLines++
              events.push(event)
            }
          }
          let stage: "reading" | "exit" | "done" = "reading"
          const ended = (atEndOfFile: boolean) => {
            stage = "exit"
            // The last line counts without a newline too (LineStream.ts's rules).
            const last: Array<Line> = []
            if (atEndOfFile) cutter.end(last)
            const events: Array<CodexEvent> = []
            decodeInto(last, events)
            return events.length > 0 ? Effect.succeed(events) : next
          }
          const next: CodexRun["next"] = Effect.suspend(() => {
            if (stage === "exit") {
              stage = "done"
              return Effect.map(checkExit(running, () => threadId !== undefined, () => unparsedLines), (exited) => [exited])
            }
            if (stage === "done") return Effect.succeed(undefined)
            return Effect.matchEffect(pullBytes, {
              // A broken pipe ends the output (a line it cut short is dropped); the exit status reports the cause.
              onFailure: () => ended(false),
              onSuccess: (bytes) => {
                // End of file, never a timer or codex's exit.
                if (Either.isLeft(bytes)) return ended(true)
                const lines: Array<Line> = []
                for (const buf of bytes.right) cutter.push(asBuffer(buf), lines)
                const events: Array<CodexEvent> = []
                decodeInto(lines, events)
                return events.length > 0 ? Effect.succeed(events) : next
              }
            })
          })
          return { next }
        }))
      })
    })

  const run = (spec: CodexRunSpec) =>
    scopedStream(
      Effect.map(start(spec), ({ next }) =>
        Stream.repeatEffectChunkOption(
          Effect.flatMap(Effect.mapError(next, Option.some), (events) =>
            events === undefined ? Effect.fail(Option.none()) : Effect.succeed(Chunk.unsafeFromArray(events)))
        ))
    )

  return { start, run }
}

export const CodexProcessLive = Layer.scoped(
  CodexProcess,
  Effect.gen(function* () {
    const groups = yield* ProcessGroups
    const launcher = yield* Launcher
    return makeCodexProcess(groups, { forkServer: launcher.forkServer }, yield* Effect.scope)
  })
)
