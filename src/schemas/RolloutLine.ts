/**
 * Shapes of codex rollout lines (CODEX.md "Rollouts"): `{timestamp, type, payload, …}` per line.
 * Only what this plugin reads is modelled; every union ends with a catch-all member so a new
 * codex line or payload kind is kept, never fatal. These schemas are for reading only: a rewrite
 * splices values textually (RolloutRewrite.ts) so fields not modelled here survive unchanged.
 */
import { Schema } from "effect"

const endsWith = (suffix: string) =>
  Schema.String.pipe(Schema.filter((s) => s.endsWith(suffix) || `a type ending in ${suffix}`))

/** `function_call {name, namespace?, arguments, call_id}`: a function or MCP tool call. */
export const FunctionCallPayload = Schema.Struct({
  type: Schema.Literal("function_call"),
  call_id: Schema.String,
  name: Schema.String,
  namespace: Schema.optional(Schema.String),
  arguments: Schema.Unknown
})

/** `custom_tool_call {name, input, call_id}`: a freeform tool such as `apply_patch`. */
export const CustomToolCallPayload = Schema.Struct({
  type: Schema.Literal("custom_tool_call"),
  call_id: Schema.String,
  name: Schema.String,
  input: Schema.Unknown
})

/** Any other `*_call` carrying a `call_id` (e.g. `local_shell_call {action}`). */
export const OtherCallPayload = Schema.Struct({
  type: endsWith("_call"),
  call_id: Schema.String,
  name: Schema.optional(Schema.Unknown),
  namespace: Schema.optional(Schema.Unknown),
  arguments: Schema.optional(Schema.Unknown),
  input: Schema.optional(Schema.Unknown),
  action: Schema.optional(Schema.Unknown)
})

/** `function_call_output`, `custom_tool_call_output` and any other `*_output` with a `call_id`. */
export const ToolOutputPayload = Schema.Struct({
  type: endsWith("_output"),
  call_id: Schema.String,
  /** A string or an array of content items for codex; kept exactly as recorded. */
  output: Schema.optional(Schema.Unknown)
})

export const MessagePayload = Schema.Struct({
  type: Schema.Literal("message"),
  role: Schema.String,
  content: Schema.optional(Schema.Unknown)
})

export const OtherPayload = Schema.Struct({ type: Schema.String })

export const ResponseItemPayload = Schema.Union(
  FunctionCallPayload,
  CustomToolCallPayload,
  ToolOutputPayload,
  OtherCallPayload,
  MessagePayload,
  OtherPayload
)
export type ResponseItemPayload = typeof ResponseItemPayload.Type

export const SessionMetaLine = Schema.Struct({
  type: Schema.Literal("session_meta"),
  timestamp: Schema.optional(Schema.String),
  payload: Schema.Struct({
    id: Schema.String,
    cwd: Schema.optional(Schema.String),
    cli_version: Schema.optional(Schema.String),
    originator: Schema.optional(Schema.String),
    timestamp: Schema.optional(Schema.String)
  })
})

export const TurnContextLine = Schema.Struct({
  type: Schema.Literal("turn_context"),
  timestamp: Schema.optional(Schema.String),
  payload: Schema.Struct({
    turn_id: Schema.optional(Schema.String),
    cwd: Schema.optional(Schema.String),
    model: Schema.optional(Schema.String)
  })
})

export const ResponseItemLine = Schema.Struct({
  type: Schema.Literal("response_item"),
  timestamp: Schema.optional(Schema.String),
  payload: ResponseItemPayload
})

/** `event_msg`: codex's UI events (`task_started`, `token_count`, `user_message`, …). */
export const EventMsgLine = Schema.Struct({
  type: Schema.Literal("event_msg"),
  timestamp: Schema.optional(Schema.String),
  payload: Schema.Struct({ type: Schema.String }, { key: Schema.String, value: Schema.Unknown })
})

export const OtherLine = Schema.Struct({
  type: Schema.String,
  timestamp: Schema.optional(Schema.Unknown),
  payload: Schema.optional(Schema.Unknown)
})

export const RolloutLine = Schema.Union(SessionMetaLine, TurnContextLine, ResponseItemLine, EventMsgLine, OtherLine)
export type RolloutLine = typeof RolloutLine.Type

/** Line types codex 0.169 writes; anything else is reported by `rollout inspect` but kept. */
export const KNOWN_LINE_TYPES: ReadonlySet<string> = new Set([
  "session_meta",
  "turn_context",
  "event_msg",
  "response_item",
  "world_state",
  "token_usage_record",
  "compacted"
])

/** `response_item` payload types codex 0.169 writes or reads back. */
export const KNOWN_PAYLOAD_TYPES: ReadonlySet<string> = new Set([
  "message",
  "reasoning",
  "function_call",
  "function_call_output",
  "custom_tool_call",
  "custom_tool_call_output",
  "local_shell_call",
  "web_search_call",
  "tool_search_call",
  "tool_search_output",
  "image_generation_call",
  "ghost_snapshot",
  "compaction",
  "compaction_summary"
])
