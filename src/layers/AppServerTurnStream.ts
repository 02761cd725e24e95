/**
 * The app-server turn as a stream of canonical events (PROTOCOL.md §4, §8): `turn.started`, the
 * thread's notifications mapped as they come until codex completes the turn (or the app-server
 * ends), then the turn's `tool.block`s read from the rollout once it records every call codex
 * reported live, and last `TurnEnded` with the turn's final message and usage (or a TurnFailure).
 */
import { Effect, Ref, Stream } from "effect"
import { makeTurnItemMapper } from "../core/codex/AppServerItems.ts"
import { dynamicToolSet } from "../core/codex/DynamicTools.ts"
import { toToolBlockEvent } from "../core/rollout/RolloutToolCalls.ts"
import type { TurnEvent, Usage } from "../schemas/Protocol.ts"
import type { AppServerError, ThreadSignal } from "../services/AppServerConnection.ts"
import type { RolloutStoreShape } from "../services/RolloutStore.ts"
import { type EngineOutput, TurnEnded, TurnFailure, type TurnHooks, type TurnPlan } from "../services/TurnEngine.ts"
import type { SlotKeeper } from "./AppServerSlot.ts"
import type { makeTurnStarter } from "./AppServerTurnStart.ts"

const oneLine = (s: string) => s.replace(/\s+/g, " ").trim()

/** An app-server failure as the turn's failure (PROTOCOL.md §4 `turn.failed.code`). */
const toTurnFailure = (e: AppServerError): TurnFailure =>
  new TurnFailure({
    code: e.reason === "not_found" ? "codex_not_found" : e.reason === "rpc" ? "turn_failed" : e.reason === "protocol" ? "codex_output" : "codex_exit",
    message: oneLine(e.message),
    cause: e
  })

const ZERO_USAGE: Usage = { inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, reasoningOutputTokens: 0 }

export const makeTurnStream = (deps: {
  readonly keeper: SlotKeeper
  readonly starter: ReturnType<typeof makeTurnStarter>
  readonly rollouts: RolloutStoreShape
  /** How long to wait for the rollout to show every tool call codex reported live. */
  readonly settleMs: number
}) => {
  const { keeper, starter, rollouts, settleMs } = deps

  /** The turn's tool calls from the rollout, once every call codex reported live is recorded. */
  const toolBlocks = (threadId: string, fromOffset: number, liveCallIds: ReadonlyArray<string>) =>
    Effect.gen(function* () {
      const deadline = Date.now() + settleMs
      for (;;) {
        const path = yield* rollouts.find(threadId)
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
    Stream.unwrapScoped(
      Effect.gen(function* () {
        const tools = dynamicToolSet(plan.params.request.tools ?? [])
        const { slot, chosen, queue, turnId, fromOffset, progress } = yield* starter.start(plan, tools, hooks, yield* Effect.scope)
        const { threadId } = chosen
        if (slot.droppedArgs.length > 0 && !(yield* Ref.getAndSet(slot.warnedDropped, true))) {
          yield* hooks.warn(`extra_args the app-server engine cannot pass to codex app-server were left out: ${slot.droppedArgs.join(" ")}`)
        }
        yield* hooks.threadStarted(threadId)

        const mapper = makeTurnItemMapper(tools.hostName)
        const usage = yield* Ref.make(ZERO_USAGE)
        const lastMessage = yield* Ref.make<string | undefined>(undefined)

        const step = (signal: ThreadSignal) =>
          Effect.gen(function* () {
            if (signal._tag === "Exited") {
              yield* Ref.set(progress, { _tag: "Finished" })
              yield* keeper.discard(slot)
              return yield* Effect.fail(toTurnFailure(signal.error))
            }
            const n = signal.notification
            if (n.method === "<other>") {
              if (n.original === "turn/completed") {
                return yield* Effect.fail(new TurnFailure({ code: "codex_output", message: oneLine(`turn/completed not understood: ${n.problem ?? ""}`) }))
              }
              if (n.problem !== undefined) yield* Effect.logWarning(`codex app-server ${n.original} not understood: ${n.problem}`)
              return { events: [] as ReadonlyArray<TurnEvent>, end: false }
            }
            if (n.method === "thread/tokenUsage/updated") {
              // Only this turn's: on resume codex replays the previous turn's update (CODEX.md).
              if (n.params.turnId === turnId) {
                const last = n.params.tokenUsage.last
                yield* Ref.update(usage, (u) => ({
                  inputTokens: u.inputTokens + last.inputTokens,
                  cachedInputTokens: u.cachedInputTokens + last.cachedInputTokens,
                  outputTokens: u.outputTokens + last.outputTokens,
                  reasoningOutputTokens: u.reasoningOutputTokens + last.reasoningOutputTokens
                }))
              }
              return { events: [], end: false }
            }
            if (n.method === "turn/completed" && n.params.turn.id === turnId) {
              yield* Ref.set(progress, { _tag: "Finished" })
              const status = n.params.turn.status
              if (status === "completed") return { events: [], end: true }
              const why = n.params.turn.error?.message
              return yield* Effect.fail(
                status === "interrupted"
                  ? new TurnFailure({ code: "cancelled", message: "the turn was interrupted in codex" })
                  : new TurnFailure({ code: "turn_failed", message: oneLine(why ?? `codex ended the turn as ${status}`) })
              )
            }
            const events = mapper.push(n)
            // The turn's final message is its last agent message (TurnEnded, PROTOCOL.md §4).
            for (const e of events) if (e.type === "message") yield* Ref.set(lastMessage, e.text)
            return { events, end: false }
          })

        const live = Stream.fromQueue(queue).pipe(
          Stream.mapEffect(step),
          Stream.takeUntil((s) => s.end),
          Stream.mapConcat((s) => s.events)
        )
        const after = Stream.fromIterableEffect(
          Effect.gen(function* () {
            const blocks = yield* toolBlocks(threadId, fromOffset, mapper.toolCallIds())
            const ended = new TurnEnded({ finalMessage: yield* Ref.get(lastMessage), usage: yield* Ref.get(usage) })
            return [...blocks, ended] satisfies ReadonlyArray<EngineOutput>
          })
        )
        const first: ReadonlyArray<TurnEvent> = [{ type: "turn.started", threadId, resumed: chosen.resumed }, ...chosen.notices]
        return Stream.concat(Stream.fromIterable(first), Stream.concat(live, after))
      }).pipe(Effect.mapError((e) => (e instanceof TurnFailure ? e : toTurnFailure(e))))
    ).pipe(Stream.withSpan("AppServerEngine.run"))

  return { run }
}
