/**
 * stdin read as lines and stdout written by one fiber (PROTOCOL.md §1). Owns the bytes: the line
 * limit, the outbox and its bound, corked batch writes, and what happens when stdout breaks.
 */
import { Chunk, Deferred, Effect, Exit, FiberId, Layer, Queue, Stream } from "effect"
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
    const wake = yield* Effect.makeLatch(false)
    // A broken stdout reports through each write's callback; without a listener the 'error' would crash us.
    io.output.on("error", () => {})

    // The only code that writes to stdout: each batch taken from the outbox is written in one
    // synchronous pass, each Buffer as it is (no copy into one big Buffer), corked so the stream
    // hands them to the pipe together. A flush mark completes in the write callback of the last
    // line queued before it (a stream calls its write callbacks in order). One Effect step per
    // batch, not an Effect.gen and a step per line and mark: this fiber runs for every event batch.
    // `open` is this fiber's alone (no other fiber reads it): false once a write has failed.
    let open = true
    const writeBatch = (items: ReadonlyArray<Outgoing>, resume: () => void): void => {
      const lines: Array<Buffer> = []
      // marksAfter[i]: the flush marks queued after line i and before line i + 1.
      const marksAfter: Array<Array<Deferred.Deferred<void>> | undefined> = []
      for (const item of items) {
        if (Buffer.isBuffer(item)) lines.push(item)
        else if (item instanceof Logged) lines.push(item.lines)
        // Nothing before it in this batch: what came before it has been written already.
        else if (lines.length === 0) Deferred.unsafeDone(item, Exit.void)
        else (marksAfter[lines.length - 1] ??= []).push(item)
      }
      if (!open || lines.length === 0) {
        for (const marks of marksAfter) if (marks) for (const mark of marks) Deferred.unsafeDone(mark, Exit.void)
        return resume()
      }
      const last = lines.length - 1
      io.output.cork()
      for (let i = 0; i <= last; i++) {
        const marks = marksAfter[i]
        if (marks === undefined && i < last) io.output.write(lines[i]!)
        else {
          io.output.write(lines[i]!, (err) => {
            if (err) open = false
            if (marks) for (const mark of marks) Deferred.unsafeDone(mark, Exit.void)
            if (i === last) resume()
          })
        }
      }
      io.output.uncork()
    }
    // The writer waits on `wake`, not in Queue.take (whose wait costs ~20 Effect steps per batch):
    // it closes the latch before it looks, and every offer opens it, so no line is missed.
    const writeNext: Effect.Effect<void> = Effect.suspend(() => {
      wake.unsafeClose()
      return Effect.flatMap(Queue.takeUpTo(outbox, OUTBOX_CAPACITY), (batch) => {
        if (Chunk.isEmpty(batch)) return wake.await
        const items = Chunk.toReadonlyArray(batch)
        let counted = 0
        for (const item of items) if (Buffer.isBuffer(item)) counted++
        const written = Effect.async<void>((resume) => writeBatch(items, () => resume(Effect.void)))
        // Room frees as items leave the queue, as a bounded queue's would.
        return counted > 0 ? Effect.zipRight(room.release(counted), written) : written
      })
    })
    // Every batch waits for its write callback or for `wake`, so the loop needs no yield of its
    // own (Effect.forever adds one per batch).
    const writeForever: Effect.Effect<never> = Effect.flatMap(writeNext, () => writeForever)
    yield* Effect.forkScoped(writeForever)

    const enqueue = (item: Outgoing) => {
      Queue.unsafeOffer(outbox, item)
      wake.unsafeOpen()
    }
    const write = (lines: Buffer) =>
      Effect.uninterruptibleMask((restore) => Effect.zipRight(restore(room.take(1)), Effect.sync(() => enqueue(lines))))
    const flush = Effect.suspend(() => {
      const done = Deferred.unsafeMake<void>(FiberId.none)
      enqueue(done)
      return Deferred.await(done)
    })

    const incoming = readableLines(io.input, limits).pipe(
      // A broken stdin ends the conversation as its end does (PROTOCOL.md §1); said, not hidden.
      Stream.catchAll((e) => Stream.drain(Stream.fromEffect(Effect.logWarning(`cannot read stdin: ${String(e.cause)}; serving ends`))))
    )

    return {
      incoming,
      write,
      unsafeWriteNow: (lines) => enqueue(new Logged(lines)),
      unsafeStderr: (line) => void io.stderr.write(line + "\n"),
      flush
    } satisfies StdioLinesShape
  })

export const StdioLinesLive = Layer.scoped(
  StdioLines,
  makeStdioLines({ input: process.stdin, output: process.stdout, stderr: process.stderr })
)
