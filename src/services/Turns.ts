/**
 * Which turns are running, owned once per plugin (PROTOCOL.md §2): admission by agent and by
 * turn id, cancel by turn id or by request id, and which threads are held (by a turn while codex
 * writes them, by a rewrite while it runs). Everything here survives repeated `initialize` calls,
 * whatever config they load: a running turn stays known, busy and cancellable until it ends.
 */
import { Context, Schema } from "effect"
import type { Effect, Scope } from "effect"
import type { RpcId } from "../schemas/JsonRpc.ts"

/** A second turn for an agent whose turn is still running (-32003). */
export class AgentBusy extends Schema.TaggedError<AgentBusy>()("AgentBusy", {
  agentId: Schema.String,
  runningTurnId: Schema.String,
  message: Schema.String
}) {}

/** A `turnId` that names a turn still running, of any agent (-32602). */
export class TurnIdInUse extends Schema.TaggedError<TurnIdInUse>()("TurnIdInUse", {
  turnId: Schema.String,
  message: Schema.String
}) {}

export interface AdmittedTurn {
  readonly turnId: string
  readonly agentId: string
  /**
   * Holds `threadId` for this turn until the turn ends: waits while a rewrite of that thread runs,
   * and makes later rewrites wait for the turn.
   */
  readonly holdThread: (threadId: string) => Effect.Effect<void>
}

export interface TurnsShape {
  /**
   * Admits a turn, decided atomically against every running turn; the entry (and every thread it
   * holds) is removed when the scope closes, and only this turn's entry.
   */
  readonly admit: (turn: {
    readonly turnId: string
    readonly agentId: string
    readonly requestId: RpcId
    /**
     * What cancelling the turn does (provider/cancel, $/cancelRequest, shutdown), run by whoever
     * cancels it; it may run more than once. An effect the turn gives, not one it waits on: the
     * turn's stop is one Deferred, with no fiber per way of stopping (TurnRunnerLive).
     */
    readonly onCancel: Effect.Effect<void>
  }) => Effect.Effect<AdmittedTurn, AgentBusy | TurnIdInUse, Scope.Scope>
  /** Cancels a running turn; false when no such turn runs. */
  readonly cancel: (turnId: string) => Effect.Effect<boolean>
  /** `$/cancelRequest`: cancels the turn that `provider/stream` request `id` runs. */
  readonly cancelRequest: (id: RpcId) => Effect.Effect<boolean>
  /** Cancels every running turn and waits until each has ended (plugin shutdown). */
  readonly cancelAll: Effect.Effect<void>
  /** Runs `self` holding `threadId`: waits until no turn holds it, and no turn takes it meanwhile. */
  readonly withThread: (threadId: string) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Runs `self` holding `threadId` if nobody holds it now; otherwise does nothing (never waits). */
  readonly ifThreadFree: (threadId: string) => <E, R>(self: Effect.Effect<void, E, R>) => Effect.Effect<void, E, R>
}

export class Turns extends Context.Tag("Turns")<Turns, TurnsShape>() {}
