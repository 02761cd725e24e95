/**
 * Runs one `codex exec --json` process and streams its decoded JSONL events (stdout read to its
 * end of file through src/core/LineStream.ts), then an `<exited>` event or how codex failed.
 * The process runs in its own process group inside the stream's scope: when the
 * consumer stops (end, cancel, timeout, shutdown) the whole group is ended.
 */
import { Context, Schema } from "effect"
import type { Deferred, Effect, Scope, Stream } from "effect"
import type { CodexEvent } from "../schemas/CodexEvent.ts"

export interface CodexRunSpec {
  readonly binary: string
  readonly args: ReadonlyArray<string>
  readonly cwd: string
  /** The complete environment of the child (not merged with the plugin's). */
  readonly env: Record<string, string | undefined>
  /** Written to stdin, which is then closed (codex reads the prompt until EOF). */
  readonly stdin: string
  /** Completed with codex's pid once it runs (the bridge serves only processes below it). */
  readonly spawned?: Deferred.Deferred<number>
}

/** The binary could not be started: not found or not executable. */
export class CodexNotFound extends Schema.TaggedError<CodexNotFound>()("CodexNotFound", {
  binary: Schema.String,
  message: Schema.String
}) {}

/** codex ended with a non-zero status or a signal (or could not be started for another reason). */
export class CodexExit extends Schema.TaggedError<CodexExit>()("CodexExit", {
  status: Schema.NullOr(Schema.Number),
  signal: Schema.NullOr(Schema.String),
  /** The last few KB of codex's stderr. */
  stderrTail: Schema.String,
  message: Schema.String
}) {}

/** codex exited without any readable output: no `thread.started` ever came. */
export class CodexOutputError extends Schema.TaggedError<CodexOutputError>()("CodexOutputError", {
  message: Schema.String
}) {}

export type CodexRunError = CodexNotFound | CodexExit | CodexOutputError

/** A codex started by `start`: its stdout's decoded events, pulled one batch at a time. */
export interface CodexRun {
  /**
   * codex's next events: every one that has come (never none), waiting for some when none has;
   * after the end of file one `<exited>` alone, once codex exited 0 after a thread; then
   * `undefined`. Fails with how codex failed (after every event it printed).
   */
  readonly next: Effect.Effect<ReadonlyArray<CodexEvent> | undefined, CodexRunError>
}

export interface CodexProcessShape {
  /**
   * Starts codex in the scope (which ends it and whatever it left behind, as `run` says) and hands
   * its events out by pull: for a consumer that makes its own stream of them in one layer
   * (src/layers/ExecEngineLive.ts) rather than stacking a stream over this one.
   */
  readonly start: (spec: CodexRunSpec) => Effect.Effect<CodexRun, CodexRunError, Scope.Scope>
  /** `start`'s events as a stream: stdout's events, then `<exited>`, or how codex failed. */
  readonly run: (spec: CodexRunSpec) => Stream.Stream<CodexEvent, CodexRunError>
}

export class CodexProcess extends Context.Tag("CodexProcess")<CodexProcess, CodexProcessShape>() {}
