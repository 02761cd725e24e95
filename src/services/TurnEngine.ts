/**
 * How one admitted turn runs inside codex. Two implementations sit behind this contract:
 * `exec` (one `codex exec --json` per turn) and `app-server` (a long-lived `codex app-server`,
 * PROTOCOL.md §8). The TurnRunner decides everything that does not depend on the engine
 * (admission, which thread, the prompt, cancel and timeout, the terminal event) and hands the
 * engine a `TurnPlan`; the engine streams the turn's events and ends its stream with how the turn
 * ended (`TurnEnded`, or a `TurnFailure`). The runner alone turns that into the turn's one terminal
 * event and the answer's summary (PROTOCOL.md §2, §4): the engine never sends `turn.completed`,
 * `turn.failed` or `usage` itself.
 */
import { Context, Data, Schema } from "effect"
import type { Effect, Stream } from "effect"
import type { Config } from "../schemas/Config.ts"
import { FailureCode } from "../schemas/Protocol.ts"
import type { StreamParams, ToolResult, ToolSpec, TurnEvent, Usage } from "../schemas/Protocol.ts"

/** A failure that ends the turn; the runner turns it into the turn's `turn.failed` event. */
export class TurnFailure extends Schema.TaggedError<TurnFailure>()("TurnFailure", {
  code: FailureCode,
  /** One line for the host: no stack trace, no backtrace. */
  message: Schema.String,
  /** What went wrong underneath, kept for logs (never sent as the message). */
  cause: Schema.optional(Schema.Defect)
}) {}

/**
 * The last element of an engine's stream when codex finished the turn: what the runner makes the
 * `usage` and `turn.completed` events and the answer's usage from. A turn that did not finish ends
 * the stream with a TurnFailure instead, so a stream that ends without a `TurnEnded` is a bug in
 * the engine (the runner fails the turn with `codex_output`).
 */
export class TurnEnded extends Data.TaggedClass("TurnEnded")<{
  /** codex's last agent message of the turn. */
  readonly finalMessage: string | undefined
  /** This turn's token usage (not the thread's total), if codex reported it. */
  readonly usage: Usage | undefined
}> {}

/** What an engine's stream carries: the turn's events, then one `TurnEnded`. */
export type EngineOutput = TurnEvent | TurnEnded

export const isTurnEnded = (output: EngineOutput): output is TurnEnded => output instanceof TurnEnded

export interface TurnPlan {
  readonly params: StreamParams
  /** The config in force when the turn was admitted. */
  readonly config: Config
  /**
   * The thread to resume, as the runner chose it (src/core/turn/ThreadChoice.ts: its rollout
   * exists and the engine keeps it under the turn's tools), or undefined for a new thread.
   */
  readonly resumeThreadId: string | undefined
  /** What codex reads as the user's turn (a transcript first when a new thread carries history). */
  readonly prompt: { readonly text: string; readonly images: ReadonlyArray<string> }
  /**
   * The prompt for a new thread (the transcript of `params.request.messages` first) when codex
   * does not continue `resumeThreadId` after all (the app-server answers a resume with another
   * thread).
   */
  readonly newThreadPrompt: { readonly text: string; readonly images: ReadonlyArray<string> }
  /** codex's cumulative usage of the resumed thread after its previous turn, if known. */
  readonly previousUsageTotal: Usage | undefined
}

export interface TurnHooks {
  /**
   * The engine calls this once, as soon as codex names the turn's thread and before it emits
   * `turn.started`: the runner remembers the thread for the agent and keeps mutations away from it.
   */
  readonly threadStarted: (threadId: string) => Effect.Effect<void>
  /** Runs one of the turn's host tools (`host/tools/call`); a host error is an `isError` result. */
  readonly callHostTool: (name: string, args: Record<string, unknown>) => Effect.Effect<ToolResult>
  /** A `warn` for the host (`host/log`): fallbacks and things the host should see. */
  readonly warn: (message: string, fields?: Record<string, unknown>) => Effect.Effect<void>
}

export interface TurnEngineShape {
  /**
   * The turn's events, in order: `turn.started` first, the live events, then the turn's
   * `tool.block`s (codex's call ids, rollout order), and last a `TurnEnded` with the final message
   * and the turn's usage; or the stream fails with a TurnFailure. The runner makes the terminal
   * event from either. Interrupting the stream ends the turn: every process, socket and temp file
   * it opened is gone when the interruption returns.
   */
  readonly run: (plan: TurnPlan, hooks: TurnHooks) => Stream.Stream<EngineOutput, TurnFailure>
  /**
   * Whether this engine can go on with the thread under the turn's tools; the runner's one thread
   * choice asks it (src/core/turn/ThreadChoice.ts). Absent: always (exec passes the tools with each
   * run); the app-server cannot go on with a thread started with other dynamic tools.
   */
  readonly keepsThread?: (threadId: string, tools: ReadonlyArray<ToolSpec>) => Effect.Effect<boolean>
  /**
   * Makes sure no codex process of this engine holds the thread in memory or holds its writer
   * lock, so its rollout can be rewritten and the next turn reads the rewrite (app-server: unload).
   */
  readonly releaseThread: (threadId: string) => Effect.Effect<void, TurnFailure>
}

/** Whether an engine can serve turns with this codex (PROTOCOL.md §8 "Fallback"), and why not. */
export type EngineSupport =
  | { readonly usable: true; readonly version: string | undefined }
  | { readonly usable: false; readonly reason: string }

export interface AppServerEngineShape extends TurnEngineShape {
  /**
   * Starts (or reuses) the app-server the config names and verifies it: the runner asks this
   * before a turn, so the app-server that answers is the one the turn then runs on.
   */
  readonly support: (config: Config) => Effect.Effect<EngineSupport>
}

/** The exec engine (`codex exec` per turn). */
export class ExecEngine extends Context.Tag("ExecEngine")<ExecEngine, TurnEngineShape>() {}

/** The app-server engine (`codex app-server`), PROTOCOL.md §8. */
export class AppServerEngine extends Context.Tag("AppServerEngine")<AppServerEngine, AppServerEngineShape>() {}
