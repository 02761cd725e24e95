// The turn core in process (issue 18 item 9): the real TurnRunner and exec engine over a fake
// codex, the host and the config swapped for doubles (test/support/TurnRunnerHarness.ts). What a
// host would notice: one terminal event, the answer's summary, a cancel that ends codex, a codex
// that fails saying why.
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber } from "effect"
import type { TurnEvent } from "../../../src/schemas/Protocol.ts"
import { Turns } from "../../../src/services/Turns.ts"
import { processesMatching } from "../../support/Processes.ts"
import {
  makeTurnWorld,
  runTurn,
  streamParams,
  terminalEvents,
  turnRunnerLayer
} from "../../support/TurnRunnerHarness.ts"
import { withEnv } from "../../support/ProcessEnv.ts"

const THREAD = "0199cccc-0000-7000-8000-000000000003"
const FAKE_USAGE = { inputTokens: 10, cachedInputTokens: 2, outputTokens: 5, reasoningOutputTokens: 1 }

/** A world and the runner over the fake codex in `mode`. */
const turnCore = (mode: string) =>
  Effect.gen(function* () {
    const world = yield* makeTurnWorld
    yield* withEnv({ FAKE_CODEX_MODE: mode, FAKE_CODEX_THREAD: THREAD })
    return { world, layer: turnRunnerLayer(world) }
  })

/** codex's processes of this world's turn, found in /proc by the workspace on their command line. */
const codexOf = (workspace: string) => processesMatching(new RegExp(workspace.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))

describe("TurnRunner over the exec engine", () => {
  it.scopedLive("a finished turn ends with one turn.completed after its usage; the summary has the thread and usage", () =>
    Effect.gen(function* () {
      const { world, layer } = yield* turnCore("ok")
      const { events, summary } = yield* runTurn(streamParams(world, "t-ok")).pipe(Effect.provide(layer))
      expect(events[0]).toEqual({ type: "turn.started", threadId: THREAD, resumed: false })
      const message = events.find((e) => e.type === "message")
      expect(message?.type === "message" && message.text).toContain("hello from the test")
      expect(terminalEvents(events)).toHaveLength(1)
      expect(events.slice(-2)).toEqual([
        { type: "usage", ...FAKE_USAGE },
        { type: "turn.completed", finalMessage: message?.type === "message" ? message.text : "", usage: FAKE_USAGE }
      ])
      expect(summary).toEqual({ status: "completed", threadId: THREAD, usage: FAKE_USAGE })
    }))

  it.scopedLive("a codex that exits non-zero fails the turn with its stderr, once", () =>
    Effect.gen(function* () {
      const { world, layer } = yield* turnCore("fail")
      const { events, summary } = yield* runTurn(streamParams(world, "t-fail")).pipe(Effect.provide(layer))
      expect(events).toHaveLength(1)
      const [failed] = events
      expect(failed).toMatchObject({ type: "turn.failed", code: "codex_exit" })
      expect(failed?.type === "turn.failed" && failed.message).toContain("exited with status 3")
      expect(failed?.type === "turn.failed" && failed.message).toContain("no rollout found for thread id nope")
      expect(summary).toEqual({ status: "failed", threadId: undefined, usage: undefined })
    }))

  it.scopedLive("codex's own turn.failed message wins over its exit status; the summary keeps the thread", () =>
    Effect.gen(function* () {
      const { world, layer } = yield* turnCore("turn-failed")
      const { events, summary } = yield* runTurn(streamParams(world, "t-turn-failed")).pipe(Effect.provide(layer))
      expect(terminalEvents(events)).toEqual([{ type: "turn.failed", code: "turn_failed", message: "model said no" }])
      expect(events.at(-1)?.type).toBe("turn.failed")
      expect(summary).toEqual({ status: "failed", threadId: THREAD, usage: undefined })
    }))

  it.scopedLive("a cancel ends codex before the turn's turn.failed {cancelled} goes out", () =>
    Effect.gen(function* () {
      const { world, layer } = yield* turnCore("hang")
      const result = yield* Effect.gen(function* () {
        const turns = yield* Turns
        const started = yield* Deferred.make<void>()
        const fiber = yield* runTurn(streamParams(world, "t-cancel"), (events: ReadonlyArray<TurnEvent>) =>
          events.some((e) => e.type === "turn.started") ? Deferred.succeed(started, undefined) : Effect.void
        ).pipe(Effect.fork)
        // A turn that ends before it started fails the test at once instead of hanging it.
        yield* Effect.raceFirst(Deferred.await(started), Effect.flatMap(Fiber.await(fiber), (exit) => Effect.die(`the turn ended early: ${Exit.isSuccess(exit) ? JSON.stringify(exit.value.events) : exit.cause}`)))
        const running = codexOf(world.workspace)
        expect(running.length).toBeGreaterThan(0)
        expect(yield* turns.cancel("t-cancel")).toBe(true)
        const { events, summary } = yield* Fiber.join(fiber)
        // Everything the turn started is gone by the time it answers.
        expect(codexOf(world.workspace)).toEqual([])
        return { events, summary }
      }).pipe(Effect.provide(layer))
      expect(terminalEvents(result.events)).toEqual([{ type: "turn.failed", code: "cancelled", message: "the turn was cancelled" }])
      expect(result.events.at(-1)?.type).toBe("turn.failed")
      expect(result.summary).toEqual({ status: "cancelled", threadId: THREAD, usage: undefined })
    }))

  it.scopedLive("a turn over its time limit ends codex and fails with timeout", () =>
    Effect.gen(function* () {
      const { world, layer } = yield* turnCore("hang")
      const { events, summary } = yield* runTurn(streamParams(world, "t-timeout", { options: { timeoutMs: 300 } })).pipe(Effect.provide(layer))
      expect(terminalEvents(events)).toMatchObject([{ type: "turn.failed", code: "timeout" }])
      expect(codexOf(world.workspace)).toEqual([])
      expect(summary.status).toBe("failed")
    }))

  it.scopedLive("a model the config does not serve is refused before any event", () =>
    Effect.gen(function* () {
      const { world, layer } = yield* turnCore("ok")
      const refused = yield* runTurn({ ...streamParams(world, "t-model"), modelId: "gpt-nope" }).pipe(Effect.provide(layer), Effect.flip)
      expect(refused._tag).toBe("ModelNotServed")
      expect(codexOf(world.workspace)).toEqual([])
    }))
})
