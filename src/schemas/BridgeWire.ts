/**
 * The bridge socket between the plugin (ToolBridge, the listener) and
 * `mcp-host` (the peer codex starts): one JSON object per line, keyed by `type`.
 *
 * peer → plugin: `hello` first (its agent id), then any number of `list` / `call`.
 * plugin → peer: `welcome` or `refused` (then the plugin hangs up), `tools`,
 * `result` (always a ToolResult; failures are `isError` results), `error`.
 * Requests carry an `id` the answer echoes, so calls may overlap on one connection.
 */
import { Schema } from "effect"
import { ToolResult } from "./Protocol.ts"

export { BRIDGE_WIRE_VERSION } from "./BridgeEnv.ts"

export const RequestId = Schema.Union(Schema.Number, Schema.String)
export type RequestId = typeof RequestId.Type

// ---- peer → plugin

export const Hello = Schema.Struct({
  type: Schema.Literal("hello"),
  version: Schema.Number,
  agentId: Schema.String,
  /** The running turn's token (ENV_TURN_TOKEN), when codex handed one down. */
  token: Schema.optional(Schema.String)
})
export type Hello = typeof Hello.Type

export const ListRequest = Schema.Struct({ type: Schema.Literal("list"), id: RequestId })
export type ListRequest = typeof ListRequest.Type

export const CallRequest = Schema.Struct({
  type: Schema.Literal("call"),
  id: RequestId,
  /** The exposed (codex-facing) tool name. */
  name: Schema.String,
  arguments: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  /** codex's `_meta.callId` when it sent one: the call id its rollout records. */
  callId: Schema.optional(Schema.String)
})
export type CallRequest = typeof CallRequest.Type

/** Any other message kind: kept so it can be answered with an `error`, never fatal. */
export const UnknownPeerMessage = Schema.Struct({ type: Schema.String, id: Schema.optional(RequestId) })

export const PeerMessage = Schema.Union(Hello, ListRequest, CallRequest, UnknownPeerMessage)
export type PeerMessage = typeof PeerMessage.Type

// ---- plugin → peer

export const Welcome = Schema.Struct({ type: Schema.Literal("welcome"), turnId: Schema.String })
export const Refused = Schema.Struct({ type: Schema.Literal("refused"), message: Schema.String })

export const ExposedToolSpec = Schema.Struct({
  name: Schema.String,
  description: Schema.optional(Schema.String),
  inputSchema: Schema.Record({ key: Schema.String, value: Schema.Unknown })
})
export type ExposedToolSpec = typeof ExposedToolSpec.Type

export const ToolList = Schema.Struct({
  type: Schema.Literal("tools"),
  id: RequestId,
  tools: Schema.Array(ExposedToolSpec)
})
export const CallResult = Schema.Struct({ type: Schema.Literal("result"), id: RequestId, result: ToolResult })
export const WireError = Schema.Struct({
  type: Schema.Literal("error"),
  id: Schema.optional(RequestId),
  message: Schema.String
})

export const PluginMessage = Schema.Union(Welcome, Refused, ToolList, CallResult, WireError)
export type PluginMessage = typeof PluginMessage.Type

// ---- codex's view of a registration: `codex mcp get <name> --json` (CODEX.md "MCP servers")

export const CodexMcpTransport = Schema.Union(
  Schema.Struct({
    type: Schema.Literal("stdio"),
    command: Schema.String,
    args: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }),
    env: Schema.optionalWith(Schema.NullOr(Schema.Record({ key: Schema.String, value: Schema.String })), {
      default: () => null
    })
  }),
  // Other transports (streamable HTTP, later kinds): never ours, so never "identical".
  Schema.Struct({ type: Schema.String })
)

export const CodexMcpServer = Schema.Struct({
  name: Schema.String,
  enabled: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  transport: CodexMcpTransport,
  startup_timeout_sec: Schema.optionalWith(Schema.NullOr(Schema.Number), { default: () => null }),
  tool_timeout_sec: Schema.optionalWith(Schema.NullOr(Schema.Number), { default: () => null })
})
export type CodexMcpServer = typeof CodexMcpServer.Type
