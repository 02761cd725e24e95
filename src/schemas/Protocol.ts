/**
 * Wire shapes of the Plexum provider protocol (PROTOCOL.md §2–§4).
 * These are the types the host sees; codex's own shapes live in CodexEvent.ts.
 */
import { Schema } from "effect"
import { BoundedJsonObject } from "./BoundedJson.ts"

/** Ids and names from the host: long enough for any real one, short enough to log and hash. */
const MAX_ID_LENGTH = 1024
const boundedString = (what: string) =>
  Schema.String.pipe(
    Schema.minLength(1, { message: () => `${what} must be a non-empty string` }),
    Schema.maxLength(MAX_ID_LENGTH, { message: () => `${what} must be at most ${MAX_ID_LENGTH} characters` })
  )

export const PROTOCOL_VERSION = 1

export const AgentContext = Schema.Struct({
  agentId: boundedString("agentId"),
  workspace: Schema.String.pipe(
    Schema.filter((s) => s.startsWith("/") || "workspace must be an absolute path")
  )
})
export type AgentContext = typeof AgentContext.Type

export const ContentPart = Schema.Union(
  Schema.Struct({ type: Schema.Literal("text"), text: Schema.String }),
  Schema.Struct({
    type: Schema.Literal("image"),
    path: Schema.String.pipe(Schema.filter((p) => (p.length > 0 && !p.includes("\0")) || "image path must be non-empty and hold no NUL"))
  })
)
export type ContentPart = typeof ContentPart.Type

export const Message = Schema.Struct({
  role: Schema.Literal("user", "assistant", "system", "tool"),
  content: Schema.Union(Schema.String, Schema.Array(ContentPart))
})
export type Message = typeof Message.Type

export const ToolSpec = Schema.Struct({
  name: boundedString("name"),
  description: Schema.optional(Schema.String),
  inputSchema: BoundedJsonObject
})
export type ToolSpec = typeof ToolSpec.Type

export const Sandbox = Schema.Literal("read-only", "workspace-write", "danger-full-access")
export type Sandbox = typeof Sandbox.Type

export const TurnOptions = Schema.Struct({
  sandbox: Schema.optional(Sandbox),
  reasoningEffort: Schema.optional(Schema.Literal("minimal", "low", "medium", "high")),
  outputSchema: Schema.optional(BoundedJsonObject),
  timeoutMs: Schema.optional(Schema.Int.pipe(Schema.positive()))
})
export type TurnOptions = typeof TurnOptions.Type

export const TurnRequest = Schema.Struct({
  messages: Schema.Array(Message),
  system: Schema.optional(Schema.String),
  tools: Schema.optional(Schema.Array(ToolSpec).pipe(Schema.maxItems(1024, { message: () => "at most 1024 tools" }))),
  session: Schema.optional(
    Schema.Struct({ threadId: Schema.optional(Schema.String), fresh: Schema.optional(Schema.Boolean) })
  ),
  options: Schema.optional(TurnOptions)
})
export type TurnRequest = typeof TurnRequest.Type

export const Usage = Schema.Struct({
  inputTokens: Schema.Number,
  cachedInputTokens: Schema.Number,
  outputTokens: Schema.Number,
  reasoningOutputTokens: Schema.Number
})
export type Usage = typeof Usage.Type

export const LiveToolKind = Schema.Literal("command", "file_change", "mcp", "dynamic", "web_search", "other")
export type LiveToolKind = typeof LiveToolKind.Type

export const FailureCode = Schema.Literal(
  "codex_not_found",
  "codex_exit",
  "codex_output",
  "turn_failed",
  "timeout",
  "cancelled",
  "bridge"
)
export type FailureCode = typeof FailureCode.Type

// Every event is a plain struct keyed by `type`, exactly as it goes on the wire.
const event = <T extends string, F extends Schema.Struct.Fields>(type: T, fields: F) =>
  Schema.Struct({ type: Schema.Literal(type), ...fields })

/** Canonical events streamed to the host as `provider/event`. */
export const TurnEvent = Schema.Union(
  event("turn.started", { threadId: Schema.String, resumed: Schema.Boolean }),
  event("message.delta", { itemId: Schema.String, delta: Schema.String }),
  event("message", { itemId: Schema.String, text: Schema.String }),
  event("reasoning.delta", { itemId: Schema.String, delta: Schema.String }),
  event("reasoning", { itemId: Schema.String, text: Schema.String }),
  event("tool.started", {
    itemId: Schema.String,
    kind: LiveToolKind,
    name: Schema.String,
    input: Schema.Unknown
  }),
  event("tool.completed", {
    itemId: Schema.String,
    kind: LiveToolKind,
    name: Schema.String,
    status: Schema.Literal("completed", "failed", "declined"),
    output: Schema.optional(Schema.Unknown),
    exitCode: Schema.optional(Schema.Number),
    error: Schema.optional(Schema.String)
  }),
  event("plan", {
    itemId: Schema.String,
    steps: Schema.Array(Schema.Struct({ text: Schema.String, done: Schema.Boolean }))
  }),
  event("notice", { level: Schema.Literal("info", "warn"), message: Schema.String }),
  event("tool.block", {
    blockId: Schema.String,
    name: Schema.String,
    namespace: Schema.optional(Schema.String),
    input: Schema.Unknown,
    output: Schema.Unknown,
    kind: Schema.Literal("function", "custom")
  }),
  event("usage", Usage.fields),
  event("turn.completed", {
    finalMessage: Schema.optional(Schema.String),
    usage: Schema.optional(Usage)
  }),
  event("turn.failed", { code: FailureCode, message: Schema.String })
)
export type TurnEvent = typeof TurnEvent.Type

export const ContentBlock = Schema.Union(
  Schema.Struct({ type: Schema.Literal("text"), text: Schema.String }),
  Schema.Struct({ type: Schema.Literal("image"), data: Schema.String, mimeType: Schema.String })
)
export type ContentBlock = typeof ContentBlock.Type

export const ToolResult = Schema.Struct({
  content: Schema.Array(ContentBlock),
  isError: Schema.optional(Schema.Boolean),
  structuredContent: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
})
export type ToolResult = typeof ToolResult.Type

export const InitializeParams = Schema.Struct({
  protocolVersion: Schema.Literal(PROTOCOL_VERSION),
  host: Schema.Struct({ name: Schema.String, version: Schema.String })
})

export const StreamParams = Schema.Struct({
  turnId: boundedString("turnId"),
  modelId: Schema.String,
  agent: AgentContext,
  request: TurnRequest
})
export type StreamParams = typeof StreamParams.Type

export const StreamResult = Schema.Struct({
  turnId: Schema.String,
  status: Schema.Literal("completed", "failed", "cancelled"),
  threadId: Schema.optional(Schema.String),
  usage: Schema.optional(Usage)
})
export type StreamResult = typeof StreamResult.Type

export const CancelParams = Schema.Struct({ turnId: Schema.String })

export const Mutation = Schema.Struct({
  blockId: Schema.String,
  op: Schema.Literal("light", "heavy")
})
export type Mutation = typeof Mutation.Type

export const MutateParams = Schema.Struct({
  agent: AgentContext,
  threadId: Schema.optional(Schema.String),
  mutations: Schema.Array(Mutation)
})
export type MutateParams = typeof MutateParams.Type

export const MutateResult = Schema.Struct({ touched: Schema.Int, missing: Schema.Array(Schema.String) })
export type MutateResult = typeof MutateResult.Type

export const HostToolCallParams = Schema.Struct({
  turnId: Schema.String,
  agentId: Schema.String,
  name: Schema.String,
  arguments: Schema.Record({ key: Schema.String, value: Schema.Unknown })
})
export type HostToolCallParams = typeof HostToolCallParams.Type

export const LogLevel = Schema.Literal("debug", "info", "warn", "error")
export type LogLevel = typeof LogLevel.Type
