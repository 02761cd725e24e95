/**
 * Where a turn starts: one `provider/stream` request becomes one codex run
 * whose events reach the host as canonical TurnEvents (PROTOCOL.md §2, §4).
 */
import { Context, Schema } from "effect"
import type { Effect } from "effect"
import type { StreamParams, StreamResult, TurnEvent } from "../schemas/Protocol.ts"

/** A second turn for an agent whose turn is still running (-32003). */
export class AgentBusy extends Schema.TaggedError<AgentBusy>()("AgentBusy", {
  agentId: Schema.String,
  runningTurnId: Schema.String,
  message: Schema.String
}) {}

/** The requested model is not in the manifest (-32004). */
export class ModelNotServed extends Schema.TaggedError<ModelNotServed>()("ModelNotServed", {
  modelId: Schema.String,
  message: Schema.String
}) {}

export interface TurnRunnerShape {
  /**
   * Runs one turn, handing its events to `emit` in order, in batches (a batch
   * per chunk of codex output: per-event effects would cap throughput). Never fails once the
   * turn is admitted: every problem ends the turn with a `turn.failed` event.
   */
  readonly run: (
    params: StreamParams,
    emit: (events: ReadonlyArray<TurnEvent>) => Effect.Effect<void>
  ) => Effect.Effect<StreamResult, AgentBusy | ModelNotServed>
  /** Ends a running turn as `cancelled`; false when no such turn is running. */
  readonly cancel: (turnId: string) => Effect.Effect<boolean>
  /** Cancels every running turn and waits until each has ended (plugin shutdown). */
  readonly cancelAll: Effect.Effect<void>
}

export class TurnRunner extends Context.Tag("TurnRunner")<TurnRunner, TurnRunnerShape>() {}
