/**
 * The plugin's JSON-RPC 2.0 peer towards the host (PROTOCOL.md §1–§3): notifications and
 * `provider/event` batches out, plugin→host calls in flight, and the answers to host requests.
 * Dispatching host requests is src/protocol/RpcDispatcher.ts; logs go through `Effect.log*`
 * (src/protocol/HostLogger.ts).
 */
import { Context, Schema } from "effect"
import type { Effect } from "effect"
import type { IncomingResponse, RpcId } from "../schemas/JsonRpc.ts"

/** The host answered a plugin→host request with an error, or could no longer answer. */
export class HostCallError extends Schema.TaggedError<HostCallError>()("HostCallError", {
  method: Schema.String,
  code: Schema.optional(Schema.Number),
  message: Schema.String,
  data: Schema.optional(Schema.Unknown)
}) {}

export interface PluginTransportShape {
  readonly notify: (method: string, params: unknown) => Effect.Effect<void>
  /**
   * `provider/event {turnId, seq, event}` for each event, `seq` counting on from `firstSeq`, written
   * as one stdout write: the hottest path of the plugin, so the envelope is serialised once.
   */
  readonly notifyTurnEvents: (turnId: string, firstSeq: number, events: ReadonlyArray<unknown>) => Effect.Effect<void>
  /** A plugin→host request; fails once the host has gone (`hostGone`). */
  readonly request: (method: string, params: unknown) => Effect.Effect<unknown, HostCallError>
  /** Answers a host request. */
  readonly reply: (id: RpcId, result: unknown) => Effect.Effect<void>
  /** Answers a host request (or a line with no usable id: `id` null) with a JSON-RPC error. */
  readonly replyError: (id: RpcId | null, code: number, message: string, data?: unknown) => Effect.Effect<void>
  /** The host's answer to one of our requests; an answer for no call in flight is ignored. */
  readonly settle: (response: IncomingResponse) => Effect.Effect<void>
  /** stdin ended: every call in flight fails, and so does every later one. */
  readonly hostGone: Effect.Effect<void>
}

export class PluginTransport extends Context.Tag("PluginTransport")<PluginTransport, PluginTransportShape>() {}
