/**
 * The JSONL events `codex exec --json` prints on stdout (CODEX.md "codex exec --json output").
 * Shapes drift between codex versions, so every union ends with a catch-all that keeps
 * an unknown event or item (tagged "<unknown>") instead of failing the turn.
 */
import { Either, Schema } from "effect"

const Status = Schema.optionalWith(Schema.String, { default: () => "completed" })
const Nullable = <S extends Schema.Schema.Any>(s: S) => Schema.optional(Schema.NullOr(s))

const item = <T extends string, F extends Schema.Struct.Fields>(type: T, fields: F) =>
  Schema.Struct({ type: Schema.Literal(type), id: Schema.String, ...fields })

export const AgentMessageItem = item("agent_message", { text: Schema.String })
export const ReasoningItem = item("reasoning", { text: Schema.String })
export const CommandExecutionItem = item("command_execution", {
  command: Schema.String,
  aggregated_output: Schema.optionalWith(Schema.String, { default: () => "" }),
  exit_code: Nullable(Schema.Number),
  status: Status
})
export const FileChangeItem = item("file_change", {
  changes: Schema.Array(Schema.Struct({ path: Schema.String, kind: Schema.String })),
  status: Status
})
export const McpToolCallItem = item("mcp_tool_call", {
  server: Schema.String,
  tool: Schema.String,
  arguments: Schema.optional(Schema.Unknown),
  result: Nullable(Schema.Unknown),
  error: Nullable(Schema.Unknown),
  status: Status
})
export const WebSearchItem = item("web_search", {
  query: Schema.optionalWith(Schema.String, { default: () => "" }),
  action: Schema.optional(Schema.Unknown)
})
export const TodoListItem = item("todo_list", {
  items: Schema.Array(Schema.Struct({ text: Schema.String, completed: Schema.Boolean }))
})
export const ErrorItem = item("error", { message: Schema.String })
/** A sub-agent operation (spawn_agent, wait, close_agent, ...). */
export const CollabToolCallItem = item("collab_tool_call", {
  tool: Schema.optionalWith(Schema.String, { default: () => "collab_tool_call" }),
  prompt: Nullable(Schema.String),
  receiver_thread_ids: Schema.optional(Schema.Array(Schema.String)),
  status: Status
})

const Raw = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/** Any item this version does not model (or a known one whose fields drifted), kept whole. */
export const UnknownItem = Schema.transform(
  Schema.Struct({ type: Schema.String }, Raw),
  Schema.Struct({ type: Schema.Literal("<unknown>"), itemType: Schema.String, raw: Raw }),
  {
    strict: true,
    decode: (raw) => ({ type: "<unknown>" as const, itemType: raw.type, raw }),
    encode: (u) => ({ ...u.raw, type: u.itemType })
  }
)

export const CodexItem = Schema.Union(
  AgentMessageItem,
  ReasoningItem,
  CommandExecutionItem,
  FileChangeItem,
  McpToolCallItem,
  WebSearchItem,
  TodoListItem,
  ErrorItem,
  CollabToolCallItem,
  UnknownItem
)
export type CodexItem = typeof CodexItem.Type

const count = Schema.optionalWith(Schema.Number, { default: () => 0 })

/** Token counts in `turn.completed`: cumulative for the whole thread, not this turn. */
export const CodexUsage = Schema.Struct({
  input_tokens: count,
  cached_input_tokens: count,
  output_tokens: count,
  reasoning_output_tokens: count
})
export type CodexUsage = typeof CodexUsage.Type

const event = <T extends string, F extends Schema.Struct.Fields>(type: T, fields: F) =>
  Schema.Struct({ type: Schema.Literal(type), ...fields })

export const ThreadStarted = event("thread.started", { thread_id: Schema.String })
export const TurnStarted = event("turn.started", {})
export const ItemStarted = event("item.started", { item: CodexItem })
export const ItemUpdated = event("item.updated", { item: CodexItem })
export const ItemCompleted = event("item.completed", { item: CodexItem })
export const TurnCompleted = event("turn.completed", {
  usage: Schema.optionalWith(CodexUsage, { default: () => CodexUsage.make({}) })
})
export const TurnFailed = event("turn.failed", {
  error: Schema.optionalWith(Schema.Struct({ message: Schema.String }), {
    default: () => ({ message: "codex reported a failed turn without a message" })
  })
})
export const ErrorEvent = event("error", { message: Schema.String })

/** Any event this version does not model, kept whole. */
export const UnknownEvent = Schema.transform(
  Schema.Struct({ type: Schema.String }, Raw),
  Schema.Struct({ type: Schema.Literal("<unknown>"), eventType: Schema.String, raw: Raw }),
  {
    strict: true,
    decode: (raw) => ({ type: "<unknown>" as const, eventType: raw.type, raw }),
    encode: (u) => ({ ...u.raw, type: u.eventType })
  }
)

/**
 * Not printed by codex: a stdout line that is not a JSON object with a `type`.
 * CodexProcess hands it on (see there for why it is not fatal) and the mapper shows it as a notice.
 */
export const UnparsedLine = Schema.Struct({
  type: Schema.Literal("<unparsed>"),
  /** The line, cut to a readable length. */
  line: Schema.String,
  /** Its full length in bytes. */
  bytes: Schema.Number
})
export type UnparsedLine = typeof UnparsedLine.Type

export const CodexEvent = Schema.Union(
  ThreadStarted,
  TurnStarted,
  ItemStarted,
  ItemUpdated,
  ItemCompleted,
  TurnCompleted,
  TurnFailed,
  ErrorEvent,
  UnparsedLine,
  UnknownEvent
)

/**
 * Not printed by codex, and never decoded from a line: how codex exited, the last event of a run
 * whose codex exited with status 0 (any other exit is a CodexExit failure). A turn codex left
 * unfinished says with it what became of codex.
 */
export interface CodexExited {
  readonly type: "<exited>"
  readonly status: number | null
  readonly signal: string | null
  /** The last few KB of codex's stderr, as one line. */
  readonly stderrTail: string
}

export type CodexEvent = typeof CodexEvent.Type | CodexExited

// Compiled once: the union dispatches on the literal `type`, so a known event costs one member's check.
const decodeEvent = Schema.decodeUnknownEither(CodexEvent)
// Most lines already carry every field the schema would default, so they are valid as they are:
// checking (no copy) is about twice as fast as decoding, and the line's object is used directly.
const isAlreadyDecoded = Schema.is(Schema.typeSchema(CodexEvent))

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)

/**
 * The same answer as `isAlreadyDecoded` for the items a busy turn prints by the thousand
 * (messages, reasoning, commands, plans), without Schema's generic walk: a third of the hot
 * path's cost. Anything else (and any of these that fails) takes the Schema path; a unit test
 * checks both agree on every recorded line and on mutated ones.
 */
const isCommonItem = (item: unknown): boolean => {
  if (!isObj(item) || typeof item.id !== "string") return false
  switch (item.type) {
    case "agent_message":
    case "reasoning":
      return typeof item.text === "string"
    case "command_execution":
      return typeof item.command === "string" && typeof item.aggregated_output === "string" &&
        typeof item.status === "string" &&
        (item.exit_code === undefined || item.exit_code === null || typeof item.exit_code === "number")
    case "todo_list":
      return Array.isArray(item.items) &&
        item.items.every((s) => isObj(s) && typeof s.text === "string" && typeof s.completed === "boolean")
    default:
      return false
  }
}

/** A hot-path check that never says yes where the schema would say no (it may say no where it says yes). */
export const isCommonDecodedEvent = (json: unknown): json is CodexEvent => {
  if (!isObj(json)) return false
  switch (json.type) {
    case "item.started":
    case "item.updated":
    case "item.completed":
      return isCommonItem(json.item)
    case "thread.started":
      return typeof json.thread_id === "string"
    case "turn.started":
      return true
    default:
      return false
  }
}

const PREVIEW = 200

export const unparsed = (text: string, bytes: number): UnparsedLine => ({
  type: "<unparsed>",
  line: text.length > PREVIEW ? `${text.slice(0, PREVIEW)}…` : text,
  bytes
})

/**
 * One stdout line → one event. This is the hot path (tens of thousands of lines a second),
 * so it is a pure function returning a value: JSON.parse plus the Either decoder, no Effect per line.
 * A line that is not JSON, or JSON without a string `type`, becomes `<unparsed>`.
 */
export const decodeCodexLine = (text: string, bytes: number = text.length): CodexEvent => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return unparsed(text, bytes)
  }
  if (isCommonDecodedEvent(json)) return json
  if (isAlreadyDecoded(json) && json.type !== "<unknown>" && json.type !== "<unparsed>") return json
  const decoded = decodeEvent(json)
  return Either.isRight(decoded) ? decoded.right : unparsed(text, bytes)
}
