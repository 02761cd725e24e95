/**
 * The plugin's JSON-RPC 2.0 peer on stdin/stdout (PROTOCOL.md §1–§3).
 * Incoming requests are dispatched to an `RpcRouter`; the plugin calls the
 * host with `request`/`notify`/`log`.
 */
import { Context, Schema } from "effect"
import type { Effect } from "effect"
import type { RpcRouter } from "../protocol/RpcRouter.ts"
import type { LogLevel } from "../schemas/Protocol.ts"

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
  readonly request: (method: string, params: unknown) => Effect.Effect<unknown, HostCallError>
  /** `host/log` to the host; warnings and errors are mirrored to stderr. */
  readonly log: (level: LogLevel, message: string, fields?: Record<string, unknown>) => Effect.Effect<void>
  /**
   * Serves incoming lines until stdin ends, then runs `router.onShutdown`, answers
   * what is still running, flushes stdout and returns.
   */
  readonly serve: (router: RpcRouter) => Effect.Effect<void>
}

export class PluginTransport extends Context.Tag("PluginTransport")<PluginTransport, PluginTransportShape>() {}
