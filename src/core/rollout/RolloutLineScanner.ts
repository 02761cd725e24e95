/**
 * Byte-level line splitting of a rollout read in chunks, so a 200 MB file never sits in memory
 * and no line is decoded to a string unless a caller wants it. Only complete (`\n`-terminated)
 * lines are visited: the bytes after the last `\n` are a line codex is still writing.
 */
import type { FileHandle } from "node:fs/promises"
import * as Fs from "node:fs/promises"

const NL = 0x0a

/**
 * Called for each complete line `view[start, end)` (its `\n` excluded, a `\r` before it kept).
 * `view` is only valid during the call, and is the same object for every line of one read.
 */
export type LineVisitor = (view: Buffer, start: number, end: number, offset: number, lineNo: number) => void

export interface ScanResult {
  /** File offset just after the last complete line. */
  readonly endOffset: number
  /** Complete lines visited. */
  readonly lines: number
  /** Bytes after the last `\n` (an incomplete last line), 0 if none. */
  readonly tailBytes: number
}

export interface ScanOptions {
  readonly chunkSize?: number
  /** Number given to the first visited line (1 by default). */
  readonly firstLineNo?: number
  /** A single line longer than this is refused rather than buffered. */
  readonly maxLineBytes?: number
}

export class LineTooLong extends Error {
  constructor(readonly lineNo: number, readonly limit: number) {
    super(`line ${lineNo} is longer than ${limit} bytes`)
  }
}

export const DEFAULT_CHUNK = 4 << 20
const DEFAULT_MAX_LINE = 1 << 30

export const scanLines = async (
  fh: FileHandle,
  fromOffset: number,
  visit: LineVisitor,
  options: ScanOptions = {}
): Promise<ScanResult> => {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK
  const maxLine = options.maxLineBytes ?? DEFAULT_MAX_LINE
  let buf = Buffer.allocUnsafe(chunkSize)
  let bufOffset = fromOffset // file offset of buf[0]
  let filled = 0
  let lineStart = 0
  let lineNo = options.firstLineNo ?? 1
  const firstLineNo = lineNo
  for (;;) {
    // Keep the unfinished line at the front; grow only when one line fills the whole buffer, and
    // keep the grown buffer (shrinking after every big line churns memory the GC frees late).
    if (lineStart > 0) {
      const left = filled - lineStart
      if (left > 0) buf.copyWithin(0, lineStart, filled)
      bufOffset += lineStart
      filled = left
      lineStart = 0
    } else if (filled === buf.length) {
      if (buf.length >= maxLine) throw new LineTooLong(lineNo, maxLine)
      const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, maxLine))
      buf.copy(bigger, 0, 0, filled)
      buf = bigger
    }
    const searchFrom = filled
    const { bytesRead } = await fh.read(buf, filled, buf.length - filled, bufOffset + filled)
    if (bytesRead === 0) break
    filled += bytesRead
    // A fresh view per read: visitors may cache by view identity (PatternCursor).
    const view = buf.subarray(0, filled)
    let nl = view.indexOf(NL, searchFrom)
    while (nl !== -1) {
      visit(view, lineStart, nl, bufOffset + lineStart, lineNo++)
      lineStart = nl + 1
      nl = view.indexOf(NL, lineStart)
    }
  }
  return { endOffset: bufOffset + lineStart, lines: lineNo - firstLineNo, tailBytes: filled - lineStart }
}

/** Offset just after the last `\n` of the file, read backwards; 0 for a missing or `\n`-less file. */
export const completeEnd = async (path: string): Promise<number> => {
  let fh: FileHandle
  try {
    fh = await Fs.open(path, "r")
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return 0
    throw e
  }
  try {
    const { size } = await fh.stat()
    const block = Buffer.allocUnsafe(64 * 1024)
    let end = size
    while (end > 0) {
      const start = Math.max(0, end - block.length)
      const { bytesRead } = await fh.read(block, 0, end - start, start)
      const at = block.subarray(0, bytesRead).lastIndexOf(NL)
      if (at !== -1) return start + at + 1
      end = start
    }
    return 0
  } finally {
    await fh.close()
  }
}

/** Opens `path` read-only, runs `f`, always closes. */
export const withReadHandle = async <A>(path: string, f: (fh: FileHandle) => Promise<A>): Promise<A> => {
  const fh = await Fs.open(path, "r")
  try {
    return await f(fh)
  } finally {
    await fh.close()
  }
}
