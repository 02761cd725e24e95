// The one line reader (src/core/LineStream.ts): what every byte stream of the plugin is cut by.
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import { PassThrough } from "node:stream"
import { forEachLines, isOverlong, type Line, type LineLimits, readableLines, splitLines } from "../../../src/core/LineStream.ts"

const show = (lines: ReadonlyArray<Line>) => lines.map((l) => (isOverlong(l) ? `<${l.bytes}>` : l.toString("utf8")))
const cut = (chunks: ReadonlyArray<string | Buffer>, limits: LineLimits = { maxLineBytes: 1024 }) =>
  Stream.fromIterable(chunks.map((c) => (typeof c === "string" ? Buffer.from(c) : c))).pipe(
    splitLines(limits),
    Stream.runCollect,
    Effect.map((c) => show(Chunk.toArray(c)))
  )

describe("LineStream", () => {
  it.effect("lines across chunks, CRLF, empty lines skipped, the last line without a newline kept", () =>
    Effect.gen(function* () {
      expect(yield* cut(["a\nb", "c\r\n\n", "\r\nd", "e"])).toEqual(["a", "bc", "de"])
    }))

  it.effect("a multi-byte character split between chunks stays whole", () =>
    Effect.gen(function* () {
      const bytes = Buffer.from("é日🙂\n")
      expect(yield* cut([bytes.subarray(0, 1), bytes.subarray(1, 4), bytes.subarray(4)])).toEqual(["é日🙂"])
    }))

  it.effect("an overlong line is reported once with its whole length; the lines around it arrive", () =>
    Effect.gen(function* () {
      expect(yield* cut(["ok\n" + "x".repeat(6), "x".repeat(6), "xx\nnext\n", "y".repeat(20)], { maxLineBytes: 8 })).toEqual([
        "ok",
        "<14>",
        "next",
        "<20>"
      ])
    }))

  it.effect("the first line may have a tighter bound than the rest", () =>
    Effect.gen(function* () {
      expect(yield* cut(["hello\n", "hello\n"], { maxLineBytes: 8, firstLineMaxBytes: 4 })).toEqual(["<5>", "hello"])
      // Empty lines first do not lift the first line's bound.
      expect(yield* cut(["\n\r\n", "hello\n", "hello\n"], { maxLineBytes: 8, firstLineMaxBytes: 4 })).toEqual(["<5>", "hello"])
    }))

  it.live("a Node stream ends the lines at its end of file, not before", () =>
    Effect.gen(function* () {
      const input = new PassThrough()
      setTimeout(() => input.write("one\ntw"), 5)
      setTimeout(() => input.end("o"), 30)
      const lines = yield* readableLines(input, { maxLineBytes: 64 }).pipe(Stream.runCollect)
      expect(show(Chunk.toArray(lines))).toEqual(["one", "two"])
    }))

  it.live("forEachLines hands over the same lines as readableLines, chunk by chunk, the last one at end of file", () =>
    Effect.gen(function* () {
      const chunks = ["a\nb", "c\r\n\n", "ok\n" + "x".repeat(20), "xx\nnext\n", "\r\nd", "e"]
      const feed = () => {
        const input = new PassThrough()
        chunks.forEach((c, i) => setTimeout(() => (i === chunks.length - 1 ? input.end(c) : input.write(c)), 5 * (i + 1)))
        return input
      }
      const limits = { maxLineBytes: 8 }
      const expected = show(Chunk.toArray(yield* readableLines(feed(), limits).pipe(Stream.runCollect)))
      const calls: Array<Array<string>> = []
      yield* Effect.scoped(forEachLines(feed(), limits, {}, (lines) => Effect.sync(() => void calls.push(show(lines)))))
      expect(calls.flat()).toEqual(expected)
      expect(expected).toEqual(["a", "bc", "ok", "<22>", "next", "de"])
      // Each call is what one read brought; the last line comes on its own, at the end.
      expect(calls.at(-1)).toEqual(["de"])
      expect(calls.length).toBeGreaterThan(1)
    }))
})
