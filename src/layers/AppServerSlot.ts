/**
 * The app-server engine's shared slot (PROTOCOL.md §8): the one running `codex app-server` every
 * agent's turns use. It owns starting it (and verifying it can serve), reusing it while it lives
 * and its binary and flags match the config, replacing it when they differ, forgetting it (its
 * process group ended) when it died or cannot be trusted, and closing it with the engine's layer.
 *
 * Why one app-server shared by every agent rather than one per agent: threads are what isolates
 * agents (each thread has its own dynamic tools, cwd, sandbox and history, and a tool call is
 * routed by its thread id to the one turn running on it), so a second process would only add its
 * start-up (~70 ms) and memory per agent. The price is that a crash fails every running turn at
 * once; each of them fails with `codex_exit` and the next turn starts a fresh app-server, which
 * resumes the thread from its rollout. A config whose binary or `extra_args` differ from the
 * running app-server's replaces it (its running turns fail): those are settings of the process.
 */
import { Effect, ExecutionStrategy, Exit, HashMap, Option, Ref, Scope, SynchronizedRef } from "effect"
import * as Path from "node:path"
import { appServerArgv } from "../core/codex/AppServerArgs.ts"
import { isFile } from "../core/rollout/RolloutLocate.ts"
import type { Config } from "../schemas/Config.ts"
import type { AppServerConnectionShape, AppServerError } from "../services/AppServerConnection.ts"
import type { PluginPathsShape } from "../services/PluginPaths.ts"
import type { ProcessGroupsShape } from "../services/ProcessGroups.ts"
import type { RolloutNotFound, RolloutReadError, RolloutStoreShape } from "../services/RolloutStore.ts"
import type { EngineSupport } from "../services/TurnEngine.ts"
import { startAppServerConnection } from "./AppServerConnectionLive.ts"
import { verifyAppServer } from "./AppServerSupport.ts"

/** A thread loaded in the running app-server, with what it was loaded with. */
export interface LoadedThread {
  readonly toolsKey: string
  readonly settingsKey: string
  /** When it was loaded or a turn last ended on it (a running turn holds it in Turns besides). */
  readonly lastUsed: number
  /** Its rollout file as codex named it when loading it (`rolloutPathOf`), if it did. */
  readonly rolloutPath: string | undefined
}

/**
 * The rollout path in a `thread/start` / `thread/resume` answer, if it is one for this thread:
 * absolute, and named as codex names a thread's rollout (`rollout-<time>-<thread id>.jsonl`).
 * Anything else is not trusted: the thread's rollout is then searched for (RolloutStore.find).
 */
export const rolloutPathOf = (thread: { readonly id: string; readonly path?: string | null | undefined }): string | undefined => {
  const path = thread.path
  if (typeof path !== "string" || !Path.isAbsolute(path)) return undefined
  const name = Path.basename(path)
  return name.startsWith("rollout-") && name.endsWith(`-${thread.id}.jsonl`) ? path : undefined
}

/**
 * The thread's rollout: the path codex named when it loaded the thread while that file is there
 * (saves the search through CODEX_HOME's day directories), else the search, as for a codex that
 * names none or a rollout moved since (archived).
 */
export const threadRollout = (
  rollouts: RolloutStoreShape,
  slot: Slot,
  threadId: string
): Effect.Effect<string, RolloutNotFound | RolloutReadError> =>
  Effect.flatMap(Ref.get(slot.threads), (threads) =>
    rolloutAt(rollouts, Option.getOrUndefined(HashMap.get(threads, threadId))?.rolloutPath, threadId))

/** `known` (a `rolloutPathOf` path) while it is a file, else the search. */
export const rolloutAt = (
  rollouts: RolloutStoreShape,
  known: string | undefined,
  threadId: string
): Effect.Effect<string, RolloutNotFound | RolloutReadError> =>
  // One stat of a local file, synchronous (as RolloutStore.find's own check of a path it knows).
  known !== undefined && isFile(known) ? Effect.succeed(known) : rollouts.find(threadId)

export interface Slot {
  /** binary + argv: what makes two app-servers different processes. */
  readonly key: string
  readonly conn: AppServerConnectionShape
  /** Closed when the slot is: ends the app-server and every fiber forked for it. */
  readonly scope: Scope.CloseableScope
  readonly threads: Ref.Ref<HashMap.HashMap<string, LoadedThread>>
  readonly droppedArgs: ReadonlyArray<string>
  /** Whether a turn has warned about `droppedArgs` yet (once per app-server, not every turn). */
  readonly warnedDropped: Ref.Ref<boolean>
  readonly model: string | undefined
}

export interface SlotKeeper {
  /** The running app-server for this config, started (or restarted after a crash) as needed. */
  readonly acquire: (config: Config) => Effect.Effect<Slot, AppServerError>
  /** The running app-server, if any (nothing is started). */
  readonly current: Effect.Effect<Option.Option<Slot>>
  /** Forgets a slot whose app-server no longer answers, and ends its process group. */
  readonly discard: (slot: Slot) => Effect.Effect<void>
  /** The app-server for this config, started and verified; one that cannot serve is ended at once. */
  readonly support: (config: Config, timeoutMs: number) => Effect.Effect<EngineSupport>
}

/**
 * `onStart` runs once for each app-server started, with the slot (what runs for it is forked
 * into `slot.scope`, so it ends with the slot).
 */
export const makeSlotKeeper = (deps: {
  readonly paths: PluginPathsShape
  readonly groups: ProcessGroupsShape
  readonly onStart: (slot: Slot) => Effect.Effect<void>
}): Effect.Effect<SlotKeeper, never, Scope.Scope> =>
  Effect.gen(function* () {
    const layerScope = yield* Effect.scope
    const slotRef = yield* SynchronizedRef.make<Option.Option<Slot>>(Option.none())

    const close = (slot: Slot) => Scope.close(slot.scope, Exit.void)

    const start = (config: Config, key: string) =>
      Effect.gen(function* () {
        const argv = appServerArgv(config.extra_args)
        const scope = yield* Scope.fork(layerScope, ExecutionStrategy.sequential)
        const conn = yield* startAppServerConnection(
          { binary: config.binary, args: argv.args, env: { ...process.env, CODEX_HOME: deps.paths.codexHome }, cwd: process.cwd() },
          deps.groups
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
        yield* deps.onStart(slot)
        return slot
      })

    const keyOf = (config: Config) => JSON.stringify([config.binary, appServerArgv(config.extra_args).args])

    // Under the lock, every turn: a slot being discarded (a failed cancel or unload in another turn)
    // keeps its place until its close is done, and a turn must wait for the fresh app-server, not take
    // the one that is closing.
    const acquire = (config: Config) =>
      SynchronizedRef.modifyEffect(slotRef, (current) =>
        Effect.gen(function* () {
          const key = keyOf(config)
          if (Option.isSome(current)) {
            const slot = current.value
            if (slot.key === key && (yield* slot.conn.alive)) return [slot, current] as const
            if (slot.key !== key) yield* Effect.logWarning("codex app-server config changed (binary or extra_args); restarting it")
            yield* close(slot)
          }
          const slot = yield* start(config, key)
          return [slot, Option.some(slot)] as const
        })
      )

    const discard = (slot: Slot) =>
      SynchronizedRef.updateEffect(slotRef, (current) =>
        Effect.as(close(slot), Option.isSome(current) && current.value === slot ? Option.none() : current)
      )

    const support = (config: Config, timeoutMs: number) =>
      Effect.gen(function* () {
        const slot = yield* acquire(config)
        const verdict = yield* verifyAppServer(slot.conn, timeoutMs)
        if (!verdict.usable) yield* discard(slot)
        return verdict
      }).pipe(Effect.catchAll((e) => Effect.succeed<EngineSupport>({ usable: false, reason: e.message })))

    return { acquire, current: SynchronizedRef.get(slotRef), discard, support } satisfies SlotKeeper
  })
