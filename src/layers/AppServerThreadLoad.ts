/**
 * Loading the turn's thread into the shared app-server (PROTOCOL.md §4, §8), as the runner chose
 * it (src/core/turn/ThreadChoice.ts): a new thread with the turn's dynamic tools (`thread/start`,
 * its tools recorded on disk), the loaded one when it was loaded with the same settings, else the
 * thread (re)loaded with this turn's settings (`thread/resume`). It owns the loaded-thread records
 * of the slot, the settings a thread is loaded with, and the answer to whether a thread can go on
 * with a turn's tools (`keepsThread`).
 */
import { Effect, HashMap, Option, Ref } from "effect"
import { compareVersions, RESUME_EXCLUDES_TURNS_FROM } from "../core/codex/AppServerArgs.ts"
import { readThreadToolsKey, writeThreadToolsKey } from "../core/codex/AppServerThreadTools.ts"
import { cliModel } from "../core/codex/CodexArgs.ts"
import { dynamicToolSet, NO_TOOLS_KEY, type DynamicToolSet } from "../core/codex/DynamicTools.ts"
import { ThreadResult } from "../schemas/AppServerWire.ts"
import type { ToolSpec, TurnEvent } from "../schemas/Protocol.ts"
import type { AppServerError } from "../services/AppServerConnection.ts"
import type { TurnPlan } from "../services/TurnEngine.ts"
import { decodeAnswer } from "./AppServerReplies.ts"
import { rolloutPathOf, type Slot, type SlotKeeper } from "./AppServerSlot.ts"
import type { ThreadUnloader } from "./AppServerThreadUnload.ts"

/** The thread a turn runs on, as loaded. */
export interface LoadedTurnThread {
  readonly threadId: string
  readonly resumed: boolean
  readonly notices: ReadonlyArray<TurnEvent>
  readonly prompt: TurnPlan["prompt"]
}

const decodeStart = decodeAnswer(ThreadResult, "thread/start")
const decodeResume = decodeAnswer(ThreadResult, "thread/resume")

/**
 * The settings a thread is loaded with; a turn with another sandbox or model reloads the thread
 * with them. The developer instructions go along but do not count: codex keeps a thread's first
 * ones on resume (as `codex exec resume` does), so reloading for them would change nothing.
 */
const threadSettings = (plan: TurnPlan, slot: Slot) => {
  const request = plan.params.request
  const model = slot.model ?? cliModel(plan.params.modelId, plan.config.model_args)
  const keyed = {
    cwd: plan.params.agent.workspace,
    sandbox: request.options?.sandbox ?? plan.config.sandbox,
    approvalPolicy: "never",
    ...(model !== undefined ? { model } : {})
  }
  return {
    settings: { ...keyed, ...(request.system !== undefined && request.system !== "" ? { developerInstructions: request.system } : {}) },
    settingsKey: JSON.stringify(keyed)
  }
}

export const makeThreadLoader = (deps: { readonly toolsDir: string; readonly unloader: ThreadUnloader }) => {
  const { toolsDir, unloader } = deps

  const startThread = (slot: Slot, tools: DynamicToolSet, settings: object, settingsKey: string) =>
    Effect.gen(function* () {
      const { thread } = yield* decodeStart(yield* slot.conn.request("thread/start", { ...settings, dynamicTools: tools.specs }))
      // A thread without a record has none (keepsThread): a thread without tools needs no file
      // (an atomic write, ~1 ms of CPU per new thread).
      if (tools.key !== NO_TOOLS_KEY) {
        yield* Effect.try(() => writeThreadToolsKey(toolsDir, thread.id, tools.key)).pipe(
          Effect.catchAll((e) => Effect.logWarning(`could not record the tools of thread ${thread.id}: ${String(e.error)}`))
        )
      }
      yield* Ref.update(slot.threads, HashMap.set(thread.id, { toolsKey: tools.key, settingsKey, lastUsed: Date.now(), rolloutPath: rolloutPathOf(thread) }))
      return thread.id
    })

  /** The thread this turn runs on: the loaded one, a resumed one, or a new one (PROTOCOL.md §4). */
  const load = (slot: Slot, plan: TurnPlan, tools: DynamicToolSet): Effect.Effect<LoadedTurnThread, AppServerError> =>
    Effect.gen(function* () {
      const { settings, settingsKey } = threadSettings(plan, slot)
      const wanted = plan.resumeThreadId
      if (wanted === undefined) {
        const threadId = yield* startThread(slot, tools, settings, settingsKey)
        return { threadId, resumed: false, notices: [], prompt: plan.prompt }
      }
      // The runner resumes a thread only with the tools it was started with (keepsThread).
      const loaded = HashMap.get(yield* Ref.get(slot.threads), wanted)
      if (Option.isSome(loaded) && loaded.value.settingsKey === settingsKey) {
        return { threadId: wanted, resumed: true, notices: [], prompt: plan.prompt }
      }
      // Not loaded, or loaded with another system prompt / sandbox / model: (re)load it with these.
      if (Option.isSome(loaded)) yield* unloader.unload(slot, wanted)
      const modern = slot.conn.version !== undefined && compareVersions(slot.conn.version, RESUME_EXCLUDES_TURNS_FROM) >= 0
      const answer = yield* slot.conn.request("thread/resume", {
        threadId: wanted,
        ...settings,
        ...(modern ? { excludeTurns: true } : {})
      })
      const { thread } = yield* decodeResume(answer)
      yield* Ref.update(slot.threads, HashMap.set(thread.id, { toolsKey: tools.key, settingsKey, lastUsed: Date.now(), rolloutPath: rolloutPathOf(thread) }))
      if (thread.id !== wanted) {
        const notice: TurnEvent = { type: "notice", level: "warn", message: `thread ${wanted} could not be resumed; codex answered with thread ${thread.id}` }
        return { threadId: thread.id, resumed: false, notices: [notice], prompt: plan.newThreadPrompt ?? plan.prompt }
      }
      return { threadId: wanted, resumed: true, notices: [], prompt: plan.prompt }
    })

  /**
   * Whether a turn with these tools can go on with the thread (the runner's thread choice asks,
   * src/core/turn/ThreadChoice.ts): codex fixes a thread's dynamic tools at `thread/start` and
   * `thread/resume` cannot change them. The loaded thread's record, else the one on disk.
   */
  const keepsThread = (keeper: SlotKeeper) => (threadId: string, tools: ReadonlyArray<ToolSpec>) =>
    Effect.gen(function* () {
      const slot = yield* keeper.current
      const loaded = Option.isSome(slot) ? HashMap.get(yield* Ref.get(slot.value.threads), threadId) : Option.none()
      const toolsKey = Option.isSome(loaded)
        ? loaded.value.toolsKey
        : yield* Effect.try(() => readThreadToolsKey(toolsDir, threadId) ?? NO_TOOLS_KEY).pipe(
          // Unreadable: treated as "no tools", which may move the conversation to a new thread; say so.
          Effect.catchAll((e) =>
            Effect.as(Effect.logWarning(`cannot read the tool record of thread ${threadId}: ${String(e.error)}; taking it as a thread without tools`), NO_TOOLS_KEY)
          )
        )
      return toolsKey === dynamicToolSet(tools).key
    })

  /** The thread is idle from now on (the idle sweeper counts from here). */
  const markUsed = (slot: Slot, threadId: string) =>
    Ref.update(slot.threads, HashMap.modify(threadId, (t) => ({ ...t, lastUsed: Date.now() })))

  return { load, keepsThread, markUsed }
}

export type ThreadLoader = ReturnType<typeof makeThreadLoader>
