/**
 * The app-server engine (PROTOCOL.md §8): turns run as `turn/start` on a long-lived
 * `codex app-server`, host tools are the thread's dynamic tools, text streams as deltas. This
 * file only puts the engine's parts together:
 * - AppServerSlot.ts: the shared app-server (start, reuse, verify, its death, close);
 * - AppServerThreadLoad.ts / AppServerThreadUnload.ts: loading a thread, unloading it (by codex
 *   version, `awaitLetGo`, the idle sweeper);
 * - AppServerTurnStart.ts / AppServerTurnStream.ts: a turn's start and cancel, and its events.
 */
import { Effect, Layer } from "effect"
import * as Path from "node:path"
import { defaultConfig } from "../schemas/Config.ts"
import { ActiveConfig } from "../services/PluginConfig.ts"
import { PluginPaths, type PluginPathsShape } from "../services/PluginPaths.ts"
import { ProcessGroups, type ProcessGroupsShape } from "../services/ProcessGroups.ts"
import { RolloutStore, type RolloutStoreShape } from "../services/RolloutStore.ts"
import { AppServerEngine, type AppServerEngineShape } from "../services/TurnEngine.ts"
import { Turns, type TurnsShape } from "../services/Turns.ts"
import { makeSlotKeeper } from "./AppServerSlot.ts"
import { makeThreadLoader } from "./AppServerThreadLoad.ts"
import { makeThreadUnloader } from "./AppServerThreadUnload.ts"
import { makeTurnStarter } from "./AppServerTurnStart.ts"
import { makeTurnStream } from "./AppServerTurnStream.ts"

export interface AppServerEngineOptions {
  /** How long `turn/interrupt`, `thread/backgroundTerminals/clean` and an unload may take before the process group is ended. */
  readonly controlTimeoutMs?: number
  /** How long to wait for the rollout to show every tool call codex reported live. */
  readonly rolloutSettleMs?: number
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
    const unloader = makeThreadUnloader({ codexHome: paths.codexHome, rollouts, turns: deps.turns, idleUnloadSec: deps.idleUnloadSec, controlTimeoutMs })
    const keeper = yield* makeSlotKeeper({ paths, groups, onStart: unloader.sweepIdle })
    const loader = makeThreadLoader({ toolsDir: Path.join(paths.stateDir, "app-server-threads"), unloader })
    const starter = makeTurnStarter({ keeper, loader, groups, rollouts, controlTimeoutMs })
    const { run } = makeTurnStream({ keeper, starter, rollouts, settleMs: deps.options?.rolloutSettleMs ?? 2_000 })
    return {
      run,
      keepsThread: loader.keepsThread(keeper),
      releaseThread: (threadId: string) =>
        unloader.release(keeper, threadId).pipe(Effect.withSpan("AppServerEngine.releaseThread")),
      support: (config) => keeper.support(config, controlTimeoutMs)
    } satisfies AppServerEngineShape
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
