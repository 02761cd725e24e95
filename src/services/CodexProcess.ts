/**
 * Runs one `codex exec --json` process and streams its decoded JSONL events (stdout read to its
 * end of file through src/core/LineStream.ts), then an `<exited>` event or how codex failed.
 * The process runs in its own process group inside the stream's scope: when the
 * consumer stops (end, cancel, timeout, shutdown) the whole group is ended.
 */
import { Context, Schema } from "effect"
import type { Deferred, Stream } from "effect"
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

export interface CodexProcessShape {
  readonly run: (spec: CodexRunSpec) => Stream.Stream<CodexEvent, CodexRunError>
}

export class CodexProcess extends Context.Tag("CodexProcess")<CodexProcess, CodexProcessShape>() {}
