/**
 * One running `codex app-server` and the JSON-RPC conversation with it (PROTOCOL.md §8). The
 * engine owns connections; turns borrow one, subscribe to their thread's notifications and serve
 * their thread's dynamic tool calls.
 */
import { Schema } from "effect"
import type { Effect, Mailbox, Scope } from "effect"
import type { DynamicToolCallParams, DynamicToolContentItem, TurnNotification } from "../schemas/AppServerWire.ts"

export class AppServerError extends Schema.TaggedError<AppServerError>()("AppServerError", {
  /**
   * `not_found`: the binary could not be started; `exit`: the app-server is gone; `rpc`: it answered
   * with a JSON-RPC error; `timeout`: it did not answer in time; `protocol`: an answer we cannot read.
   */
  reason: Schema.Literal("not_found", "exit", "rpc", "timeout", "protocol"),
  message: Schema.String,
  /** The JSON-RPC error code of an `rpc` failure. */
  code: Schema.optional(Schema.Number),
  cause: Schema.optional(Schema.Defect)
}) {}

/** What a turn's subscription receives: its thread's notifications, or the end of the app-server. */
export type ThreadSignal =
  | { readonly _tag: "Notification"; readonly notification: TurnNotification }
  | { readonly _tag: "Exited"; readonly error: AppServerError }

export interface DynamicToolResponse {
  readonly contentItems: ReadonlyArray<DynamicToolContentItem>
  readonly success: boolean
}

export type ToolCallHandler = (params: DynamicToolCallParams) => Effect.Effect<DynamicToolResponse>

export interface AppServerConnectionShape {
  /** The leader's pid, also its process group id. */
  readonly pgid: number
  /** codex's version as its `initialize` answer names it, if it does. */
  readonly version: string | undefined
  readonly request: (
    method: string,
    params: unknown,
    timeoutMs?: number
  ) => Effect.Effect<unknown, AppServerError>
  /**
   * The thread's notifications from now until the scope closes (one subscriber per thread), in a
   * Mailbox that never ends (its last signal is `Exited`): taken all at once per wake-up, a few
   * Effect steps where `Queue.takeBetween` took some twenty, about ten times a turn.
   */
  readonly subscribe: (threadId: string) => Effect.Effect<Mailbox.ReadonlyMailbox<ThreadSignal>, never, Scope.Scope>
  /** Serves the thread's `item/tool/call` requests with `handler` until the scope closes. */
  readonly serveTools: (threadId: string, handler: ToolCallHandler) => Effect.Effect<void, never, Scope.Scope>
  /** Whether the process is still running. */
  readonly alive: Effect.Effect<boolean>
  /** Ends the whole process group now (TERM, then KILL after the grace period). */
  readonly kill: Effect.Effect<void>
}
