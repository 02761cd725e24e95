/**
 * The plugin's real stdio stack (StdioLinesLive, the RPC peer) over in-memory Node streams: the
 * test writes the host's bytes into `input` and reads exactly what reached `output`.
 */
import { Context, Effect } from "effect"
import { PassThrough, Writable } from "node:stream"
import type { LineLimits } from "../../src/core/LineStream.ts"
import { makePluginTransport } from "../../src/layers/PluginTransportLive.ts"
import { makeStdioLines } from "../../src/layers/StdioLinesLive.ts"
import { PluginTransport } from "../../src/services/PluginTransport.ts"
import { StdioLines } from "../../src/services/StdioLines.ts"

/** `slowOutput`: the host reads each write a turn of the event loop later, so the outbox fills. */
export const stdioPipes = (options: { readonly limits?: LineLimits; readonly slowOutput?: boolean } = {}) =>
  Effect.gen(function* () {
    const input = new PassThrough()
    const chunks: Array<Buffer> = []
    const output = new Writable({
      write(chunk, _encoding, done) {
        chunks.push(Buffer.from(chunk))
        if (options.slowOutput) setImmediate(done)
        else done()
      },
      highWaterMark: 1
    })
    const stderr: Array<string> = []
    const stderrStream = new Writable({
      write(chunk, _encoding, done) {
        stderr.push(String(chunk))
        done()
      }
    })
    const stdio = yield* makeStdioLines({ input, output, stderr: stderrStream }, options.limits)
    const peer = yield* Effect.provideService(makePluginTransport, StdioLines, stdio)
    return {
      input,
      stdio,
      peer,
      context: Context.make(StdioLines, stdio).pipe(Context.add(PluginTransport, peer)),
      /** What reached stdout, as text. */
      written: () => Buffer.concat(chunks).toString("utf8"),
      /** What reached stdout, one parsed message per line. */
      messages: () => Buffer.concat(chunks).toString("utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Record<string, any>),
      stderr: () => stderr.join("")
    }
  })
