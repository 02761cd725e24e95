/**
 * Where a turn starts: one `provider/stream` request becomes one Stream of canonical TurnEvents
 * (PROTOCOL.md §2, §4), ending with exactly one `turn.completed` or `turn.failed`.
 */
import { Context, Schema } from "effect"
import type { Stream } from "effect"
import type { RpcId } from "../schemas/JsonRpc.ts"
import type { StreamParams, TurnEvent } from "../schemas/Protocol.ts"
import type { NotInitialized } from "./PluginConfig.ts"
import type { AgentBusy, TurnIdInUse } from "./Turns.ts"

/** The requested model is not in the manifest (-32004). */
export class ModelNotServed extends Schema.TaggedError<ModelNotServed>()("ModelNotServed", {
  modelId: Schema.String,
  message: Schema.String
}) {}

/** Why a turn was refused before it started; a refused turn sends no event. */
export type TurnRefused = NotInitialized | ModelNotServed | AgentBusy | TurnIdInUse

export interface TurnRunnerShape {
  /**
   * The turn's events. Fails only with a refusal, before the first event; once admitted every
   * problem ends the stream with a `turn.failed` event instead. Events come in chunks (one per
   * piece of codex output), so a consumer can write a chunk at a time. Interrupting the stream
   * ends the turn and everything it started; a `provider/cancel` (through Turns) ends it with
   * `turn.failed {code: "cancelled"}`.
   */
  readonly run: (params: StreamParams, requestId: RpcId) => Stream.Stream<TurnEvent, TurnRefused>
}

export class TurnRunner extends Context.Tag("TurnRunner")<TurnRunner, TurnRunnerShape>() {}
