/**
 * The app-server turn as a stream of canonical events (PROTOCOL.md §4, §8): `turn.started`, the
 * thread's notifications mapped as they come until codex completes the turn (or the app-server
 * ends), then the turn's `tool.block`s read from the rollout once it records every call codex
 * reported live, and last `TurnEnded` with the turn's final message and usage (or a TurnFailure).
 */
import { Chunk, Effect, Option, Ref, Stream } from "effect"
import { makeTurnItemMapper } from "../core/codex/AppServerItems.ts"
import { dynamicToolSet } from "../core/codex/DynamicTools.ts"
import { toToolBlockEvent } from "../core/rollout/RolloutToolCalls.ts"
import { scopedStream } from "../core/StreamPull.ts"
import type { TurnEvent, Usage } from "../schemas/Protocol.ts"
import { AppServerError, type ThreadSignal } from "../services/AppServerConnection.ts"
import type { RolloutStoreShape } from "../services/RolloutStore.ts"
import { type EngineOutput, TurnEnded, TurnFailure, type TurnHooks, type TurnPlan } from "../services/TurnEngine.ts"
import { type SlotKeeper, threadRollout } from "./AppServerSlot.ts"
import type { makeTurnStarter } from "./AppServerTurnStart.ts"

const oneLine = (s: string) => s.replace(/\s+/g, " ").trim()

/** An app-server failure as the turn's failure (PROTOCOL.md §4 `turn.failed.code`). */
const toTurnFailure = (e: AppServerError): TurnFailure =>
  new TurnFailure({
    code: e.reason === "not_found" ? "codex_not_found" : e.reason === "rpc" ? "turn_failed" : e.reason === "protocol" ? "codex_output" : "codex_exit",
    message: oneLine(e.message),
    cause: e
  })

/** The most signals one pull maps: a chunk of events stays bounded however many wait. */
const MAX_SIGNALS_PER_PULL = 4096

const ZERO_USAGE: Usage = { inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, reasoningOutputTokens: 0 }

export const makeTurnStream = (deps: {
  readonly keeper: SlotKeeper
  readonly starter: ReturnType<typeof makeTurnStarter>
  readonly rollouts: RolloutStoreShape
  /** How long to wait for the rollout to show every tool call codex reported live. */
  readonly settleMs: number
}) => {
  const { keeper, starter, rollouts, settleMs } = deps

  /**
   * The turn's tool calls from the rollout, once every call codex reported live is recorded. The
   * rollout is the one codex named when it loaded the thread, else the one found (threadRollout).
   */
  const toolBlocks = (threadId: string, fromOffset: number, liveCallIds: ReadonlyArray<string>) =>
    Effect.gen(function* () {
      const slot = yield* keeper.current
      const path = yield* (Option.isSome(slot) ? threadRollout(rollouts, slot.value, threadId) : rollouts.find(threadId))
      const deadline = Date.now() + settleMs
      for (;;) {
        const calls = yield* rollouts.toolCalls(path, { fromOffset })
        const recorded = new Set(calls.filter((c) => c.paired).map((c) => c.callId))
        // The app-server writes its rollout on its own schedule: give it a moment to catch up.
        if (liveCallIds.every((id) => recorded.has(id)) || Date.now() >= deadline) {
          return calls.map(toToolBlockEvent) as ReadonlyArray<TurnEvent>
        }
        yield* Effect.sleep("20 millis")
      }
    }).pipe(
      Effect.catchAll((e) =>
        Effect.succeed<ReadonlyArray<TurnEvent>>([{ type: "notice", level: "warn", message: `tool calls of this turn could not be read from the rollout: ${e.message}` }])
      )
    )

  const run = (plan: TurnPlan, hooks: TurnHooks): Stream.Stream<EngineOutput, TurnFailure> =>
    scopedStream(
      Effect.gen(function* () {
        const tools = dynamicToolSet(plan.params.request.tools ?? [])
        const { slot, chosen, queue, turnId, fromOffset, progress } = yield* starter.start(plan, tools, hooks, yield* Effect.scope)
        const { threadId } = chosen
        if (slot.droppedArgs.length > 0 && !(yield* Ref.getAndSet(slot.warnedDropped, true))) {
          yield* hooks.warn(`extra_args the app-server engine cannot pass to codex app-server were left out: ${slot.droppedArgs.join(" ")}`)
        }
        yield* hooks.threadStarted(threadId)

        const mapper = makeTurnItemMapper(tools.hostName)
        // The turn's state, local to this run: read once the turn is over (TurnEnded).
        let usage = ZERO_USAGE
        let lastMessage: string | undefined
        const finished = Ref.set(progress, { _tag: "Finished" })

        /**
         * One signal: its events pushed to `out`, or, for what needs an effect (the turn's end, a
         * failure, a warning), that effect. Plain code: it runs for every notification of a turn.
         */
        const step = (signal: ThreadSignal, out: Array<EngineOutput>): Effect.Effect<void, TurnFailure> | undefined => {
          if (signal._tag === "Exited") {
            return Effect.zipRight(Effect.zipRight(finished, keeper.discard(slot)), Effect.fail(toTurnFailure(signal.error)))
          }
          const n = signal.notification
          if (n.method === "<other>") {
            if (n.original === "turn/completed") {
              return Effect.fail(new TurnFailure({ code: "codex_output", message: oneLine(`turn/completed not understood: ${n.problem ?? ""}`) }))
            }
            return n.problem === undefined ? undefined : Effect.logWarning(`codex app-server ${n.original} not understood: ${n.problem}`)
          }
          if (n.method === "thread/tokenUsage/updated") {
            // Only this turn's: on resume codex replays the previous turn's update (CODEX.md).
            if (n.params.turnId === turnId) {
              const last = n.params.tokenUsage.last
              usage = {
                inputTokens: usage.inputTokens + last.inputTokens,
                cachedInputTokens: usage.cachedInputTokens + last.cachedInputTokens,
                outputTokens: usage.outputTokens + last.outputTokens,
                reasoningOutputTokens: usage.reasoningOutputTokens + last.reasoningOutputTokens
              }
            }
            return undefined
          }
          if (n.method === "turn/completed" && n.params.turn.id === turnId) {
            const status = n.params.turn.status
            if (status === "completed") return Effect.zipRight(finished, Effect.sync(() => { phase = "after" }))
            const why = n.params.turn.error?.message
            return Effect.zipRight(finished, Effect.fail(
              status === "interrupted"
                ? new TurnFailure({ code: "cancelled", message: "the turn was interrupted in codex" })
                : new TurnFailure({ code: "turn_failed", message: oneLine(why ?? `codex ended the turn as ${status}`) })
            ))
          }
          const events = mapper.push(n)
          for (const e of events) {
            // The turn's final message is its last agent message (TurnEnded, PROTOCOL.md §4).
            if (e.type === "message") lastMessage = e.text
            out.push(e)
          }
          return undefined
        }

        /** Whether codex is done with the turn after this signal (the app-server gone, or the turn completed). */
        const endsTurn = (signal: ThreadSignal) =>
          signal._tag === "Exited" || (signal.notification.method === "turn/completed" && signal.notification.params.turn.id === turnId)

        // The stream is one pull loop: `turn.started` (and codex's notices), the thread's signals as
        // they come until the turn ends, then the tool blocks and TurnEnded.
        let phase: "first" | "live" | "after" | "done" = "first"
        let signals: ReadonlyArray<ThreadSignal> = []
        let at = 0
        /** An effect a signal asked for after events still to be sent: it runs at the next pull, in order. */
        let pending: Effect.Effect<void, TurnFailure> | undefined
        const emit = (out: ReadonlyArray<EngineOutput>) => Effect.succeed(Chunk.unsafeFromArray(out))
        const pull: Effect.Effect<Chunk.Chunk<EngineOutput>, Option.Option<TurnFailure>> = Effect.suspend(() => {
          if (pending !== undefined) {
            const effect = pending
            pending = undefined
            return Effect.zipRight(Effect.mapError(effect, Option.some), pull)
          }
          switch (phase) {
            case "first":
              phase = "live"
              return emit([{ type: "turn.started", threadId, resumed: chosen.resumed }, ...chosen.notices])
            case "live":
              if (at < signals.length) return live
              return Effect.flatMap(queue.takeAll, ([taken, ended]) => {
                // The subscription never ends before its `Exited` signal (AppServerConnection.ts).
                if (ended && taken.length === 0) return Effect.fail(Option.some(toTurnFailure(new AppServerError({ reason: "exit", message: "codex app-server connection ended" }))))
                signals = Chunk.toReadonlyArray(taken)
                at = 0
                return live
              })
            case "after":
              phase = "done"
              return Effect.mapError(after, Option.some)
            case "done":
              return Effect.fail(Option.none())
          }
        })
        /** The signals taken, as far as the next one that needs an effect. */
        const live = Effect.suspend(() => {
          const out: Array<EngineOutput> = []
          const until = Math.min(signals.length, at + MAX_SIGNALS_PER_PULL)
          while (at < until && phase === "live") {
            const signal = signals[at++]!
            const effect = step(signal, out)
            if (effect === undefined) continue
            if (out.length > 0) {
              pending = effect
              // codex is done with the turn as soon as it says so: a stop while this chunk waits for
              // the host must not interrupt, in codex, a turn codex has already finished.
              return endsTurn(signal) ? Effect.as(finished, Chunk.unsafeFromArray(out)) : emit(out)
            }
            return Effect.zipRight(Effect.mapError(effect, Option.some), pull)
          }
          return out.length > 0 ? emit(out) : pull
        })
        const after = Effect.map(toolBlocks(threadId, fromOffset, mapper.toolCallIds()), (blocks) =>
          Chunk.unsafeFromArray<EngineOutput>([...blocks, new TurnEnded({ finalMessage: lastMessage, usage })]))
        return Stream.repeatEffectChunkOption(pull)
      }).pipe(Effect.mapError((e) => (e instanceof TurnFailure ? e : toTurnFailure(e))))
    )

  return { run }
}
