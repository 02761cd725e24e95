/**
 * Unloading a thread from the shared app-server (CODEX.md "`codex app-server`"), so codex reads
 * its rollout again on the next resume and lets go of its writer lock: the version-specific
 * unload, the wait until the process has really let go of the thread (`awaitLetGo`), the idle
 * sweeper that unloads threads no turn has used for `thread_idle_unload_sec`, and the release a
 * rewrite of the rollout asks for (`releaseThread`, PROTOCOL.md §5).
 */
import { Effect, HashMap, Option, Ref } from "effect"
import { compareVersions, UNSUBSCRIBE_UNLOADS_FROM } from "../core/codex/AppServerArgs.ts"
import { writerLockPath } from "../core/codex/CodexWriterLock.ts"
import { flockHolders, rolloutWriters } from "../core/rollout/RolloutWriters.ts"
import type { AppServerError } from "../services/AppServerConnection.ts"
import type { RolloutStoreShape } from "../services/RolloutStore.ts"
import type { TurnsShape } from "../services/Turns.ts"
import { awaitSignal, method } from "./AppServerReplies.ts"
import { rolloutAt, type Slot, type SlotKeeper } from "./AppServerSlot.ts"

export interface ThreadUnloader {
  /** Unloads a loaded thread (nothing when it is not loaded) and waits until codex has let go of it. */
  readonly unload: (slot: Slot, threadId: string) => Effect.Effect<void, AppServerError>
  /** Forks the idle sweeper into the slot's scope, where unloading is clean (codex 0.169 on). */
  readonly sweepIdle: (slot: Slot) => Effect.Effect<void>
  /** No app-server of this engine holds the thread when it returns (`TurnEngine.releaseThread`). */
  readonly release: (keeper: SlotKeeper, threadId: string) => Effect.Effect<void>
}

/** Whether this codex unloads with `thread/unsubscribe`; before 0.169 unloading means archiving and unarchiving. */
const unsubscribeUnloads = (slot: Slot) =>
  slot.conn.version !== undefined && compareVersions(slot.conn.version, UNSUBSCRIBE_UNLOADS_FROM) >= 0

export const makeThreadUnloader = (deps: {
  readonly codexHome: string
  readonly rollouts: RolloutStoreShape
  /** Where threads are held: an idle unload holds the thread as a rewrite does. */
  readonly turns: Pick<TurnsShape, "ifThreadFree">
  /** `thread_idle_unload_sec` of the config in force. */
  readonly idleUnloadSec: Effect.Effect<number>
  readonly controlTimeoutMs: number
}): ThreadUnloader => {
  /**
   * How long an unload may take: the control timeout, and more the more threads this app-server
   * has loaded (at 128 agents codex confirmed some unloads only seconds later).
   */
  const unloadBoundMs = (slot: Slot) =>
    Effect.map(Ref.get(slot.threads), (threads) => Math.min(deps.controlTimeoutMs + 100 * HashMap.size(threads), 60_000))

  /**
   * Waits until the app-server has let go of the thread: no longer holding codex's writer lock of
   * it nor its rollout open for writing. codex confirms the unload (`thread/closed`) before it
   * has always done both, and a rewrite must not meet this plugin's own app-server as a writer.
   */
  const awaitLetGo = (slot: Slot, threadId: string, knownRollout: string | undefined, boundMs: number) =>
    Effect.gen(function* () {
      const pid = slot.conn.pgid
      const lockFile = writerLockPath(deps.codexHome, threadId)
      const rollout = yield* rolloutAt(deps.rollouts, knownRollout, threadId).pipe(Effect.option)
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

  const unload = (slot: Slot, threadId: string) =>
    Effect.gen(function* () {
      const loaded = HashMap.get(yield* Ref.get(slot.threads), threadId)
      if (Option.isNone(loaded)) return
      const boundMs = yield* unloadBoundMs(slot)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const queue = yield* slot.conn.subscribe(threadId)
          if (unsubscribeUnloads(slot)) {
            yield* slot.conn.request("thread/unsubscribe", { threadId }, boundMs)
            yield* awaitSignal(queue, method("thread/closed"), boundMs, "thread/closed")
          } else {
            // 0.135/0.151 ignore thread_unload_delay_secs: archiving unloads, unarchiving puts the file back.
            yield* slot.conn.request("thread/archive", { threadId }, boundMs)
            yield* slot.conn.request("thread/unarchive", { threadId }, boundMs)
          }
        })
      )
      yield* Ref.update(slot.threads, HashMap.remove(threadId))
      // Where codex named the rollout when it loaded the thread, still checked to be there (an
      // archive and unarchive may have moved it): no search of CODEX_HOME's sessions per unload.
      yield* awaitLetGo(slot, threadId, loaded.value.rolloutPath, boundMs)
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

  // Before 0.169 unloading means archiving and unarchiving the user's rollout: not on a timer.
  const sweepIdle = (slot: Slot) =>
    unsubscribeUnloads(slot) ? Effect.asVoid(unloadIdleThreads(slot).pipe(Effect.interruptible, Effect.forkIn(slot.scope))) : Effect.void

  const release = (keeper: SlotKeeper, threadId: string) =>
    Effect.gen(function* () {
      const current = yield* keeper.current
      if (Option.isNone(current)) return
      const slot = current.value
      if (!(yield* slot.conn.alive)) return
      yield* unload(slot, threadId).pipe(
        Effect.catchAll((e) =>
          // An app-server that cannot unload a thread cannot be trusted with it: end it (the next turn restarts it).
          Effect.zipRight(Effect.logWarning(`codex app-server could not unload thread ${threadId} (${e.message}); ending it`), keeper.discard(slot))
        )
      )
    })

  return { unload, sweepIdle, release }
}
