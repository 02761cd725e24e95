/**
 * How protocol methods are registered: each handler names its params schema
 * once and receives typed params; a decode failure answers -32602 naming the
 * field. Adding a method is one entry in the router.
 */
import { Effect, Either, ParseResult, Schema } from "effect"
import { jsonBoundsProblem } from "../schemas/BoundedJson.ts"
import { ErrorCode, type RpcId } from "../schemas/JsonRpc.ts"

/**
 * No request of the protocol nests this deep; refusing deeper params before decoding keeps them
 * away from every recursive consumer, Schema's own error formatter included.
 */
export const MAX_PARAMS_DEPTH = 128

/** Answers a request with a JSON-RPC error. */
export class RpcFailure extends Schema.TaggedError<RpcFailure>()("RpcFailure", {
  code: Schema.Number,
  message: Schema.String,
  data: Schema.optional(Schema.Unknown)
}) {}

export interface RequestContext {
  readonly id: RpcId
}

export type RequestHandler = (params: unknown, ctx: RequestContext) => Effect.Effect<unknown, RpcFailure>
export type NotificationHandler = (params: unknown) => Effect.Effect<void>

export interface RpcRouter {
  readonly requests: ReadonlyMap<string, RequestHandler>
  readonly notifications: ReadonlyMap<string, NotificationHandler>
  /** Methods answered before the next line is read (e.g. `initialize`, so a pipelined request sees its result). */
  readonly inline: ReadonlySet<string>
  /** Runs once stdin has ended, before still-running requests are answered. */
  readonly onShutdown: Effect.Effect<void>
}

/** "agent.workspace: workspace must be an absolute path" — one line per issue. */
export const describeParseError = (error: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error)
    .map((issue) => (issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message))
    .join("; ")

export const invalidParams = (message: string) =>
  new RpcFailure({ code: ErrorCode.InvalidParams, message: `invalid params: ${message}`, data: { message } })

/** A request handler whose params are decoded by `schema` first. */
export const method =
  <A, I>(schema: Schema.Schema<A, I>, handler: (params: A, ctx: RequestContext) => Effect.Effect<unknown, RpcFailure>): RequestHandler =>
  (params, ctx) => {
    const tooDeep = jsonBoundsProblem(params, MAX_PARAMS_DEPTH, Number.POSITIVE_INFINITY)
    if (tooDeep !== undefined) return Effect.fail(invalidParams(`params ${tooDeep}`))
    // Decoded synchronously (no Effect steps between the request and its handler).
    const decoded = Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "ignore" })(params ?? {})
    return Either.isLeft(decoded) ? Effect.fail(invalidParams(describeParseError(decoded.left))) : handler(decoded.right, ctx)
  }
