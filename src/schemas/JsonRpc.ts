/** JSON-RPC 2.0 envelopes as they cross stdin/stdout (PROTOCOL.md §1–§2). */
import { Schema } from "effect"

export const RpcId = Schema.Union(Schema.String, Schema.Number.pipe(Schema.finite()))
export type RpcId = typeof RpcId.Type

export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  Internal: -32603,
  NotInitialized: -32001,
  ConfigInvalid: -32002,
  AgentBusy: -32003,
  ModelNotServed: -32004,
  NoRollout: -32006,
  ThreadInUse: -32007
} as const

export const RpcErrorObject = Schema.Struct({
  code: Schema.Number,
  message: Schema.String,
  data: Schema.optional(Schema.Unknown)
})
export type RpcErrorObject = typeof RpcErrorObject.Type

const jsonrpc = Schema.Literal("2.0")

/** An incoming request or notification (a notification has no `id`). */
export const IncomingCall = Schema.Struct({
  jsonrpc,
  id: Schema.optional(RpcId),
  method: Schema.String,
  params: Schema.optional(Schema.Union(Schema.Record({ key: Schema.String, value: Schema.Unknown }), Schema.Array(Schema.Unknown)))
})
export type IncomingCall = typeof IncomingCall.Type

/** An incoming response to a request this plugin sent (e.g. `host/tools/call`). */
export const IncomingResponse = Schema.Union(
  // An error answer first: `result: Unknown` would also accept a message with no `result` key.
  Schema.Struct({ jsonrpc, id: Schema.NullOr(RpcId), error: RpcErrorObject }),
  Schema.Struct({ jsonrpc, id: RpcId, result: Schema.Unknown })
)
export type IncomingResponse = typeof IncomingResponse.Type
