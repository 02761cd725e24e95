/**
 * `codex app-server` JSON-RPC as it crosses the app-server's stdio (CODEX.md "`codex app-server`",
 * PROTOCOL.md §8): one JSON object per line, without the `"jsonrpc"` member. Only the fields this
 * plugin reads are modelled; every object keeps its other fields (no `onExcessProperty: "error"`),
 * and a message of a method this plugin does not know decodes into the catch-all member.
 */
import { Either, type ParseResult, Schema } from "effect"

export const AppRpcId = Schema.Union(Schema.String, Schema.Number)
export type AppRpcId = typeof AppRpcId.Type

const Params = Schema.optional(Schema.Unknown)

export const AppRpcError = Schema.Struct({
  code: Schema.Number,
  message: Schema.String,
  data: Schema.optional(Schema.Unknown)
})
export type AppRpcError = typeof AppRpcError.Type

/** An answer to one of our requests. */
export const AppServerResponse = Schema.Union(
  Schema.Struct({ id: AppRpcId, error: AppRpcError }),
  Schema.Struct({ id: AppRpcId, result: Schema.Unknown })
)
export type AppServerResponse = typeof AppServerResponse.Type

/** A request the app-server sends us; every one is answered (CODEX.md: never leave one hanging). */
export const AppServerRequest = Schema.Struct({ id: AppRpcId, method: Schema.String, params: Params })
export type AppServerRequest = typeof AppServerRequest.Type

/** A notification: no id. */
export const AppServerNotification = Schema.Struct({ method: Schema.String, params: Params })
export type AppServerNotification = typeof AppServerNotification.Type

/** Any line from the app-server, in the order a line is tried against them. */
export const AppServerMessage = Schema.Union(AppServerRequest, AppServerResponse, AppServerNotification)
export type AppServerMessage = typeof AppServerMessage.Type

/** The params of `item/tool/call` (a dynamic tool call, `callId` = the rollout's `call_id`). */
export const DynamicToolCallParams = Schema.Struct({
  threadId: Schema.String,
  turnId: Schema.optional(Schema.String),
  callId: Schema.String,
  tool: Schema.String,
  namespace: Schema.optional(Schema.NullOr(Schema.String)),
  arguments: Schema.optional(Schema.Unknown)
})
export type DynamicToolCallParams = typeof DynamicToolCallParams.Type

/** `{contentItems, success}`, the answer to `item/tool/call`. */
export type DynamicToolContentItem =
  | { readonly type: "inputText"; readonly text: string }
  | { readonly type: "inputImage"; readonly imageUrl: string }

const ThreadRef = Schema.Struct({ threadId: Schema.String })

const TokenBreakdown = Schema.Struct({
  inputTokens: Schema.optionalWith(Schema.Number, { default: () => 0 }),
  cachedInputTokens: Schema.optionalWith(Schema.Number, { default: () => 0 }),
  outputTokens: Schema.optionalWith(Schema.Number, { default: () => 0 }),
  reasoningOutputTokens: Schema.optionalWith(Schema.Number, { default: () => 0 })
})

/** A thread item (`item/started`, `item/completed`): `type` and `id`, the rest read per type. */
export const ThreadItem = Schema.Struct({ type: Schema.String, id: Schema.String }).pipe(
  Schema.extend(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
)
export type ThreadItem = typeof ThreadItem.Type

const note = <M extends string, F extends Schema.Struct.Fields>(method: M, fields: F) =>
  Schema.Struct({ method: Schema.Literal(method), params: Schema.Struct(fields) })

const TurnShape = Schema.Struct({
  id: Schema.String,
  status: Schema.String,
  error: Schema.optional(Schema.NullOr(Schema.Struct({ message: Schema.String })))
})

/**
 * The notifications a turn reads, keyed by method. `decodeTurnNotification` turns any other
 * method (`thread/status/changed`, `account/rateLimits/updated`, whatever a newer codex adds) into
 * `{method: "<other>", params}`: kept, never fatal.
 */
export const KnownTurnNotification = Schema.Union(
  note("turn/started", { ...ThreadRef.fields, turn: Schema.Struct({ id: Schema.String }) }),
  note("turn/completed", { ...ThreadRef.fields, turn: TurnShape }),
  note("item/started", { ...ThreadRef.fields, turnId: Schema.optional(Schema.String), item: ThreadItem }),
  note("item/completed", { ...ThreadRef.fields, turnId: Schema.optional(Schema.String), item: ThreadItem }),
  note("item/agentMessage/delta", { ...ThreadRef.fields, itemId: Schema.String, delta: Schema.String }),
  note("item/reasoning/summaryTextDelta", { ...ThreadRef.fields, itemId: Schema.String, delta: Schema.String }),
  note("thread/tokenUsage/updated", {
    ...ThreadRef.fields,
    turnId: Schema.optional(Schema.String),
    tokenUsage: Schema.Struct({ last: TokenBreakdown })
  }),
  note("turn/plan/updated", {
    ...ThreadRef.fields,
    turnId: Schema.optional(Schema.String),
    plan: Schema.Array(Schema.Struct({ step: Schema.String, status: Schema.String }))
  }),
  note("error", {
    threadId: Schema.optional(Schema.String),
    turnId: Schema.optional(Schema.String),
    error: Schema.Struct({ message: Schema.String }),
    willRetry: Schema.optional(Schema.NullOr(Schema.Boolean))
  }),
  note("warning", { threadId: Schema.optional(Schema.NullOr(Schema.String)), message: Schema.String }),
  note("thread/closed", ThreadRef.fields)
)
export type KnownTurnNotification = typeof KnownTurnNotification.Type

export type TurnNotification =
  | KnownTurnNotification
  | { readonly method: "<other>"; readonly original: string; readonly params: unknown; readonly problem?: string }

/** Each known method's own member: a notification is decoded against the one its method names. */
const decodeByMethod: ReadonlyMap<string, (u: unknown) => Either.Either<KnownTurnNotification, ParseResult.ParseError>> = new Map(
  KnownTurnNotification.members.map((m) => [
    m.fields.method.literals[0] as string,
    Schema.decodeUnknownEither(m as Schema.Schema<KnownTurnNotification, any>)
  ] as const)
)

/**
 * A notification as a turn reads it, decoded once, synchronously (it runs for every line of a
 * turn). A known method whose params do not decode is kept as `<other>` with the decode problem,
 * so a drifted shape shows up instead of vanishing.
 */
export const turnNotificationOf = (n: AppServerNotification): TurnNotification => {
  const decode = decodeByMethod.get(n.method)
  if (decode === undefined) return { method: "<other>", original: n.method, params: n.params }
  const known = decode(n)
  return Either.isRight(known) ? known.right : { method: "<other>", original: n.method, params: n.params, problem: known.left.message }
}

/** The thread a notification belongs to, if it names one. */
export const notificationThreadId = (params: unknown): string | undefined => {
  if (typeof params !== "object" || params === null) return undefined
  const p = params as { threadId?: unknown; thread?: { id?: unknown } }
  if (typeof p.threadId === "string") return p.threadId
  return undefined
}

/** `initialize` answers with the user agent, e.g. "plexum/0.169.0 (Debian 12; x86_64) …". */
export const InitializeResult = Schema.Struct({ userAgent: Schema.optional(Schema.String) })

/** `path`: the thread's rollout file (0.171 sends it; older versions may not, an ephemeral thread has none). */
export const ThreadResult = Schema.Struct({
  thread: Schema.Struct({ id: Schema.String, path: Schema.optional(Schema.NullOr(Schema.String)) })
})
export const TurnStartResult = Schema.Struct({ turn: Schema.Struct({ id: Schema.String }) })
