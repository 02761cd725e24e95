/**
 * An in-memory stdin/stdout for the plugin's protocol stack (src/services/StdioLines.ts): the test
 * plays the host through `TestHost`, writing lines and reading what the plugin wrote, already
 * parsed, in the order the plugin wrote it. Everything above StdioLines (the RPC peer, the
 * dispatcher, the host logger, the handlers) is the real code.
 */
import { Context, Effect, Layer, Option, Queue, Ref, Stream } from "effect"
import { PluginTransportLive } from "../../src/layers/PluginTransportLive.ts"
import { StdioLines, type StdioLinesShape } from "../../src/services/StdioLines.ts"

/** A JSON-RPC message as the host reads it. */
export type HostMessage = Record<string, any>

export interface TestHostShape {
  /** Writes one line to the plugin's stdin; an object is JSON-encoded, a string goes as it is. */
  readonly write: (message: unknown) => Effect.Effect<void>
  /** Ends the plugin's stdin. */
  readonly end: Effect.Effect<void>
  /** The next message the plugin wrote to stdout (waits for it). */
  readonly next: Effect.Effect<HostMessage>
  /** Messages as they come, up to and including the first that `done` accepts. */
  readonly until: (done: (message: HostMessage) => boolean) => Effect.Effect<ReadonlyArray<HostMessage>>
  /** The answer to request `id`, with what the plugin wrote before it. */
  readonly answerTo: (id: string | number) => Effect.Effect<{ readonly answer: HostMessage; readonly before: ReadonlyArray<HostMessage> }>
  /** The lines the plugin wrote to stderr so far. */
  readonly stderr: Effect.Effect<ReadonlyArray<string>>
}

export class TestHost extends Context.Tag("test/TestHost")<TestHost, TestHostShape>() {}

const make = Effect.gen(function* () {
  const stdin = yield* Queue.unbounded<Option.Option<Buffer>>()
  const stdout = yield* Queue.unbounded<HostMessage>()
  const stderrLines = yield* Ref.make<ReadonlyArray<string>>([])
  const written = (lines: Buffer) => {
    for (const line of lines.toString("utf8").split("\n")) if (line !== "") Queue.unsafeOffer(stdout, JSON.parse(line))
  }
  const stdio: StdioLinesShape = {
    incoming: Stream.fromQueue(stdin).pipe(Stream.takeWhile(Option.isSome), Stream.map((line) => line.value)),
    write: (lines) => Effect.sync(() => written(lines)),
    unsafeWriteNow: written,
    unsafeStderr: (line) => Effect.runSync(Ref.update(stderrLines, (all) => [...all, line])),
    flush: Effect.void
  }
  const until = (done: (message: HostMessage) => boolean) =>
    Effect.gen(function* () {
      const seen: Array<HostMessage> = []
      while (true) {
        const message = yield* Queue.take(stdout)
        seen.push(message)
        if (done(message)) return seen
      }
    })
  const host: TestHostShape = {
    write: (message) => Queue.offer(stdin, Option.some(Buffer.from(typeof message === "string" ? message : JSON.stringify(message)))),
    end: Queue.offer(stdin, Option.none()),
    next: Queue.take(stdout),
    until,
    answerTo: (id) =>
      Effect.map(until((m) => m.id === id && !("method" in m)), (seen) => ({ answer: seen[seen.length - 1]!, before: seen.slice(0, -1) })),
    stderr: Ref.get(stderrLines)
  }
  return Context.make(StdioLines, stdio).pipe(Context.add(TestHost, host))
})

/** StdioLines in memory, and the host's end of it. */
export const InMemoryStdio = Layer.effectContext(make)

/** The real RPC peer on in-memory stdio: PluginTransport, StdioLines and TestHost. */
export const InMemoryTransport = PluginTransportLive.pipe(Layer.provideMerge(InMemoryStdio))
