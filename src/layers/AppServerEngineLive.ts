/**
 * The app-server engine (PROTOCOL.md §8): turns run as `turn/start` on a long-lived
 * `codex app-server`, host tools are the thread's dynamic tools, text streams as deltas.
 *
 * Why one app-server shared by every agent rather than one per agent: threads are what isolates
 * agents (each thread has its own dynamic tools, cwd, sandbox and history, and a tool call is
 * routed by its thread id to the one turn running on it), so a second process would only add its
 * start-up (~70 ms) and memory per agent. The price is that a crash fails every running turn at
 * once; each of them fails with `codex_exit` and the next turn starts a fresh app-server, which
 * resumes the thread from its rollout. A config whose binary or `extra_args` differ from the
 * running app-server's replaces it (its running turns fail): those are settings of the process.
 */
import { Deferred, Effect, ExecutionStrategy, Exit, Fiber, HashMap, Layer, Option, Queue, Ref, Schema, Scope, Stream, SynchronizedRef } from "effect"
import * as Path from "node:path"
import { appServerArgv, compareVersions, RESUME_EXCLUDES_TURNS_FROM, UNSUBSCRIBE_UNLOADS_FROM } from "../core/codex/AppServerArgs.ts"
import { makeTurnItemMapper } from "../core/codex/AppServerItems.ts"
import { readThreadToolsKey, writeThreadToolsKey } from "../core/codex/AppServerThreadTools.ts"
import { cliModel } from "../core/codex/CodexArgs.ts"
import { dynamicToolSet, NO_TOOLS_KEY, toDynamicToolResponse, type DynamicToolSet } from "../core/codex/DynamicTools.ts"
import { toToolBlockEvent } from "../core/rollout/RolloutToolCalls.ts"
import { writerLockPath } from "../core/codex/CodexWriterLock.ts"
import { flockHolders, rolloutWriters } from "../core/rollout/RolloutWriters.ts"
import { ThreadResult, TurnStartResult } from "../schemas/AppServerWire.ts"
import { type Config, defaultConfig } from "../schemas/Config.ts"
import type { TurnEvent, Usage } from "../schemas/Protocol.ts"
import { AppServerError, type AppServerConnectionShape, type DynamicToolResponse, type ThreadSignal } from "../services/AppServerConnection.ts"
import { PluginPaths, type PluginPathsShape } from "../services/PluginPaths.ts"
import { ProcessGroups, type ProcessGroupsShape } from "../services/ProcessGroups.ts"
import { RolloutStore, type RolloutStoreShape } from "../services/RolloutStore.ts"
import { Turns, type TurnsShape } from "../services/Turns.ts"
import { ActiveConfig } from "../services/PluginConfig.ts"
import {
  AppServerEngine,
  type AppServerEngineShape,
  type EngineOutput,
  type EngineSupport,
  TurnEnded,
  TurnFailure,
  type TurnHooks,
  type TurnPlan
} from "../services/TurnEngine.ts"
import { startAppServerConnection } from "./AppServerConnectionLive.ts"
import { verifyAppServer } from "./AppServerSupport.ts"

export interface AppServerEngineOptions {
  /** How long `turn/interrupt`, `thread/backgroundTerminals/clean` and an unload may take before the process group is ended. */
  readonly controlTimeoutMs?: number
  /** How long to wait for the rollout to show every tool call codex reported live. */
  readonly rolloutSettleMs?: number
}

/** A thread loaded in the running app-server, with what it was loaded with. */
interface LoadedThread {
  readonly toolsKey: string
  readonly settingsKey: string
  /** When it was loaded or a turn last ended on it (a running turn holds it in Turns besides). */
  readonly lastUsed: number
}

/** How far a turn got in codex: what its cancel must undo. */
type TurnProgressState =
  | { readonly _tag: "NotSent" }
  | { readonly _tag: "Sent"; readonly turnId: string | undefined }
  | { readonly _tag: "Finished" }
type TurnProgress = Ref.Ref<TurnProgressState>

interface Slot {
  /** binary + argv: what makes two app-servers different processes. */
  readonly key: string
  readonly conn: AppServerConnectionShape
  readonly scope: Scope.CloseableScope
  readonly threads: Ref.Ref<HashMap.HashMap<string, LoadedThread>>
  readonly droppedArgs: ReadonlyArray<string>
  /** Whether a turn has warned about `droppedArgs` yet (once per app-server, not every turn). */
  readonly warnedDropped: Ref.Ref<boolean>
  readonly model: string | undefined
}

const decodeThread = Schema.decodeUnknown(ThreadResult)
const decodeTurn = Schema.decodeUnknown(TurnStartResult)

const oneLine = (s: string) => s.replace(/\s+/g, " ").trim()

/** An app-server failure as the turn's failure (PROTOCOL.md §4 `turn.failed.code`). */
const toTurnFailure = (e: AppServerError): TurnFailure =>
  new TurnFailure({
    code: e.reason === "not_found" ? "codex_not_found" : e.reason === "rpc" ? "turn_failed" : e.reason === "protocol" ? "codex_output" : "codex_exit",
    message: oneLine(e.message),
    cause: e
  })

const protocolError = (what: string) => (e: { message: string }) =>
  new AppServerError({ reason: "protocol", message: `codex app-server answered ${what} in a shape not understood: ${e.message}` })

/** The answer to a tool call of a turn that is no longer running (CODEX.md: failures as `success: false`). */
const notThisTurn = (turnId: string): DynamicToolResponse => ({
  contentItems: [{ type: "inputText", text: `this tool call belongs to turn ${turnId}, which is no longer running; it was not run` }],
  success: false
})

const ZERO_USAGE: Usage = { inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, reasoningOutputTokens: 0 }

/**
 * The settings a thread is loaded with; a turn with another sandbox or model reloads the thread
 * with them. The developer instructions go along but do not count: codex keeps a thread's first
 * ones on resume (as `codex exec resume` does), so reloading for them would change nothing.
 */
const threadSettings = (plan: TurnPlan, slot: Slot) => {
  const request = plan.params.request
  const model = slot.model ?? cliModel(plan.params.modelId, plan.config.model_args)
  return {
    cwd: plan.params.agent.workspace,
    sandbox: request.options?.sandbox ?? plan.config.sandbox,
    approvalPolicy: "never",
    ...(model !== undefined ? { model } : {}),
    ...(request.system !== undefined && request.system !== "" ? { developerInstructions: request.system } : {})
  }
}

export const makeAppServerEngine = (deps: {
  readonly paths: PluginPathsShape
  /** Where threads are held: an idle unload holds the thread as a rewrite does. */
  readonly turns: Pick<TurnsShape, "ifThreadFree">
  /** `thread_idle_unload_sec` of the config in force. */
  readonly idleUnloadSec: Effect.Effect<number>
  readonly groups: ProcessGroupsShape
  readonly rollouts: RolloutStoreShape
  readonly options?: AppServerEngineOptions
}) =>
  Effect.gen(function* () {
    const { paths, groups, rollouts } = deps
    const controlTimeoutMs = deps.options?.controlTimeoutMs ?? 5_000
    const settleMs = deps.options?.rolloutSettleMs ?? 2_000
    const toolsDir = Path.join(paths.stateDir, "app-server-threads")
    const layerScope = yield* Effect.scope
    const slotRef = yield* SynchronizedRef.make<Option.Option<Slot>>(Option.none())

    const closeSlot = (slot: Slot) => Scope.close(slot.scope, Exit.void)

    const startSlot = (config: Config, key: string) =>
      Effect.gen(function* () {
        const argv = appServerArgv(config.extra_args)
        const scope = yield* Scope.fork(layerScope, ExecutionStrategy.sequential)
        const conn = yield* startAppServerConnection(
          { binary: config.binary, args: argv.args, env: { ...process.env, CODEX_HOME: paths.codexHome }, cwd: process.cwd() },
          groups
        ).pipe(
          Scope.extend(scope),
          // On failure and on interruption (a turn cancelled while the app-server starts): never
          // leave a started process under the layer's scope until the plugin exits.
          Effect.onError(() => Scope.close(scope, Exit.void))
        )
        yield* Effect.logInfo(`codex app-server started (pid ${conn.pgid}, codex ${conn.version ?? "version unknown"})`)
        const threads = yield* Ref.make(HashMap.empty<string, LoadedThread>())
        const warnedDropped = yield* Ref.make(false)
        const slot = { key, conn, scope, threads, droppedArgs: argv.dropped, warnedDropped, model: argv.model } satisfies Slot
        // Before 0.169 unloading means archiving and unarchiving the user's rollout: not on a timer.
        const unloadsCleanly = conn.version !== undefined && compareVersions(conn.version, UNSUBSCRIBE_UNLOADS_FROM) >= 0
        if (unloadsCleanly) yield* unloadIdleThreads(slot).pipe(Effect.interruptible, Effect.forkIn(scope))
        return slot
      })

    /** The running app-server for this config, started (or restarted after a crash) as needed. */
    const acquireSlot = (config: Config) =>
      SynchronizedRef.modifyEffect(slotRef, (current) =>
        Effect.gen(function* () {
          const key = JSON.stringify([config.binary, appServerArgv(config.extra_args).args])
          if (Option.isSome(current)) {
            const slot = current.value
            if (slot.key === key && (yield* slot.conn.alive)) return [slot, current] as const
            if (slot.key !== key) yield* Effect.logWarning("codex app-server config changed (binary or extra_args); restarting it")
            yield* closeSlot(slot)
          }
          const slot = yield* startSlot(config, key)
          return [slot, Option.some(slot)] as const
        })
      )

    /** Forgets a slot whose app-server no longer answers, and ends its process group. */
    const discardSlot = (slot: Slot) =>
      SynchronizedRef.updateEffect(slotRef, (current) =>
        Effect.as(closeSlot(slot), Option.isSome(current) && current.value === slot ? Option.none() : current)
      )

    /**
     * How long an unload may take: the control timeout, and more the more threads this app-server
     * has loaded (at 128 agents codex confirmed some unloads only seconds later).
     */
    const unloadBoundMs = (slot: Slot) =>
      Effect.map(Ref.get(slot.threads), (threads) => Math.min(controlTimeoutMs + 100 * HashMap.size(threads), 60_000))

    /**
     * Waits until the app-server has let go of the thread: no longer holding codex's writer lock of
     * it nor its rollout open for writing. codex confirms the unload (`thread/closed`) before it
     * has always done both, and a rewrite must not meet this plugin's own app-server as a writer.
     */
    const awaitLetGo = (slot: Slot, threadId: string, boundMs: number) =>
      Effect.gen(function* () {
        const pid = slot.conn.pgid
        const lockFile = writerLockPath(paths.codexHome, threadId)
        const rollout = yield* rollouts.find(threadId).pipe(Effect.option)
        const holds = async () =>
          flockHolders(lockFile).includes(pid) || (Option.isSome(rollout) && (await rolloutWriters(rollout.value, [pid])).length > 0)
        const deadline = Date.now() + boundMs
        while (yield* Effect.promise(holds)) {
          if (Date.now() >= deadline) {
            return yield* Effect.logWarning(`codex app-server still holds thread ${threadId} ${boundMs} ms after unloading it`)
          }
          yield* Effect.sleep("20 millis")
        }
      })

    /**
     * What the shared app-server holds follows the active agents: a thread no turn has used for
     * `thread_idle_unload_sec` is unloaded, which frees its memory in codex and codex's writer lock
     * of it (so the user's own `codex resume` of it works again). Each unload holds the thread in
     * Turns, so no turn starts on it meanwhile, and looks again under that hold.
     */
    const unloadIdleThreads = (slot: Slot): Effect.Effect<never> => {
      const unloadIfIdle = (threadId: string, idleMs: number) =>
        Effect.gen(function* () {
          // Looked at again under the hold: a turn may have used it meanwhile.
          const thread = HashMap.get(yield* Ref.get(slot.threads), threadId)
          if (Option.isNone(thread) || Date.now() - thread.value.lastUsed < idleMs) return
          yield* unload(slot, threadId)
          yield* Effect.logInfo(`unloaded idle thread ${threadId} from codex app-server (no turn for ${Math.round(idleMs / 1000)} s)`)
        }).pipe(
          Effect.catchAll((e) =>
            // Forgotten all the same: the next turn resumes it, which codex answers whether or not it still has it loaded.
            Effect.zipRight(
              Ref.update(slot.threads, HashMap.remove(threadId)),
              Effect.logWarning(`codex app-server could not unload idle thread ${threadId}: ${e.message}`)
            )
          ),
          // A thread a turn (or a rewrite) holds is skipped, not waited for.
          deps.turns.ifThreadFree(threadId)
        )
      const sweep = Effect.gen(function* () {
        const idleMs = (yield* deps.idleUnloadSec) * 1000
        const now = Date.now()
        const idle = [...HashMap.filter(yield* Ref.get(slot.threads), (t) => now - t.lastUsed >= idleMs).pipe(HashMap.keys)]
        yield* Effect.forEach(idle, (threadId) => unloadIfIdle(threadId, idleMs), { concurrency: 4, discard: true })
        // Looked at again a few times per idle period: a thread is unloaded at most a quarter late.
        yield* Effect.sleep(Math.max(250, Math.min(idleMs / 4, 30_000)))
      })
      return Effect.forever(sweep)
    }

    /** Unloads a loaded thread so codex reads its rollout again on the next resume (CODEX.md). */
    const unload = (slot: Slot, threadId: string) =>
      Effect.gen(function* () {
        const loaded = HashMap.get(yield* Ref.get(slot.threads), threadId)
        if (Option.isNone(loaded)) return
        const modern = slot.conn.version !== undefined && compareVersions(slot.conn.version, UNSUBSCRIBE_UNLOADS_FROM) >= 0
        const boundMs = yield* unloadBoundMs(slot)
        yield* Effect.scoped(
          Effect.gen(function* () {
            const queue = yield* slot.conn.subscribe(threadId)
            if (modern) {
              yield* slot.conn.request("thread/unsubscribe", { threadId }, boundMs)
              yield* awaitSignal(queue, (n) => n.method === "thread/closed", boundMs, "thread/closed")
            } else {
              // 0.135/0.151 ignore thread_unload_delay_secs: archiving unloads, unarchiving puts the file back.
              yield* slot.conn.request("thread/archive", { threadId }, boundMs)
              yield* slot.conn.request("thread/unarchive", { threadId }, boundMs)
            }
          })
        )
        yield* Ref.update(slot.threads, HashMap.remove(threadId))
        yield* awaitLetGo(slot, threadId, boundMs)
      })

    /** Takes signals until one matches; fails when the app-server ends or the time is up. */
    const awaitSignal = (
      queue: Queue.Dequeue<ThreadSignal>,
      match: (n: ThreadSignal & { _tag: "Notification" } extends { notification: infer N } ? N : never) => boolean,
      timeoutMs: number,
      what: string
    ) =>
      Effect.gen(function* () {
        for (;;) {
          const signal = yield* Queue.take(queue)
          if (signal._tag === "Exited") return yield* Effect.fail(signal.error)
          if (match(signal.notification)) return
        }
      }).pipe(
        Effect.timeoutFail({
          duration: timeoutMs,
          onTimeout: () => new AppServerError({ reason: "timeout", message: `codex app-server sent no ${what} within ${timeoutMs} ms` })
        })
      )

    interface ChosenThread {
      readonly threadId: string
      readonly resumed: boolean
      readonly notices: ReadonlyArray<TurnEvent>
      readonly prompt: TurnPlan["prompt"]
    }

    const startThread = (slot: Slot, tools: DynamicToolSet, settings: ReturnType<typeof threadSettings>, settingsKey: string) =>
      Effect.gen(function* () {
        const answer = yield* slot.conn.request("thread/start", { ...settings, dynamicTools: tools.specs })
        const { thread } = yield* decodeThread(answer).pipe(Effect.mapError(protocolError("thread/start")))
        yield* Effect.try(() => writeThreadToolsKey(toolsDir, thread.id, tools.key)).pipe(
          Effect.catchAll((e) => Effect.logWarning(`could not record the tools of thread ${thread.id}: ${String(e.error)}`))
        )
        yield* Ref.update(slot.threads, HashMap.set(thread.id, { toolsKey: tools.key, settingsKey, lastUsed: Date.now() }))
        return thread.id
      })

    /** The thread this turn runs on: the loaded one, a resumed one, or a new one (PROTOCOL.md §4). */
    const chooseThread = (slot: Slot, plan: TurnPlan, tools: DynamicToolSet) =>
      Effect.gen(function* () {
        const settings = threadSettings(plan, slot)
        const { developerInstructions: _ignored, ...keyed } = settings as typeof settings & { developerInstructions?: string }
        const settingsKey = JSON.stringify(keyed)
        const wanted = plan.resumeThreadId
        if (wanted === undefined) {
          const threadId = yield* startThread(slot, tools, settings, settingsKey)
          return { threadId, resumed: false, notices: [], prompt: plan.prompt } satisfies ChosenThread
        }
        const loaded = HashMap.get(yield* Ref.get(slot.threads), wanted)
        const toolsKey = Option.isSome(loaded)
          ? loaded.value.toolsKey
          : yield* Effect.try(() => readThreadToolsKey(toolsDir, wanted) ?? NO_TOOLS_KEY).pipe(
            // Unreadable: treated as "no tools", which may move the conversation to a new thread; say so.
            Effect.catchAll((e) =>
              Effect.as(Effect.logWarning(`cannot read the tool record of thread ${wanted}: ${String(e.error)}; taking it as a thread without tools`), NO_TOOLS_KEY)
            )
          )
        if (toolsKey !== tools.key) {
          // codex fixes a thread's dynamic tools (a fork keeps them too): the conversation moves to a
          // new thread that carries it as a transcript, so the model is offered exactly this turn's tools.
          if (Option.isSome(loaded)) yield* unload(slot, wanted)
          const threadId = yield* startThread(slot, tools, settings, settingsKey)
          const carried = plan.newThreadPrompt !== undefined
          const notice: TurnEvent = {
            type: "notice",
            level: "info",
            message: `the turn's tools differ from those of thread ${wanted}; the conversation continues on new thread ${threadId}${carried ? " with its transcript" : ""}`
          }
          return { threadId, resumed: false, notices: [notice], prompt: plan.newThreadPrompt ?? plan.prompt } satisfies ChosenThread
        }
        if (Option.isSome(loaded) && loaded.value.settingsKey === settingsKey) {
          return { threadId: wanted, resumed: true, notices: [], prompt: plan.prompt } satisfies ChosenThread
        }
        // Not loaded, or loaded with another system prompt / sandbox / model: (re)load it with these.
        if (Option.isSome(loaded)) yield* unload(slot, wanted)
        const modern = slot.conn.version !== undefined && compareVersions(slot.conn.version, RESUME_EXCLUDES_TURNS_FROM) >= 0
        const answer = yield* slot.conn.request("thread/resume", {
          threadId: wanted,
          ...settings,
          ...(modern ? { excludeTurns: true } : {})
        })
        const { thread } = yield* decodeThread(answer).pipe(Effect.mapError(protocolError("thread/resume")))
        yield* Ref.update(slot.threads, HashMap.set(thread.id, { toolsKey, settingsKey, lastUsed: Date.now() }))
        if (thread.id !== wanted) {
          const notice: TurnEvent = { type: "notice", level: "warn", message: `thread ${wanted} could not be resumed; codex answered with thread ${thread.id}` }
          return { threadId: thread.id, resumed: false, notices: [notice], prompt: plan.newThreadPrompt ?? plan.prompt } satisfies ChosenThread
        }
        return { threadId: wanted, resumed: true, notices: [], prompt: plan.prompt } satisfies ChosenThread
      })

    /** Slot and thread; a connection that died since its last turn is dropped. */
    const prepare = (plan: TurnPlan, tools: DynamicToolSet) =>
      Effect.gen(function* () {
        const slot = yield* acquireSlot(plan.config)
        const chosen = yield* chooseThread(slot, plan, tools).pipe(
          Effect.tapError((e) => (e.reason === "exit" || e.reason === "timeout" ? discardSlot(slot) : Effect.void))
        )
        return { slot, chosen }
      })

    /**
     * Ends the turn on codex's side: interrupt, then end the commands it started (CODEX.md). A
     * turn interrupted while `turn/start` was on its way learns its id from `turn/started`.
     */
    const cancelTurn = (slot: Slot, threadId: string, progress: TurnProgress, queue: Queue.Dequeue<ThreadSignal>) =>
      Effect.gen(function* () {
        const state = yield* Ref.get(progress)
        if (state._tag !== "Sent" || !(yield* slot.conn.alive)) return
        let turnId = state.turnId
        if (turnId === undefined) {
          yield* awaitSignal(
            queue,
            (n) => {
              if (n.method === "turn/started") turnId = n.params.turn.id
              return n.method === "turn/started"
            },
            controlTimeoutMs,
            "turn/started after turn/start"
          )
        }
        yield* slot.conn.request("turn/interrupt", { threadId, turnId }, controlTimeoutMs)
        yield* awaitSignal(
          queue,
          (n) => n.method === "turn/completed" && n.params.turn.id === turnId,
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
            discardSlot(slot)
          )
        )
      )

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

    /** Everything up to codex's answer to `turn/start`: thread, subscription, host tools, offset. */
    const startTurn = (plan: TurnPlan, tools: DynamicToolSet, hooks: TurnHooks, turnScope: Scope.Scope) =>
      Effect.gen(function* () {
        const { slot, chosen } = yield* prepare(plan, tools)
        const { threadId } = chosen
        // The thread is idle from the turn's end on (unloadIdleThreads).
        yield* Effect.addFinalizer(() => Ref.update(slot.threads, HashMap.modify(threadId, (t) => ({ ...t, lastUsed: Date.now() }))))
        const queue = yield* slot.conn.subscribe(threadId)
        const progress: TurnProgress = yield* Ref.make<TurnProgressState>({ _tag: "NotSent" })
        // Runs before the subscription ends (finalizers run in reverse), so it still sees turn/completed.
        // A fiber of its own, interruptible: a finalizer is not, and the bounds on each step must be able to cut it.
        yield* Effect.addFinalizer(() =>
          Effect.fork(Effect.interruptible(cancelTurn(slot, threadId, progress, queue))).pipe(Effect.flatMap(Fiber.join))
        )
        // A call belongs to the turn codex names in it: one of an earlier turn of this thread (an
        // interrupted turn's call arriving late) is answered with an error, never run with this
        // turn's host tools. Calls wait until codex has named this turn; a turn that never starts
        // cancels them (the connection answers them as cancelled).
        const running = yield* Deferred.make<string>()
        yield* Effect.addFinalizer(() => Deferred.interrupt(running))
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
        // A new thread has no rollout yet (offset 0); a resumed one that cannot be read would make
        // earlier turns' calls look like this turn's, which the host must hear about.
        const fromOffset = yield* rollouts.find(threadId).pipe(
          Effect.flatMap(rollouts.endOffset),
          Effect.catchAll((e) =>
            chosen.resumed
              ? Effect.as(hooks.warn(`cannot read where the rollout of thread ${threadId} ends: ${e.message}; this turn's tool.blocks may include earlier calls`), 0)
              : Effect.succeed(0)
          )
        )
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
        }).pipe(Effect.tapError((e) => (e.reason === "exit" || e.reason === "timeout" ? discardSlot(slot) : Effect.void)))
        const turnId = (yield* decodeTurn(answer).pipe(Effect.mapError(protocolError("turn/start")))).turn.id
        yield* Ref.set(progress, { _tag: "Sent", turnId })
        yield* Deferred.succeed(running, turnId)
        return { slot, chosen, queue, turnId, fromOffset, progress }
      })

    const run = (plan: TurnPlan, hooks: TurnHooks): Stream.Stream<EngineOutput, TurnFailure> =>
      Stream.unwrapScoped(
        Effect.gen(function* () {
          const tools = dynamicToolSet(plan.params.request.tools ?? [])
          const turnScope = yield* Effect.scope
          // An app-server killed since the last turn may not have been seen to exit yet: a turn
          // that finds it gone before codex started the turn starts a fresh one, once.
          const started = yield* startTurn(plan, tools, hooks, turnScope).pipe(
            Effect.catchIf((e) => e.reason === "exit", () => startTurn(plan, tools, hooks, turnScope))
          )
          const { slot, chosen, queue, turnId, fromOffset, progress } = started
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
                yield* discardSlot(slot)
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

    const releaseThread = (threadId: string) =>
      Effect.gen(function* () {
        const current = yield* SynchronizedRef.get(slotRef)
        if (Option.isNone(current)) return
        const slot = current.value
        if (!(yield* slot.conn.alive)) return
        yield* unload(slot, threadId).pipe(
          Effect.catchAll((e) =>
            // An app-server that cannot unload a thread cannot be trusted with it: end it (the next turn restarts it).
            Effect.zipRight(Effect.logWarning(`codex app-server could not unload thread ${threadId} (${e.message}); ending it`), discardSlot(slot))
          )
        )
      }).pipe(Effect.withSpan("AppServerEngine.releaseThread"))

    /** The engine's own app-server, started and verified; one that cannot serve is ended at once. */
    const support = (config: Config) =>
      Effect.gen(function* () {
        const slot = yield* acquireSlot(config)
        const verdict = yield* verifyAppServer(slot.conn, controlTimeoutMs)
        if (!verdict.usable) yield* discardSlot(slot)
        return verdict
      }).pipe(Effect.catchAll((e) => Effect.succeed<EngineSupport>({ usable: false, reason: e.message })))

    return { run, releaseThread, support } satisfies AppServerEngineShape
  })

export const AppServerEngineLive = Layer.scoped(
  AppServerEngine,
  Effect.gen(function* () {
    const paths = yield* PluginPaths
    const groups = yield* ProcessGroups
    const rollouts = yield* RolloutStore
    const turns = yield* Turns
    const config = yield* ActiveConfig
    const idleUnloadSec = config.current.pipe(
      Effect.map((c) => c.thread_idle_unload_sec),
      Effect.orElseSucceed(() => defaultConfig.thread_idle_unload_sec)
    )
    return yield* makeAppServerEngine({ paths, groups, rollouts, turns, idleUnloadSec })
  })
)
