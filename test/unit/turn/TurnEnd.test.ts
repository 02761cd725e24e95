// A turn's end decided once (issue 18 item 3): the runner's terminal events and summary from how
// the engine's stream ended, whatever the engine.
import { describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Deferred, Effect, Exit, Fiber, Ref, Stream } from "effect"
import { StartedFirst, turnEnd, writeEvents, writeEventsUntilStopped } from "../../../src/layers/TurnRunnerLive.ts"
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
      const result = yield* Effect.scoped(writeEvents(outputs, (chunk) => Effect.sync(() => void written.push(...chunk))))
      expect(result).toBe(ended)
      expect(written).toEqual([started, { type: "message", itemId: "m", text: "hi" }])
    }))
})

describe("StartedFirst", () => {
  /** What writeEventsUntilStopped writes of `outputs`, with `notices` held for after turn.started; `stopAt` stops the turn when the stream reaches it. */
  const writtenOf = (outputs: Stream.Stream<EngineOutput, TurnFailure>, notices: ReadonlyArray<TurnEvent> = [], stopAt?: Deferred.Deferred<void>) =>
    Effect.gen(function* () {
      const written: Array<TurnEvent> = []
      const order = new StartedFirst()
      order.hold(notices)
      const outcome = yield* Deferred.make<TurnEnded | undefined, TurnFailure>()
      if (stopAt !== undefined) yield* Effect.fork(Effect.zipRight(Deferred.await(stopAt), Deferred.fail(outcome, new TurnFailure({ code: "cancelled", message: "stopped" }))))
      const exit = yield* Effect.exit(writeEventsUntilStopped(Effect.succeed(outputs), (chunk) => Effect.sync(() => void written.push(...chunk)), order, outcome))
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
      const reached = yield* Deferred.make<void>()
      const stopped = yield* writtenOf(
        Stream.concat(Stream.make<Array<EngineOutput>>(early), Stream.concat(Stream.fromEffect(Deferred.succeed(reached, undefined)).pipe(Stream.drain), Stream.never)),
        [runnerNotice],
        reached
      )
      expect(stopped.written).toEqual([])
      expect(stopped.exit).toEqual(Exit.fail(new TurnFailure({ code: "cancelled", message: "stopped" })))
    }))
})

describe("writeEventsUntilStopped", () => {
  /** A stream that says when its scope closed, emits `chunks`, then waits for `more` forever. */
  const source = (chunks: ReadonlyArray<ReadonlyArray<EngineOutput>>, log: Ref.Ref<ReadonlyArray<string>>, more: boolean) =>
    Stream.unwrapScoped(
      Effect.as(
        Effect.addFinalizer(() => Ref.update(log, (l) => [...l, "closed"])),
        Stream.concat(Stream.fromChunks(...chunks.map(Chunk.fromIterable)), more ? Stream.never : Stream.empty)
      )
    )
  const notice = (message: string): TurnEvent => ({ type: "notice", level: "info", message })
  const undecided = Deferred.make<TurnEnded | undefined, TurnFailure>()
  const consumeUntil = (stream: Stream.Stream<EngineOutput, TurnFailure>, outcome: Deferred.Deferred<TurnEnded | undefined, TurnFailure>, log: Ref.Ref<ReadonlyArray<string>>) =>
    writeEventsUntilStopped(
      Effect.succeed(stream),
      (chunk) => Ref.update(log, (l) => [...l, `wrote ${Chunk.join(Chunk.map(chunk, (e) => (e.type === "notice" ? e.message : e.type)), ",")}`]),
      new StartedFirst(),
      outcome
    ).pipe(Effect.exit, Effect.tap((exit) => Ref.update(log, (l) => [...l, Exit.isSuccess(exit) ? "end" : "failed"])))
  const stopped = new TurnFailure({ code: "cancelled", message: "the turn was cancelled" })

  it.effect("writes every chunk in order and ends when the stream ends, after its scope closed", () =>
    Effect.gen(function* () {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      yield* consumeUntil(source([[started, notice("a")], [notice("b")]], log, false), yield* undecided, log)
      expect(yield* Ref.get(log)).toEqual(["wrote turn.started,a", "wrote b", "closed", "end"])
    }))

  it.effect("on stop, fails with the stop's failure once the stream's scope has closed; a dying stop with its defect", () =>
    Effect.gen(function* () {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const stop = yield* Deferred.make<TurnEnded | undefined, TurnFailure>()
      const running = yield* Effect.fork(consumeUntil(source([[started]], log, true), stop, log))
      yield* Effect.repeat(Ref.get(log), { until: (l) => l.length === 1 })
      yield* Deferred.fail(stop, stopped)
      expect(yield* Fiber.join(running)).toEqual(Exit.fail(stopped))
      expect(yield* Ref.get(log)).toEqual(["wrote turn.started", "closed", "failed"])

      const dying = yield* Deferred.make<TurnEnded | undefined, TurnFailure>()
      const second = yield* Effect.fork(consumeUntil(source([[started]], log, true), dying, log))
      yield* Effect.repeat(Ref.get(log), { until: (l) => l.length === 4 })
      yield* Deferred.die(dying, new Error("stop broke"))
      const exit = yield* Fiber.join(second)
      expect(Exit.isFailure(exit) && exit.cause._tag === "Die").toBe(true)
      expect((yield* Ref.get(log)).slice(3)).toEqual(["wrote turn.started", "closed", "failed"])
    }))

  it.effect("a write still waiting when the stop comes (stdout full) does not hold the stop up", () =>
    Effect.gen(function* () {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const stop = yield* Deferred.make<TurnEnded | undefined, TurnFailure>()
      // The host stopped reading: the write never gets room. The stop must still end the turn.
      const write = () => Effect.zipRight(Deferred.fail(stop, stopped), Effect.never)
      const exit = yield* writeEventsUntilStopped(Effect.succeed(source([[started]], log, true)), write, new StartedFirst(), stop).pipe(
        Effect.exit
      )
      expect(exit).toEqual(Exit.fail(stopped))
      expect(yield* Ref.get(log)).toEqual(["closed"])
    }))

  it.effect("interrupted from outside (shutdown), the stream's scope has closed before it returns", () =>
    Effect.gen(function* () {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const fiber = yield* Effect.fork(
        writeEventsUntilStopped(Effect.succeed(source([[started]], log, true)), () => Ref.update(log, (l) => [...l, "wrote"]), new StartedFirst(), yield* undecided).pipe(
          Effect.onExit(() => Ref.update(log, (l) => [...l, "returned"]))
        )
      )
      yield* Effect.repeat(Ref.get(log), { until: (l) => l.length === 1 })
      yield* Fiber.interrupt(fiber)
      expect(yield* Ref.get(log)).toEqual(["wrote", "closed", "returned"])
    }))

  it.effect("the stream's failure and defects, and what opens the stream failing, come out as they are", () =>
    Effect.gen(function* () {
      const bad = new TurnFailure({ code: "turn_failed", message: "bad" })
      const write = () => Effect.void
      const failure = yield* Effect.flip(writeEventsUntilStopped(Effect.succeed(Stream.concat(Stream.make<Array<EngineOutput>>(started), Stream.fail(bad))), write, new StartedFirst(), yield* undecided))
      expect(failure).toBe(bad)
      const defect = yield* Effect.exit(writeEventsUntilStopped(Effect.succeed(Stream.dieMessage("boom")), write, new StartedFirst(), yield* undecided))
      expect(Exit.isFailure(defect) && defect.cause._tag === "Die").toBe(true)
      const unopened = yield* Effect.flip(writeEventsUntilStopped(Effect.fail(bad), write, new StartedFirst(), yield* undecided))
      expect(unopened).toBe(bad)
    }))
})
