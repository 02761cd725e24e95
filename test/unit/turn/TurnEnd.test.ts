// A turn's end decided once (issue 18 item 3): the runner's terminal events and summary from how
// the engine's stream ended, whatever the engine.
import { describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Effect, Exit, Stream } from "effect"
import { StartedFirst, turnEnd, writeEvents } from "../../../src/layers/TurnRunnerLive.ts"
import type { TurnEvent } from "../../../src/schemas/Protocol.ts"
import { type EngineOutput, TurnEnded, TurnFailure } from "../../../src/services/TurnEngine.ts"

const usage = { inputTokens: 3, cachedInputTokens: 0, outputTokens: 2, reasoningOutputTokens: 1 }
const started: TurnEvent = { type: "turn.started", threadId: "th-1", resumed: false }

/** The end of a turn, with what was reported as a defect. */
const endOf = (exit: Exit.Exit<TurnEnded | undefined, TurnFailure>) =>
  Effect.gen(function* () {
    const defects: Array<string> = []
    const end = yield* turnEnd(exit, (cause) => Effect.sync(() => void defects.push(Cause.pretty(cause))))
    return { end, defects }
  })

describe("turnEnd", () => {
  it.effect("a finished turn: its usage, then one turn.completed with the final message", () =>
    Effect.gen(function* () {
      const { end, defects } = yield* endOf(Exit.succeed(new TurnEnded({ finalMessage: "done", usage })))
      expect(end.events).toEqual([{ type: "usage", ...usage }, { type: "turn.completed", finalMessage: "done", usage }])
      expect(end).toMatchObject({ status: "completed", usage })
      expect(defects).toEqual([])
    }))

  it.effect("a cancelled turn answers cancelled; any other failure failed", () =>
    Effect.gen(function* () {
      const cancelled = yield* endOf(Exit.fail(new TurnFailure({ code: "cancelled", message: "the turn was cancelled" })))
      expect(cancelled.end).toEqual({ events: [{ type: "turn.failed", code: "cancelled", message: "the turn was cancelled" }], status: "cancelled", usage: undefined })
      const failed = yield* endOf(Exit.fail(new TurnFailure({ code: "codex_exit", message: "codex exited with status 3" })))
      expect(failed.end.status).toBe("failed")
      expect(failed.end.events).toEqual([{ type: "turn.failed", code: "codex_exit", message: "codex exited with status 3" }])
    }))

  it.effect("an engine that ends without saying how, or dies, fails the turn with a one-line codex_output; the details go to the log", () =>
    Effect.gen(function* () {
      const silent = yield* endOf(Exit.succeed(undefined))
      expect(silent.end.events).toEqual([{ type: "turn.failed", code: "codex_output", message: "internal error in the plugin (details in host/log)" }])
      expect(silent.defects.join("")).toContain("without saying how the turn ended")
      const died = yield* endOf(Exit.die(new Error("boom\nat somewhere")))
      expect(died.end.events).toEqual([{ type: "turn.failed", code: "codex_output", message: "internal error in the plugin (details in host/log)" }])
      expect(died.defects.join("")).toContain("boom")
    }))
})

describe("writeEvents", () => {
  it.effect("writes the engine's events and returns its TurnEnded, which is never written", () =>
    Effect.gen(function* () {
      const ended = new TurnEnded({ finalMessage: undefined, usage: undefined })
      const written: Array<TurnEvent> = []
      const outputs = Stream.fromChunks(Chunk.of<EngineOutput>(started), Chunk.unsafeFromArray<EngineOutput>([{ type: "message", itemId: "m", text: "hi" }, ended]))
      const result = yield* writeEvents(outputs, (chunk) => Effect.sync(() => void written.push(...chunk)))
      expect(result).toBe(ended)
      expect(written).toEqual([started, { type: "message", itemId: "m", text: "hi" }])
    }))
})

describe("StartedFirst", () => {
  /** What writeEvents writes of `outputs`, with `notices` held for after turn.started. */
  const writtenOf = (outputs: Stream.Stream<EngineOutput, TurnFailure>, notices: ReadonlyArray<TurnEvent> = [], stopped = false) =>
    Effect.gen(function* () {
      const written: Array<TurnEvent> = []
      const order = new StartedFirst()
      order.hold(notices)
      const exit = yield* Effect.exit(writeEvents(outputs, (chunk) => Effect.sync(() => void written.push(...chunk)), order, { stop: Effect.never, stopped: () => stopped }))
      return { written, exit }
    })

  it.effect("what an engine says before turn.started waits for it; without one it comes before the TurnEnded", () =>
    Effect.gen(function* () {
      const notice: TurnEvent = { type: "notice", level: "warn", message: "early" }
      const ended = new TurnEnded({ finalMessage: undefined, usage: undefined })
      const withStart = yield* writtenOf(Stream.make<Array<EngineOutput>>(notice, started, ended))
      expect(withStart.written).toEqual([started, notice])
      expect(withStart.exit).toEqual(Exit.succeed(ended))
      const without = yield* writtenOf(Stream.make<Array<EngineOutput>>(notice, ended))
      expect(without.written).toEqual([notice])
    }))

  it.effect("the runner's notices follow turn.started; a failure before it sends them first, a stop does not", () =>
    Effect.gen(function* () {
      const runnerNotice: TurnEvent = { type: "notice", level: "info", message: "runner" }
      const early: TurnEvent = { type: "notice", level: "warn", message: "early" }
      const failure = new TurnFailure({ code: "turn_failed", message: "no" })
      const ok = yield* writtenOf(Stream.make<Array<EngineOutput>>(early, started), [runnerNotice])
      expect(ok.written).toEqual([started, runnerNotice, early])
      const failed = yield* writtenOf(Stream.concat(Stream.make<Array<EngineOutput>>(early), Stream.fail(failure)), [runnerNotice])
      expect(failed.written).toEqual([runnerNotice, early])
      expect(failed.exit).toEqual(Exit.fail(failure))
      const stopped = yield* writtenOf(Stream.concat(Stream.make<Array<EngineOutput>>(early), Stream.fail(failure)), [runnerNotice], true)
      expect(stopped.written).toEqual([])
    }))
})
