/**
 * Where a turn starts: one `provider/stream` request becomes the turn's canonical TurnEvents
 * (PROTOCOL.md §2, §4), ending with exactly one `turn.completed` or `turn.failed`, and the
 * summary its answer is made of. The runner decides both; its caller numbers and writes.
 */
import { Context, Schema } from "effect"
import type { Chunk, Effect } from "effect"
import type { RpcId } from "../schemas/JsonRpc.ts"
import type { StreamParams, StreamResult, TurnEvent, Usage } from "../schemas/Protocol.ts"
import type { NotInitialized } from "./PluginConfig.ts"
import type { AgentBusy, TurnIdInUse } from "./Turns.ts"

/** The requested model is not in the manifest (-32004). */
export class ModelNotServed extends Schema.TaggedError<ModelNotServed>()("ModelNotServed", {
  modelId: Schema.String,
  message: Schema.String
}) {}

/** Why a turn was refused before it started; a refused turn sends no event. */
export type TurnRefused = NotInitialized | ModelNotServed | AgentBusy | TurnIdInUse

/** What the `provider/stream` answer says of a turn that ran (PROTOCOL.md §2). */
export interface TurnSummary {
  readonly status: StreamResult["status"]
  /** The turn's thread, once codex named it. */
  readonly threadId: string | undefined
  /** The turn's usage, when it completed with one. */
  readonly usage: Usage | undefined
}

export interface TurnRunnerShape {
  /**
   * Runs the turn, handing its events to `write` a chunk at a time (one chunk per piece of codex
   * output), the terminal event last, and returns its summary once everything the turn started
   * has ended. Fails only with a refusal, before any event; once admitted every problem ends the
   * turn with a `turn.failed` event instead. Interrupting it ends the turn and everything it
   * started; a `provider/cancel` (through Turns) ends it with `turn.failed {code: "cancelled"}`.
   */
  readonly run: (
    params: StreamParams,
    requestId: RpcId,
    write: (events: Chunk.Chunk<TurnEvent>) => Effect.Effect<void>
  ) => Effect.Effect<TurnSummary, TurnRefused>
}

export class TurnRunner extends Context.Tag("TurnRunner")<TurnRunner, TurnRunnerShape>() {}
