/**
 * codex's rollout files as the consume mirror needs them (PROTOCOL.md §4 `tool.block`, §5):
 * find a thread's file, read the tool calls a turn recorded, rewrite consumed outputs, and keep a
 * mutation away from a thread whose turn is running.
 */
import { Context, type Effect, type Option, Schema } from "effect"
import type { ReportOptions, RolloutReport } from "../core/rollout/RolloutReport.ts"
import type { ToolCallRecord } from "../core/rollout/RolloutToolCalls.ts"
import type { MutateResult, Mutation, Usage } from "../schemas/Protocol.ts"

export type { ToolCallRecord } from "../core/rollout/RolloutToolCalls.ts"

export class RolloutNotFound extends Schema.TaggedError<RolloutNotFound>()("RolloutNotFound", {
  threadId: Schema.String,
  /** `invalid`: the id has path or glob characters and was not looked up. */
  reason: Schema.Literal("missing", "invalid"),
  message: Schema.String
}) {}

export class RolloutReadError extends Schema.TaggedError<RolloutReadError>()("RolloutReadError", {
  path: Schema.String,
  message: Schema.String
}) {}

export class RolloutWriteError extends Schema.TaggedError<RolloutWriteError>()("RolloutWriteError", {
  path: Schema.String,
  message: Schema.String
}) {}

/** Another process (a codex writing the thread) kept codex's writer lock of the thread past the wait. */
export class ThreadInUse extends Schema.TaggedError<ThreadInUse>()("ThreadInUse", {
  threadId: Schema.String,
  message: Schema.String
}) {}

export interface ToolCallsOptions {
  /** Start here (a line start, e.g. `endOffset` taken before the turn) instead of at 0. */
  readonly fromOffset?: number
}

export interface RolloutStoreShape {
  /** The rollout of `threadId` under `$CODEX_HOME/sessions`, then `archived_sessions`; newest if several. */
  readonly find: (threadId: string) => Effect.Effect<string, RolloutNotFound | RolloutReadError>
  /** Offset after the last complete line; 0 if the file does not exist (yet). */
  readonly endOffset: (path: string) => Effect.Effect<number, RolloutReadError>
  /** The thread's cumulative usage as the rollout last records it (`token_count`), if it records any. */
  readonly lastUsageTotal: (path: string) => Effect.Effect<Option.Option<Usage>, RolloutReadError>
  /** Tool calls in rollout order, each paired with its `*_output` by call id. */
  readonly toolCalls: (
    path: string,
    options?: ToolCallsOptions
  ) => Effect.Effect<ReadonlyArray<ToolCallRecord>, RolloutReadError>
  /**
   * Applies `session/mutate` mutations to the file (light: output → marker; heavy: also arguments →
   * "{}" / input → ""), atomically, under codex's own
   * writer lock of that thread (`ThreadInUse` when another process keeps it past a few seconds).
   * Every rewritten line keeps its byte length, so offsets codex recorded stay valid.
   */
  readonly mutate: (
    path: string,
    mutations: ReadonlyArray<Mutation>,
    marker: string
  ) => Effect.Effect<MutateResult, RolloutReadError | RolloutWriteError | ThreadInUse>
  /**
   * Everything `rollout inspect` shows; `marker` decides which outputs count as consumed, and
   * `options.keepValues` which calls keep their complete arguments and output.
   */
  readonly report: (path: string, marker: string, options?: ReportOptions) => Effect.Effect<RolloutReport, RolloutReadError>
}

export class RolloutStore extends Context.Tag("RolloutStore")<RolloutStore, RolloutStoreShape>() {}
