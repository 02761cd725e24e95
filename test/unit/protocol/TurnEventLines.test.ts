// provider/event lines as the host reads them (PROTOCOL.md §1, §4): one JSON object per line,
// UTF-8, numbered from the batch's first seq, whatever characters the events hold.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { PassThrough, Writable } from "node:stream"
import { makePluginTransport } from "../../../src/layers/PluginTransportLive.ts"
import { makeStdioLines } from "../../../src/layers/StdioLinesLive.ts"
import { StdioLines } from "../../../src/services/StdioLines.ts"

describe("provider/event lines", () => {
  it.scopedLive("a batch whose first event holds two-, three- and four-byte characters: every line whole, in order", () =>
    Effect.gen(function* () {
      const chunks: Array<Buffer> = []
      const output = new Writable({
        write(chunk, _encoding, done) {
          chunks.push(Buffer.from(chunk))
          done()
        }
      })
      const stdio = yield* makeStdioLines({ input: new PassThrough(), output, stderr: new PassThrough() })
      const transport = yield* Effect.provideService(makePluginTransport, StdioLines, stdio)
      const events = [
        { type: "message", itemId: "m1", text: "🙂 naïve — 日本語" },
        { type: "message", itemId: "m2", text: "plain ascii after it" },
        { type: "notice", level: "info", message: "é" }
      ]
      yield* transport.notifyTurnEvents("turn-ü", 7, events)
      const expected = events
        .map((event, i) => JSON.stringify({ jsonrpc: "2.0", method: "provider/event", params: { turnId: "turn-ü", seq: 7 + i, event } }) + "\n")
        .join("")
      // Everything queued before the flush has been written when it completes.
      yield* stdio.flush
      expect(Buffer.concat(chunks).toString("utf8")).toBe(expected)
    }))
})
