/**
 * stdin read as lines and stdout written by one fiber (PROTOCOL.md §1). Owns the bytes: the line
 * limit, the outbox and its bound, corked batch writes, and what happens when stdout breaks.
 */
import { Deferred, Effect, Layer, Queue, Ref, Stream } from "effect"
import type { Readable, Writable } from "node:stream"
import { type LineLimits, readableLines } from "../core/LineStream.ts"
import { StdioLines, type StdioLinesShape } from "../services/StdioLines.ts"

export interface StdioStreams {
  readonly input: Readable
  readonly output: Writable
  readonly stderr: Writable
}

/** Pending stdout writes (each a line or a batch of event lines), also the most joined into one write. */
export const OUTBOX_CAPACITY = 16
/** A line longer than this is refused rather than buffered without bound. */
export const MAX_LINE_BYTES = 256 * 1024 * 1024

/**
 * Lines wait as bytes: a Buffer's contents live outside V8's heap, so a batch waiting for a slow
 * host costs the garbage collector nothing and its strings die young. A `Logged` line took no room
 * in the outbox's bound; a Deferred is a flush mark.
 */
class Logged {
  constructor(readonly lines: Buffer) {}
}
type Outgoing = Buffer | Logged | Deferred.Deferred<void>

export const makeStdioLines = (io: StdioStreams, limits: LineLimits = { maxLineBytes: MAX_LINE_BYTES }) =>
  Effect.gen(function* () {
    // Bounded by `room`: when the host reads slower than codex writes, `write` waits, the codex
    // stream stops pulling, and the pipe pushes back on codex; memory stays flat instead of
    // queueing a turn. The queue itself takes anything, so the logger never waits and never drops.
    const outbox = yield* Queue.unbounded<Outgoing>()
    const room = yield* Effect.makeSemaphore(OUTBOX_CAPACITY)
    const stdoutOpen = yield* Ref.make(true)
    // A broken stdout reports through each write's callback; without a listener the 'error' would crash us.
    io.output.on("error", () => {})

    // The only code that writes to stdout: one write call per batch, each Buffer as it is (no copy
    // into one big Buffer); corked, so the stream hands them to the pipe together.
    const writeLines = (lines: ReadonlyArray<Buffer>) =>
      Effect.flatMap(Ref.get(stdoutOpen), (open) =>
        open
          ? Effect.async<void>((resume) => {
            io.output.cork()
            for (let i = 0; i < lines.length - 1; i++) io.output.write(lines[i]!)
            io.output.write(lines[lines.length - 1]!, (err) => resume(err ? Ref.set(stdoutOpen, false) : Effect.void))
            io.output.uncork()
          })
          : Effect.void
      )
    const writeBatch = (batch: Iterable<Outgoing>) =>
      Effect.gen(function* () {
        let lines: Array<Buffer> = []
        for (const item of batch) {
          if (Buffer.isBuffer(item)) lines.push(item)
          else if (item instanceof Logged) lines.push(item.lines)
          else {
            if (lines.length > 0) yield* writeLines(lines)
            lines = []
            yield* Deferred.succeed(item, undefined)
          }
        }
        if (lines.length > 0) yield* writeLines(lines)
      })
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.gen(function* () {
          const batch = yield* Queue.takeBetween(outbox, 1, OUTBOX_CAPACITY)
          let counted = 0
          for (const item of batch) if (Buffer.isBuffer(item)) counted++
          // Room frees as items leave the queue, as a bounded queue's would.
          if (counted > 0) yield* room.release(counted)
          yield* writeBatch(batch)
        })
      )
    )

    const write = (lines: Buffer) =>
      Effect.uninterruptibleMask((restore) => Effect.zipRight(restore(room.take(1)), Queue.offer(outbox, lines)))
    const flush = Effect.gen(function* () {
      const done = yield* Deferred.make<void>()
      yield* Queue.offer(outbox, done)
      yield* Deferred.await(done)
    })

    const incoming = readableLines(io.input, limits).pipe(
      // A broken stdin ends the conversation as its end does (PROTOCOL.md §1); said, not hidden.
      Stream.catchAll((e) => Stream.drain(Stream.fromEffect(Effect.logWarning(`cannot read stdin: ${String(e.cause)}; serving ends`))))
    )

    return {
      incoming,
      write,
      unsafeWriteNow: (lines) => void Queue.unsafeOffer(outbox, new Logged(lines)),
      unsafeStderr: (line) => void io.stderr.write(line + "\n"),
      flush
    } satisfies StdioLinesShape
  })

export const StdioLinesLive = Layer.scoped(
  StdioLines,
  makeStdioLines({ input: process.stdin, output: process.stdout, stderr: process.stderr })
)
