/**
 * The one line reader for the plugin's byte streams: the host's stdin, codex's stdout, the
 * app-server's stdout and the bridge's sockets. codex's stdout is pulled from `readableBytes` and
 * cut by the `LineCutter` in the same step as it is decoded (CodexProcessLive), one Stream layer per
 * chunk (the lean `mcp-host` bundle keeps its own tiny framer, src/mcphost/LineFramer.ts, so it does
 * not load Effect's streams).
 *
 * One set of rules everywhere:
 * - a line ends at `\n` (a trailing `\r` is dropped); an empty line is skipped;
 * - the last line counts even without a newline: the end of input is the stream's end;
 * - a line longer than the limit is never held: its bytes are dropped as they come and it is
 *   reported once, as an `OverlongLine` where it ended, so what follows it still arrives;
 * - lines stay Buffers (views into the chunk they arrived in, no copy unless a line spans chunks):
 *   bytes live outside V8's heap and each line is decoded only when its consumer wants it, which is
 *   what keeps a 100,000-event turn's memory flat (docs/benchmarks.md, "100,000 codex events").
 *
 * A newline byte never occurs inside a UTF-8 sequence, so cutting before decoding is safe.
 */
import { Chunk, Data, Effect, type Scope, Stream } from "effect"
import * as NodeStream from "@effect/platform-node/NodeStream"
import type { Readable } from "node:stream"
import { forEachChunk } from "./StreamPull.ts"

/** A line that was over the limit, dropped; `bytes` is its whole length. */
export class OverlongLine {
  readonly _tag = "OverlongLine"
  constructor(readonly bytes: number, readonly limit: number) {}
}

export type Line = Buffer | OverlongLine

export const isOverlong = (line: Line): line is OverlongLine => !Buffer.isBuffer(line)

export interface LineLimits {
  /** The longest line kept, in bytes. */
  readonly maxLineBytes: number
  /** A tighter bound for the first line alone (a peer's hello); default `maxLineBytes`. */
  readonly firstLineMaxBytes?: number
}

/** Reading the underlying Node stream failed (a broken pipe, a reset socket). */
export class ReadFailed extends Data.TaggedError("ReadFailed")<{ readonly cause: unknown }> {}

/** Cuts byte chunks into lines; keeps only the line in progress. */
export class LineCutter {
  private parts: Array<Buffer> = []
  private size = 0
  private limit: number

  constructor(private readonly limits: LineLimits) {
    this.limit = limits.firstLineMaxBytes ?? limits.maxLineBytes
  }

  /** The complete lines in `buf`, appended to `out`. */
  push(buf: Buffer, out: Array<Line>): void {
    let start = 0
    for (let nl = buf.indexOf(10, start); nl !== -1; nl = buf.indexOf(10, start)) {
      this.line(buf, start, nl, out)
      start = nl + 1
    }
    if (start === buf.length) return
    const wasOver = this.size > this.limit
    this.size += buf.length - start
    if (this.size > this.limit) {
      if (!wasOver) this.parts = []
    } else this.parts.push(buf.subarray(start))
  }

  /** The last line when the input ended without a newline. */
  end(out: Array<Line>): void {
    if (this.size > 0) this.line(EMPTY, 0, 0, out)
  }

  private line(buf: Buffer, start: number, end: number, out: Array<Line>) {
    const bytes = this.size + end - start
    const limit = this.limit
    let line: Buffer
    if (bytes > limit) {
      out.push(new OverlongLine(bytes, limit))
      this.reset()
      return
    } else if (this.size === 0) {
      line = buf.subarray(start, end) // the common case: the whole line is in this chunk
    } else {
      this.parts.push(buf.subarray(start, end))
      line = Buffer.concat(this.parts, bytes)
    }
    this.parts = []
    this.size = 0
    if (line.length > 0 && line[line.length - 1] === 13) line = line.subarray(0, line.length - 1)
    if (line.length === 0) return // an empty line is skipped and leaves the first line's bound in force
    out.push(line)
    this.limit = this.limits.maxLineBytes
  }

  private reset() {
    this.parts = []
    this.size = 0
    this.limit = this.limits.maxLineBytes
  }
}

const EMPTY = Buffer.alloc(0)

/** A byte stream as lines (see the rules above). */
export const splitLines =
  (limits: LineLimits) =>
  <E, R>(bytes: Stream.Stream<Uint8Array, E, R>): Stream.Stream<Line, E, R> =>
    Stream.suspend(() => {
      const cutter = new LineCutter(limits)
      return Stream.concat(
        Stream.mapChunks(bytes, (chunk) => {
          const out: Array<Line> = []
          for (const buf of chunk) cutter.push(asBuffer(buf), out)
          return Chunk.unsafeFromArray(out)
        }),
        Stream.suspend(() => {
          const out: Array<Line> = []
          cutter.end(out)
          return Stream.fromChunk(Chunk.unsafeFromArray(out))
        })
      )
    })

/** A chunk as a Buffer, without a copy. */
export const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/**
 * A Node Readable's bytes, pulled: what is not read yet stays in the Readable (its highWaterMark
 * is the read-ahead), so a slow consumer pushes back on the writer through the pipe. Reading all
 * that waits at each pull makes one chunk of it: a slow consumer gets bigger chunks, not a queue.
 * `closeOnDone`: destroy the Readable when the stream ends or is interrupted (default true).
 */
export const readableBytes = (readable: Readable, options?: { readonly closeOnDone?: boolean }): Stream.Stream<Uint8Array, ReadFailed> =>
  NodeStream.fromReadable<ReadFailed, Uint8Array>(() => readable, (cause) => new ReadFailed({ cause }), {
    closeOnDone: options?.closeOnDone ?? true
  })

/** A Node Readable as lines. */
export const readableLines = (readable: Readable, limits: LineLimits, options?: { readonly closeOnDone?: boolean }): Stream.Stream<Line, ReadFailed> =>
  splitLines(limits)(readableBytes(readable, options))

/**
 * `readableLines` consumed: `f` runs on each chunk's lines in order, then on the last line at the
 * end of input. The bytes are cut where they are pulled, with no Stream layer of its own: for the
 * app-server's stdout, read every turn, the two layers of `readableLines` (cut, then the last line)
 * were half of its reader's Effect operations (docs/benchmarks.md, "The plugin's own CPU per turn").
 */
export const forEachLines = <E, R>(
  readable: Readable,
  limits: LineLimits,
  options: { readonly closeOnDone?: boolean },
  f: (lines: ReadonlyArray<Line>) => Effect.Effect<void, E, R>
): Effect.Effect<void, ReadFailed | E, R | Scope.Scope> =>
  Effect.suspend(() => {
    const cutter = new LineCutter(limits)
    const lines = forEachChunk(readableBytes(readable, options), (chunk) => {
      const out: Array<Line> = []
      for (const buf of chunk) cutter.push(asBuffer(buf), out)
      return out.length === 0 ? Effect.void : f(out)
    })
    const last = Effect.suspend(() => {
      const out: Array<Line> = []
      cutter.end(out)
      return out.length === 0 ? Effect.void : f(out)
    })
    return Effect.zipRight(lines, last)
  })

/** A line as text (the bytes are UTF-8). */
export const lineText = (line: Buffer): string => line.toString("utf8")
