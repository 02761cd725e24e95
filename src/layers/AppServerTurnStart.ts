/**
 * A turn's start on the shared app-server and its undoing (PROTOCOL.md §2, §8): everything up
 * to codex's answer to `turn/start` (slot, thread, subscription, the thread's host tools, the
 * rollout offset the turn's tool calls start at), and the cancel the turn's scope runs at its
 * end: `turn/interrupt`, then the commands codex started (CODEX.md "`codex app-server`").
 */
import { Deferred, Effect, Fiber, type Mailbox, Ref, type Scope } from "effect"
import { toDynamicToolResponse, type DynamicToolSet } from "../core/codex/DynamicTools.ts"
import { addFinalizerInScope } from "../core/ScopeFinalizers.ts"
import { TurnStartResult } from "../schemas/AppServerWire.ts"
import type { AppServerError, DynamicToolResponse, ThreadSignal } from "../services/AppServerConnection.ts"
import type { ProcessGroupsShape } from "../services/ProcessGroups.ts"
import type { RolloutStoreShape } from "../services/RolloutStore.ts"
import type { TurnHooks, TurnPlan } from "../services/TurnEngine.ts"
import { awaitSignal, decodeAnswer, method } from "./AppServerReplies.ts"
import { type Slot, type SlotKeeper, threadRollout } from "./AppServerSlot.ts"
import type { LoadedTurnThread, ThreadLoader } from "./AppServerThreadLoad.ts"

/** How far a turn got in codex: what its cancel must undo. */
export type TurnProgressState =
  | { readonly _tag: "NotSent" }
  | { readonly _tag: "Sent"; readonly turnId: string | undefined }
  | { readonly _tag: "Finished" }
export type TurnProgress = Ref.Ref<TurnProgressState>

/** A turn codex has accepted. */
export interface StartedTurn {
  readonly slot: Slot
  readonly chosen: LoadedTurnThread
  readonly queue: Mailbox.ReadonlyMailbox<ThreadSignal>
  readonly turnId: string
  /** Where the thread's rollout ended before the turn: its tool calls are the ones after. */
  readonly fromOffset: number
  readonly progress: TurnProgress
}

const decodeTurn = decodeAnswer(TurnStartResult, "turn/start")

/** The answer to a tool call of a turn that is no longer running (CODEX.md: failures as `success: false`). */
const notThisTurn = (turnId: string): DynamicToolResponse => ({
  contentItems: [{ type: "inputText", text: `this tool call belongs to turn ${turnId}, which is no longer running; it was not run` }],
  success: false
})

/** Whether a failure means the app-server can no longer be trusted with turns. */
const lost = (e: AppServerError) => e.reason === "exit" || e.reason === "timeout"

export const makeTurnStarter = (deps: {
  readonly keeper: SlotKeeper
  readonly loader: ThreadLoader
  readonly groups: ProcessGroupsShape
  readonly rollouts: RolloutStoreShape
  readonly controlTimeoutMs: number
}) => {
  const { keeper, loader, groups, rollouts, controlTimeoutMs } = deps

  /**
   * Ends the turn on codex's side: interrupt, then end the commands it started (CODEX.md). A
   * turn interrupted while `turn/start` was on its way learns its id from `turn/started`.
   */
  const cancelTurn = (slot: Slot, threadId: string, progress: TurnProgress, queue: Mailbox.ReadonlyMailbox<ThreadSignal>) =>
    Effect.gen(function* () {
      const state = yield* Ref.get(progress)
      if (state._tag !== "Sent" || !(yield* slot.conn.alive)) return
      const turnId = state.turnId ??
        (yield* awaitSignal(queue, method("turn/started"), controlTimeoutMs, "turn/started after turn/start")).params.turn.id
      yield* slot.conn.request("turn/interrupt", { threadId, turnId }, controlTimeoutMs)
      yield* awaitSignal(
        queue,
        method("turn/completed", (n) => n.params.turn.id === turnId),
        controlTimeoutMs,
        "turn/completed after turn/interrupt"
      )
      yield* slot.conn.request("thread/backgroundTerminals/clean", { threadId }, controlTimeoutMs).pipe(
        Effect.catchIf(
          (e) => e.reason === "rpc",
          (e) => Effect.logWarning(`codex app-server refused thread/backgroundTerminals/clean: ${e.message}`)
        )
      )
      // A command whose spawn was under way as the turn was interrupted is one codex no longer knows of.
      const found = yield* groups.endThreadCommands(threadId, slot.conn.pgid)
      if (found > 0) yield* Effect.logWarning(`found and ended ${found} process(es) of thread ${threadId} that codex left running after turn/interrupt`)
    }).pipe(
      Effect.catchAll((e) =>
        Effect.zipRight(
          Effect.logWarning(`codex app-server did not stop a turn of thread ${threadId} cleanly (${e.message}); ending its process group`),
          keeper.discard(slot)
        )
      )
    )

  /** Slot and thread; a connection that died since its last turn is dropped. */
  const prepare = (plan: TurnPlan, tools: DynamicToolSet) =>
    Effect.gen(function* () {
      const slot = yield* keeper.acquire(plan.config)
      const chosen = yield* loader.load(slot, plan, tools).pipe(Effect.tapError((e) => (lost(e) ? keeper.discard(slot) : Effect.void)))
      return { slot, chosen }
    })

  /** Everything up to codex's answer to `turn/start`; the cancel and the releases are in the turn's scope. */
  const startOnce = (plan: TurnPlan, tools: DynamicToolSet, hooks: TurnHooks, turnScope: Scope.Scope) =>
    Effect.gen(function* () {
      const { slot, chosen } = yield* prepare(plan, tools)
      const { threadId } = chosen
      // The thread is idle from the turn's end on (the idle sweeper).
      yield* addFinalizerInScope(() => loader.markUsed(slot, threadId))
      const queue = yield* slot.conn.subscribe(threadId)
      const progress: TurnProgress = yield* Ref.make<TurnProgressState>({ _tag: "NotSent" })
      // A call belongs to the turn codex names in it: one of an earlier turn of this thread (an
      // interrupted turn's call arriving late) is answered with an error, never run with this
      // turn's host tools. Calls wait until codex has named this turn; a turn that never starts
      // cancels them (the connection answers them as cancelled).
      const running = yield* Deferred.make<string>()
      // One finalizer for both (they run in this order): the waiting calls are cancelled, then the
      // turn in codex. It runs before the subscription ends (finalizers run in reverse), so it still
      // sees turn/completed. The cancel is a fiber of its own, interruptible: a finalizer is not, and
      // the bounds on each step must be able to cut it. A turn codex finished (every turn that ends
      // well) has nothing to cancel: no fiber for it.
      yield* addFinalizerInScope(() =>
        Effect.zipRight(
          Deferred.interrupt(running),
          Effect.flatMap(Ref.get(progress), (state) =>
            state._tag !== "Sent"
              ? Effect.void
              : Effect.fork(Effect.interruptible(cancelTurn(slot, threadId, progress, queue))).pipe(Effect.flatMap(Fiber.join)))
        )
      )
      yield* slot.conn.serveTools(threadId, (call) =>
        Effect.flatMap(Deferred.await(running), (turnId) =>
          call.turnId !== undefined && call.turnId !== turnId
            ? Effect.as(
              Effect.logWarning(`codex app-server sent a tool call (${call.tool}) of turn ${call.turnId} of thread ${threadId}, which is no longer running; answered with an error`),
              notThisTurn(call.turnId)
            )
            : hooks
              .callHostTool(tools.hostName(call.tool), (call.arguments ?? {}) as Record<string, unknown>)
              .pipe(Effect.map(toDynamicToolResponse), Effect.forkIn(turnScope), Effect.flatMap((f) => f.await), Effect.flatten)
        )
      )
      // A new thread has no rollout yet (offset 0; looking would walk all of CODEX_HOME's sessions
      // for nothing); a resumed one that cannot be read would make earlier turns' calls look like
      // this turn's, which the host must hear about.
      // A resume codex answered with another thread (CODEX.md) may have a rollout already: look too.
      const fromOffset = chosen.resumed || plan.resumeThreadId !== undefined
        ? yield* threadRollout(rollouts, slot, threadId).pipe(
          Effect.flatMap(rollouts.endOffset),
          Effect.catchAll((e) =>
            chosen.resumed
              ? Effect.as(hooks.warn(`cannot read where the rollout of thread ${threadId} ends: ${e.message}; this turn's tool.blocks may include earlier calls`), 0)
              : Effect.succeed(0)
          )
        )
        : 0
      const request = plan.params.request
      const input = [
        { type: "text", text: chosen.prompt.text, text_elements: [] },
        ...chosen.prompt.images.map((path) => ({ type: "localImage", path }))
      ]
      yield* Ref.set(progress, { _tag: "Sent", turnId: undefined })
      const answer = yield* slot.conn.request("turn/start", {
        threadId,
        input,
        ...(request.options?.reasoningEffort !== undefined ? { effort: request.options.reasoningEffort } : {}),
        ...(request.options?.outputSchema !== undefined ? { outputSchema: request.options.outputSchema } : {})
      }).pipe(Effect.tapError((e) => (lost(e) ? keeper.discard(slot) : Effect.void)))
      const turnId = (yield* decodeTurn(answer)).turn.id
      yield* Ref.set(progress, { _tag: "Sent", turnId })
      yield* Deferred.succeed(running, turnId)
      return { slot, chosen, queue, turnId, fromOffset, progress } satisfies StartedTurn
    })

  /**
   * An app-server killed since the last turn may not have been seen to exit yet: a turn that
   * finds it gone before codex started the turn starts a fresh one, once.
   */
  const start = (plan: TurnPlan, tools: DynamicToolSet, hooks: TurnHooks, turnScope: Scope.Scope) =>
    startOnce(plan, tools, hooks, turnScope).pipe(
      Effect.catchIf((e) => e.reason === "exit", () => startOnce(plan, tools, hooks, turnScope))
    )

  return { start }
}
