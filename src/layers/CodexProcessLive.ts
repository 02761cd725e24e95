/**
 * CodexProcess on node:child_process. A thin layer of our own rather than
 * @effect/platform's CommandExecutor because its release sends TERM and then
 * waits for the exit forever, and because the hot path wants Buffer-level line
 * splitting (a newline byte never occurs inside a UTF-8 sequence, so lines are
 * cut before decoding and only a line in progress is kept: memory is bounded
 * by the largest line, not the turn).
 */
import { Chunk, Deferred, Effect, Exit, FiberId, Layer, type Scope, Stream } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { type DetachedChild, spawnDetached } from "../core/DetachedChild.ts"
import { endStdoutHolders, stdoutLinkOf, yieldToEventLoop } from "../core/StdoutHolders.ts"
import { newRunMark, ENV_RUN_MARK } from "../core/RunMark.ts"
import { decodeCodexLine, unparsed, type CodexEvent, type CodexExited } from "../schemas/CodexEvent.ts"
import {
  CodexExit,
  CodexNotFound,
  CodexOutputError,
  CodexProcess,
  type CodexProcessShape,
  type CodexRunError,
  type CodexRunSpec
} from "../services/CodexProcess.ts"
import { ProcessGroups, type ProcessGroupsShape } from "../services/ProcessGroups.ts"

export interface CodexProcessOptions {
  /** A longer stdout line is replaced by an `<unparsed>` event; default 64 MiB. */
  readonly maxLineBytes?: number
  /** How much of stderr is kept for the error message; default 8 KiB. */
  readonly stderrTailBytes?: number
  /** stdout bytes read ahead of a slow consumer before the pipe is paused; default 1 MiB. */
  readonly readAheadBytes?: number
}

/** Cuts stdout bytes into lines and decodes each; keeps only the line in progress. */
export class CodexLineSplitter {
  private parts: Array<Buffer> = []
  private size = 0
  private overflow = false

  constructor(private readonly maxLineBytes: number) {}

  push(buf: Buffer, out: Array<CodexEvent>): void {
    let start = 0
    for (;;) {
      const nl = buf.indexOf(10, start)
      if (nl === -1) return this.keep(buf.subarray(start))
      this.line(buf, start, nl, out)
      start = nl + 1
    }
  }

  /** The last line when stdout ended without a newline. */
  flush(out: Array<CodexEvent>): void {
    if (this.size > 0) this.line(Buffer.alloc(0), 0, 0, out)
  }

  private keep(rest: Buffer) {
    if (rest.length === 0) return
    this.size += rest.length
    if (this.overflow) return
    if (this.size > this.maxLineBytes) {
      this.overflow = true
      this.parts = []
    } else this.parts.push(rest)
  }

  private line(buf: Buffer, start: number, end: number, out: Array<CodexEvent>) {
    const bytes = this.size + end - start
    let text: string
    if (this.size === 0) {
      text = buf.toString("utf8", start, end) // the common case: the whole line is in this chunk
    } else if (this.overflow || bytes > this.maxLineBytes) {
      this.reset()
      out.push(unparsed(`<a line of ${bytes} bytes, over the ${this.maxLineBytes}-byte limit>`, bytes))
      return
    } else {
      this.parts.push(buf.subarray(start, end))
      text = Buffer.concat(this.parts, bytes).toString("utf8")
      this.reset()
    }
    if (text.charCodeAt(text.length - 1) === 13) text = text.slice(0, -1)
    if (text.length === 0 || text.trim().length === 0) return
    out.push(decodeCodexLine(text, bytes))
  }

  private reset() {
    this.parts = []
    this.size = 0
    this.overflow = false
  }
}

interface Running extends DetachedChild {
  readonly pgid: number
  /** The run's mark (src/core/RunMark.ts), in codex's environment and so in what it starts. */
  readonly mark: string
  /** Done once stdout has reached its end (or broke). */
  readonly stdoutEnded: Deferred.Deferred<void>
  /** codex's stdout as /proc links name it (`stdoutLink`), if known. */
  readonly stdoutLink: string | undefined
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

const spawnChild = (spec: CodexRunSpec, stderrTailBytes: number): Effect.Effect<Running, CodexNotFound | CodexExit> =>
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
    return Effect.map(spawnDetached({ ...spec, env }, { stderrTailBytes, failure: toStartError(spec) }), (started) => {
      // codex reads the prompt until EOF.
      started.child.stdin.end(spec.stdin)
      spec.onSpawn?.(started.child.pid!)
      return { ...started, pgid: started.child.pid!, mark, stdoutEnded: Deferred.unsafeMake<void>(FiberId.none), stdoutLink: stdoutLinkOf(started.child.pid!) }
    })
  })

/**
 * stdout's bytes until end of file, with backpressure: the pipe is paused once `readAheadBytes`
 * wait for the consumer. Raw bytes wait, not decoded events: a Buffer lives outside V8's young
 * generation, so a chunk that waits costs the garbage collector nothing, and each line is decoded
 * only when the turn pulls it, so its objects die young (docs/benchmarks.md, "100,000 codex events").
 *
 * Only end of file ends it, never a timer or codex's exit: on a busy machine codex's exit can be
 * handled before the pipe's last lines are read (CODEX.md). A process that inherited codex's stdout
 * could hold the pipe open past codex's exit; `endLeftovers` (in `run`) ends those, and the end of
 * file follows.
 */
const readBytes = (run: Running, readAheadBytes: number) =>
  Stream.async<Buffer>((emit) => {
    const reachedEnd = () => Deferred.unsafeDone(run.stdoutEnded, Exit.void)
    const out = run.child.stdout
    // What arrives while the consumer is busy goes out as one chunk: a slow consumer gets bigger
    // chunks (fewer trips through the stream) instead of a longer queue.
    let pending: Array<Buffer> = []
    let pendingBytes = 0
    let finished = false
    let waiting = false // a chunk waits for the consumer; the pipe is paused meanwhile
    const finish = () => {
      if (finished) return
      if (pending.length > 0) void emit.chunk(Chunk.unsafeFromArray(pending))
      finished = true
      void emit.end()
    }
    const send = () => {
      const chunk = Chunk.unsafeFromArray(pending)
      pending = []
      pendingBytes = 0
      waiting = true
      void emit.chunk(chunk).then(() => {
        waiting = false
        if (finished) return
        if (pending.length > 0) send()
        else if (out.isPaused()) out.resume()
      })
    }
    out.on("data", (buf: Buffer) => {
      if (finished) return
      pending.push(buf)
      pendingBytes += buf.length
      if (!waiting) send()
      else if (pendingBytes >= readAheadBytes) out.pause()
    })
    out.once("end", () => (reachedEnd(), finish()))
    out.once("error", () => (reachedEnd(), finish())) // a broken pipe ends the output; the exit status reports the cause
    return Effect.sync(() => {
      finished = true
      out.destroy()
    })
  }, 1)

/** stdout as decoded events: lines are cut and decoded as the consumer pulls the bytes. */
const readEvents = (
  run: Running,
  onEvents: (events: ReadonlyArray<CodexEvent>) => void,
  maxLineBytes: number,
  readAheadBytes: number
) =>
  Stream.suspend(() => {
    const splitter = new CodexLineSplitter(maxLineBytes)
    const decoded = (take: (out: Array<CodexEvent>) => void) => {
      const events: Array<CodexEvent> = []
      take(events)
      onEvents(events)
      return Chunk.unsafeFromArray(events)
    }
    return Stream.concat(
      Stream.mapChunks(readBytes(run, readAheadBytes), (bufs) => decoded((out) => {
        for (const buf of bufs) splitter.push(buf, out)
      })),
      Stream.suspend(() => Stream.fromChunk(decoded((out) => splitter.flush(out))))
    )
  })

/** How codex ended: a failure for anything but a zero exit after a thread; else the `<exited>` event. */
const checkExit = (run: Running, sawThread: () => boolean, unparsedCount: () => number) =>
  Effect.flatMap(Effect.promise(() => run.exit), (exit): Effect.Effect<CodexExited, CodexRunError> => {
    const stderrTail = run.stderr.text()
    if (exit.code !== 0) {
      const how = exit.code === null ? `was killed by ${exit.signal}` : `exited with status ${exit.code}`
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

  /**
   * Ends what codex left behind: its group, the groups its commands started, and whatever carries
   * the run's mark (the shell snapshot codex starts in a session of its own, CODEX.md).
   */
  const endLeftovers = (run: Running, threadId: string | undefined) =>
    Effect.gen(function* () {
      yield* groups.end(run.pgid, run.mark)
      // A command whose spawn codex was in the middle of when it was stopped (or when it died) is
      // out of every group's reach and may have lost the mark with codex's environment policy
      // (ProcessGroups). A codex that exited 0 ended its commands itself.
      if (run.child.exitCode !== 0 && threadId !== undefined) {
        const found = yield* groups.endThreadCommands(threadId, run.pgid)
        if (found > 0) yield* Effect.logWarning(`found and ended ${found} process(es) of thread ${threadId} that codex left running`)
      }
    })

  /**
   * codex has exited and its stdout has not ended: a process that inherited it holds the pipe.
   * What codex started is ended first; anything else still holding it (it dropped the mark and left
   * codex's group) is found by the descriptor itself (src/core/StdoutHolders.ts).
   */
  const freePipe = (run: Running, endOnce: Effect.Effect<void>) =>
    Effect.zipRight(endOnce, endStdoutHolders("codex", run.stdoutLink, Deferred.isDone(run.stdoutEnded), groups.endProcesses))

  const run = (spec: CodexRunSpec) =>
    Stream.unwrapScoped(
      Effect.gen(function* () {
        let threadId: string | undefined
        const { running, endOnce } = yield* Effect.acquireRelease(
          Effect.gen(function* () {
            const running = yield* spawnChild(spec, tailBytes)
            yield* groups.track(running.pgid, running.mark)
            const endOnce = yield* Effect.cached(Effect.uninterruptible(Effect.suspend(() => endLeftovers(running, threadId))))
            return { running, endOnce }
          }),
          ({ running: r, endOnce }) =>
            Effect.gen(function* () {
              // codex still running (cancel, timeout, shutdown) or dead: all of it ends before the
              // turn's end is told, while the turn still holds its thread. codex gone on its own
              // (status 0): what it left ends just after the answer, off the host's wait.
              const finish = Effect.zipRight(endOnce, groups.untrack(r.pgid))
              if (r.child.exitCode === 0 && background !== undefined) yield* Effect.forkIn(finish, background)
              else yield* finish
              r.child.stdout.destroy()
              r.child.stderr.destroy()
            })
        )
        // At codex's exit: if its stdout has not ended within a few turns of the event loop, something
        // holds the pipe, and it is ended now so the end of file can come.
        yield* Effect.promise(() => running.exit).pipe(
          Effect.zipRight(yieldToEventLoop(3)),
          Effect.zipRight(Effect.suspend(() => Deferred.isDone(running.stdoutEnded))),
          Effect.flatMap((atEnd) => (atEnd ? Effect.void : freePipe(running, endOnce))),
          Effect.forkScoped
        )
        let unparsedLines = 0
        const onEvents = (events: ReadonlyArray<CodexEvent>) => {
          for (const e of events) {
            if (e.type === "thread.started") threadId ??= e.thread_id
            else if (e.type === "<unparsed>") unparsedLines++
          }
        }
        return Stream.concat(
          readEvents(running, onEvents, maxLineBytes, options.readAheadBytes ?? 1024 * 1024),
          Stream.fromEffect(checkExit(running, () => threadId !== undefined, () => unparsedLines))
        )
      })
    ).pipe(Stream.withSpan("CodexProcess.run"))

  return { run }
}

export const CodexProcessLive = Layer.scoped(
  CodexProcess,
  Effect.gen(function* () {
    const groups = yield* ProcessGroups
    return makeCodexProcess(groups, {}, yield* Effect.scope)
  })
)
