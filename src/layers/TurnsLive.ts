/**
 * Turns on STM: one TRef holds every running turn, by turn id and by agent, and every held
 * thread. Admission, release and thread holds are single transactions, so no check can be
 * overtaken by another fiber between looking and writing; a thread wait is an STM retry that
 * wakes when the holder lets go.
 */
import { Deferred, Effect, FiberId, HashMap, Layer, Option, STM, TRef } from "effect"
import type { RpcId } from "../schemas/JsonRpc.ts"
import { acquireReleaseInScope } from "../core/ScopeFinalizers.ts"
import { AgentBusy, type AdmittedTurn, TurnIdInUse, Turns, type TurnsShape } from "../services/Turns.ts"

interface Entry {
  readonly turnId: string
  readonly agentId: string
  readonly requestId: RpcId
  /** Unique per admission: a refused turn reusing the id can never remove this entry. */
  readonly token: symbol
  readonly onCancel: Effect.Effect<void>
  readonly done: Deferred.Deferred<void>
}

interface State {
  readonly byTurn: HashMap.HashMap<string, Entry>
  readonly byAgent: HashMap.HashMap<string, string>
  /** thread id → who holds it: a turn's token, or a rewrite's. */
  readonly threads: HashMap.HashMap<string, symbol>
}

const empty: State = { byTurn: HashMap.empty(), byAgent: HashMap.empty(), threads: HashMap.empty() }

export const makeTurns = Effect.gen(function* () {
  const state = yield* TRef.make(empty)

  const acquireThread = (threadId: string, holder: symbol) =>
    STM.flatMap(TRef.get(state), (s) =>
      Option.match(HashMap.get(s.threads, threadId), {
        onNone: () => TRef.set(state, { ...s, threads: HashMap.set(s.threads, threadId, holder) }),
        onSome: (current) => (current === holder ? STM.void : STM.retry)
      })
    ).pipe(STM.commit)

  /** Holds `threadId` for `holder` if nobody holds it; whether it did. */
  const tryAcquireThread = (threadId: string, holder: symbol) =>
    STM.flatMap(TRef.get(state), (s) =>
      HashMap.has(s.threads, threadId)
        ? STM.succeed(false)
        : STM.as(TRef.set(state, { ...s, threads: HashMap.set(s.threads, threadId, holder) }), true)
    ).pipe(STM.commit)

  const releaseThreads = (holder: symbol) =>
    TRef.update(state, (s) => ({ ...s, threads: HashMap.filter(s.threads, (h) => h !== holder) }))

  const insert = (entry: Entry) =>
    STM.flatMap(TRef.get(state), (s): STM.STM<void, AgentBusy | TurnIdInUse> => {
      const sameId = HashMap.get(s.byTurn, entry.turnId)
      if (Option.isSome(sameId)) {
        return STM.fail(new TurnIdInUse({
          turnId: entry.turnId,
          message: `turnId: turn ${entry.turnId} is already running`
        }))
      }
      const busy = HashMap.get(s.byAgent, entry.agentId)
      if (Option.isSome(busy)) {
        return STM.fail(new AgentBusy({
          agentId: entry.agentId,
          runningTurnId: busy.value,
          message: `agent busy: turn ${busy.value} of agent ${entry.agentId} is still running`
        }))
      }
      return TRef.set(state, {
        ...s,
        byTurn: HashMap.set(s.byTurn, entry.turnId, entry),
        byAgent: HashMap.set(s.byAgent, entry.agentId, entry.turnId)
      })
    }).pipe(STM.commit)

  /** Removes the entry only if it is still this admission's, with every thread it held. */
  const remove = (entry: Entry) =>
    TRef.update(state, (s) => {
      const current = HashMap.get(s.byTurn, entry.turnId)
      if (Option.isNone(current) || current.value.token !== entry.token) return s
      return {
        byTurn: HashMap.remove(s.byTurn, entry.turnId),
        byAgent: HashMap.remove(s.byAgent, entry.agentId),
        threads: HashMap.filter(s.threads, (h) => h !== entry.token)
      }
    }).pipe(STM.commit)

  const admit: TurnsShape["admit"] = (turn) =>
    // Released by the turn's own fiber, as it is (src/core/ScopeFinalizers.ts).
    acquireReleaseInScope(
      // Built in one step (no Effect.gen): admission runs once per turn, on the request's fiber.
      Effect.suspend(() => {
        const entry: Entry = {
          ...turn,
          token: Symbol(turn.turnId),
          done: Deferred.unsafeMake<void>(FiberId.none)
        }
        return Effect.as(insert(entry), entry)
      }),
      (entry) => Effect.zipRight(remove(entry), Deferred.succeed(entry.done, undefined))
    ).pipe(
      Effect.map((entry): AdmittedTurn => ({
        turnId: entry.turnId,
        agentId: entry.agentId,
        holdThread: (threadId) => acquireThread(threadId, entry.token)
      }))
    )

  const find = (predicate: (e: Entry) => boolean) =>
    Effect.map(TRef.get(state).pipe(STM.commit), (s) => HashMap.findFirst(s.byTurn, predicate))

  const cancelEntry = (entry: Option.Option<Entry>) =>
    Option.match(entry, {
      onNone: () => Effect.succeed(false),
      onSome: (e) => Effect.as(e.onCancel, true)
    })

  return {
    admit,
    cancel: (turnId) =>
      Effect.flatMap(TRef.get(state).pipe(STM.commit), (s) => cancelEntry(HashMap.get(s.byTurn, turnId))),
    cancelRequest: (id) => Effect.flatMap(find((e) => e.requestId === id), (found) => cancelEntry(Option.map(found, ([, e]) => e))),
    cancelAll: Effect.flatMap(TRef.get(state).pipe(STM.commit), (s) =>
      Effect.forEach(HashMap.values(s.byTurn), (e) => Effect.zipRight(e.onCancel, Deferred.await(e.done)), {
        concurrency: "unbounded",
        discard: true
      })),
    withThread: (threadId) => (self) =>
      Effect.acquireUseRelease(
        Effect.sync(() => Symbol(`rewrite ${threadId}`)).pipe(Effect.tap((holder) => acquireThread(threadId, holder))),
        () => self,
        (holder) => STM.commit(releaseThreads(holder))
      ),
    ifThreadFree: (threadId) => (self) =>
      Effect.acquireUseRelease(
        Effect.sync(() => Symbol(`idle ${threadId}`)).pipe(Effect.flatMap((holder) => Effect.map(tryAcquireThread(threadId, holder), (held) => ({ holder, held })))),
        ({ held }) => (held ? self : Effect.void),
        ({ holder }) => STM.commit(releaseThreads(holder))
      )
  } satisfies TurnsShape
})

export const TurnsLive = Layer.effect(Turns, makeTurns)
