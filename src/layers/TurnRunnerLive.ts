/**
 * A turn, top to bottom: admit it (config, model, agent, turn id), choose its thread, hand the
 * plan to the engine the config names, write the engine's events, and decide the turn's end once:
 * exactly one `turn.completed` or `turn.failed` and the answer's summary, from how the engine's
 * stream ended (`TurnEnded` or a TurnFailure, src/services/TurnEngine.ts). Cancel and timeout
 * interrupt the engine's stream, whose scope ends everything the turn opened before the last
 * event is sent (PROTOCOL.md §2).
 */
import { Cause, Chunk, Deferred, Effect, Exit, Fiber, FiberId, HashMap, Layer, Option, Ref, Schema, Stream, SynchronizedRef } from "effect"
import type { Scope } from "effect"
import { forEachChunk } from "../core/StreamPull.ts"
import { addFinalizerInScope } from "../core/ScopeFinalizers.ts"
import { chooseThread as chooseThreadOf, type ThreadChoice } from "../core/turn/ThreadChoice.ts"
import { McpRegistry } from "../services/McpRegistry.ts"
import { buildTurnPrompt } from "../core/codex/TurnPrompt.ts"
import type { Config } from "../schemas/Config.ts"
import type { StreamParams, ToolResult, TurnEvent, Usage } from "../schemas/Protocol.ts"
import { ActiveConfig } from "../services/PluginConfig.ts"
import { PluginTransport } from "../services/PluginTransport.ts"
import { RolloutStore } from "../services/RolloutStore.ts"
import { SessionStore } from "../services/SessionStore.ts"
import {
  AppServerEngine,
  type EngineOutput,
  type EngineSupport,
  ExecEngine,
  isTurnEnded,
  type TurnEnded,
  TurnFailure,
  type TurnEngineShape,
  type TurnHooks,
  type TurnPlan
} from "../services/TurnEngine.ts"
import { ModelNotServed, TurnRunner, type TurnRunnerShape, type TurnSummary } from "../services/TurnRunner.ts"
import { type AdmittedTurn, Turns } from "../services/Turns.ts"
import { ToolResult as ToolResultSchema } from "../schemas/Protocol.ts"

const decodeToolResult = Schema.decodeUnknown(ToolResultSchema)
const toolError = (text: string): ToolResult => ({ content: [{ type: "text", text }], isError: true })

export const TurnRunnerLive = Layer.effect(
  TurnRunner,
  Effect.gen(function* () {
    const activeConfig = yield* ActiveConfig
    const turns = yield* Turns
    const transport = yield* PluginTransport
    const sessions = yield* SessionStore
    const rollouts = yield* RolloutStore
    const exec = yield* ExecEngine
    const appServer = yield* AppServerEngine
    const registry = yield* McpRegistry
    /** Whether the app-server can serve turns, once per codex binary and flags (the engine keeps the one it verified). */
    const supportByCodex = yield* SynchronizedRef.make(HashMap.empty<string, EngineSupport>())
    const appServerSupport = (config: Config) => {
      const key = JSON.stringify([config.binary, config.extra_args])
      // Known after the first turn: read without taking the lock (asked again under it if not).
      return Effect.flatMap(SynchronizedRef.get(supportByCodex), (known) =>
        Option.match(HashMap.get(known, key), {
          onSome: Effect.succeed,
          onNone: () =>
            SynchronizedRef.modifyEffect(supportByCodex, (known) =>
              Option.match(HashMap.get(known, key), {
                onSome: (s) => Effect.succeed([s, known] as const),
                onNone: () => Effect.map(appServer.support(config), (s) => [s, HashMap.set(known, key, s)] as const)
              })
            )
        }))
    }

    /** The engine the config names (PROTOCOL.md §6 `engine`); one that cannot run here falls back to exec with a warn (§8). */
    const engineFor = (config: Config, hooks: TurnHooks): Effect.Effect<TurnEngineShape> =>
      config.engine === "exec"
        ? Effect.succeed(exec)
        : Effect.flatMap(appServerSupport(config), (support) =>
          support.usable
            // The app-server loads config.toml too: registrations an earlier version stored there must go first.
            ? Effect.as(registry.removeLegacyRegistrations, appServer)
            : Effect.as(hooks.warn(`the app-server engine cannot run here (${support.reason}); this turn runs with the exec engine`, { engine: "exec" }), exec))

    /** Runs a host tool as `host/tools/call`; a host error is a failed tool call, never a failed turn. */
    const callHostTool = (turnId: string, agentId: string) => (name: string, args: Record<string, unknown>) =>
      transport.request("host/tools/call", { turnId, agentId, name, arguments: args }).pipe(
        Effect.flatMap((result) => decodeToolResult(result)),
        Effect.catchTags({
          HostCallError: (e) => Effect.succeed(toolError(`host tool ${name} failed: ${e.message}`)),
          ParseError: () => Effect.succeed(toolError(`host tool ${name} returned a result that is not a ToolResult`))
        })
      )

    const chooseThread = chooseThreadOf({ lastThread: sessions.lastThread, findRollout: rollouts.find })

    /**
     * codex's total for the thread before this turn, as its rollout last recorded it (every codex
     * 0.135–0.171 writes `token_count`): right after a failed or cancelled turn and on a thread
     * this plugin never ran, which a total remembered by the plugin would not be.
     */
    const previousUsageTotal = (threadId: string, rolloutPath: string) =>
      rollouts.lastUsageTotal(rolloutPath).pipe(
        Effect.catchAll((e) =>
          Effect.as(Effect.logWarning(`cannot read the token usage recorded for thread ${threadId}: ${e.message}; this turn's usage is the thread's total`), Option.none<Usage>())
        )
      )

    const plan = (params: StreamParams, config: Config, turn: AdmittedTurn, choice: ThreadChoice) =>
      Effect.gen(function* () {
        const resume = Option.getOrUndefined(choice.resume)
        // A resumed thread is held for the whole turn: a rewrite of its rollout waits for codex.
        if (resume !== undefined) yield* turn.holdThread(resume.threadId)
        const context = { workspace: params.agent.workspace }
        return {
          params,
          config,
          resumeThreadId: resume?.threadId,
          prompt: buildTurnPrompt(params.request.messages, { ...context, resumed: resume !== undefined }),
          newThreadPrompt: buildTurnPrompt(params.request.messages, { ...context, resumed: false }),
          previousUsageTotal: resume ? Option.getOrUndefined(yield* previousUsageTotal(resume.threadId, resume.rolloutPath)) : undefined
        } satisfies TurnPlan
      })

    const hooksFor = (params: StreamParams, turn: AdmittedTurn, thread: Ref.Ref<string | undefined>): TurnHooks => ({
      threadStarted: (threadId) =>
        Effect.zipRight(
          Effect.zipRight(Ref.set(thread, threadId), turn.holdThread(threadId)),
          // The agent's thread memory, written while codex works on the turn: one small synchronous
          // file write (src/layers/SessionStoreLive.ts), cheaper than a fiber of its own; whole.
          Effect.uninterruptible(sessions.remember(params.agent.agentId, params.agent.workspace, threadId))
        ),
      callHostTool: callHostTool(params.turnId, params.agent.agentId),
      warn: (message, fields) => Effect.logWarning(message).pipe(Effect.annotateLogs(fields ?? {}))
    })

    /**
     * Everything before the engine's first event: the engine, the one thread choice (the engine
     * says whether it can go on with a thread under this turn's tools), the plan; then the engine's
     * stream. The runner's notices wait in `order` for `turn.started`.
     */
    const prepare = (params: StreamParams, config: Config, turn: AdmittedTurn, thread: Ref.Ref<string | undefined>, order: StartedFirst) =>
      Effect.gen(function* () {
        const hooks = hooksFor(params, turn, thread)
        const engine = yield* engineFor(config, hooks)
        const choice = yield* chooseThread(params, engine.keepsThread)
        const turnPlan = yield* plan(params, config, turn, choice)
        order.hold(choice.notices)
        return engine.run(turnPlan, hooks)
      })

    const run: TurnRunnerShape["run"] = (params, requestId, write) =>
      Effect.scoped(
        Effect.gen(function* () {
          const config = yield* activeConfig.current
          if (!config.supported_models.includes(params.modelId)) {
            return yield* new ModelNotServed({
              modelId: params.modelId,
              message: `model not served: ${params.modelId} (this plugin serves ${config.supported_models.join(", ")})`
            })
          }
          // How the engine's part of the turn ends, decided once: by the engine's stream, by a
          // cancel or by the time limit, whichever comes first (writeEventsUntilStopped).
          const outcome = Deferred.unsafeMake<TurnEnded | undefined, TurnFailure>(FiberId.none)
          const turn = yield* turns.admit({
            turnId: params.turnId,
            agentId: params.agent.agentId,
            requestId,
            onCancel: Deferred.failSync(outcome, () => new TurnFailure({ code: "cancelled", message: "the turn was cancelled" }))
          })
          yield* failAfter(params.request.options?.timeoutMs ?? config.turn_timeout_ms, outcome)
          const thread = yield* Ref.make<string | undefined>(undefined)
          const order = new StartedFirst()
          const outputs = prepare(params, config, turn, thread, order)
          // Returns once the engine's stream is over and its scope has ended every process of the
          // turn: only then does the terminal event go out.
          const engineExit = yield* Effect.exit(writeEventsUntilStopped(outputs, write, order, outcome))
          const end = yield* turnEnd(engineExit, (cause) =>
            Effect.logError("a turn failed on an internal error").pipe(Effect.annotateLogs({ turnId: params.turnId, cause: Cause.pretty(cause) })))
          yield* write(Chunk.unsafeFromArray(end.events))
          return { status: end.status, threadId: yield* Ref.get(thread), usage: end.usage } satisfies TurnSummary
        })
      )

    return { run } satisfies TurnRunnerShape
  })
)

/**
 * `turn.started` is the first event of every turn that reached codex: anything an engine says
 * before it (codex notices printed before `thread.started`) waits, and the runner's own notices
 * follow it. If no `turn.started` comes, what waited is sent before the turn's end (`release`).
 * Plain state, applied by `writeEvents` to each chunk it writes: no Stream operator of its own.
 */
export class StartedFirst {
  private held: Array<TurnEvent> | undefined = []

  /** Notices to send right after `turn.started` (or before the turn's end without one). */
  hold(notices: ReadonlyArray<TurnEvent>): void {
    if (this.held === undefined) throw new Error("StartedFirst.hold after turn.started")
    this.held.push(...notices)
  }

  /** The chunk's outputs in the order they go out. */
  order(chunk: Chunk.Chunk<EngineOutput>): Chunk.Chunk<EngineOutput> {
    if (this.held === undefined) return chunk
    const out: Array<EngineOutput> = []
    for (const output of chunk) {
      if (this.held === undefined) out.push(output)
      else if (isTurnEnded(output)) out.push(...this.release(), output)
      else if (output.type === "turn.started") out.push(output, ...this.release())
      else this.held.push(output)
    }
    return Chunk.unsafeFromArray(out)
  }

  /** What still waits; from now on nothing does. */
  release(): Array<TurnEvent> {
    const out = this.held ?? []
    this.held = undefined
    return out
  }
}

/**
 * Writes the engine's events as they come, `turn.started` first (`order`); succeeds with its
 * TurnEnded, the stream's last element (TurnEngine.ts), or undefined if the stream ended without
 * one. What still waits in `order` goes out when the stream ends or the engine fails.
 *
 * The stream is pulled in this fiber, one Stream layer (`forEachChunk`). A write stays
 * interruptible: a stop must end codex even while stdout is full; `write` queues a chunk whole or
 * not at all, and gives back its numbers if it did not (ProtocolHandlers).
 */
export const writeEvents = (
  outputs: Stream.Stream<EngineOutput, TurnFailure>,
  write: (events: Chunk.Chunk<TurnEvent>) => Effect.Effect<void>,
  order: StartedFirst = new StartedFirst()
): Effect.Effect<TurnEnded | undefined, TurnFailure, Scope.Scope> =>
  Effect.suspend(() => {
    let ended: TurnEnded | undefined
    // No Effect.gen per chunk: the hot path (src/core/StreamPull.ts).
    const writeChunk = (outputs: Chunk.Chunk<EngineOutput>) => {
      const chunk = order.order(outputs)
      let found = false
      for (const output of chunk) if (isTurnEnded(output)) found = true
      if (!found) return chunk.length === 0 ? Effect.void : write(chunk as Chunk.Chunk<TurnEvent>)
      const events: Array<TurnEvent> = []
      for (const output of chunk) {
        if (isTurnEnded(output)) ended = output
        else events.push(output)
      }
      return events.length === 0 ? Effect.void : write(Chunk.unsafeFromArray(events))
    }
    const released = Effect.suspend(() => {
      const held = order.release()
      return held.length === 0 ? Effect.void : write(Chunk.unsafeFromArray(held))
    })
    return forEachChunk(outputs, writeChunk).pipe(
      Effect.zipRight(released),
      Effect.catchAll((e) => Effect.zipRight(released, Effect.fail(e))),
      Effect.zipRight(Effect.sync(() => ended))
    )
  })

/** The longest wait a JS timer takes; a longer limit is no limit, as `Effect.sleep` has it. */
const MAX_TIMER_MS = 2 ** 31 - 1

/** Fails `outcome` with a timeout after `timeoutMs`, unless the scope closes first: a timer, not a fiber. */
const failAfter = (timeoutMs: number, outcome: Deferred.Deferred<TurnEnded | undefined, TurnFailure>) =>
  Effect.suspend(() => {
    if (timeoutMs > MAX_TIMER_MS) return Effect.void
    const timer = setTimeout(() => {
      Deferred.unsafeDone(outcome, Exit.fail(new TurnFailure({ code: "timeout", message: `the turn exceeded its time limit of ${timeoutMs} ms` })))
    }, timeoutMs)
    return addFinalizerInScope(() => Effect.sync(() => clearTimeout(timer)))
  })

/**
 * `prepare` (which opens the engine's stream) and `writeEvents`, until `outcome` is decided: by
 * them (the stream's end or failure), or by a stop (a cancel or the time limit fails it, or makes
 * it die). Stopped, they are interrupted where they are, the scope of the stream and of `prepare`
 * has closed, ending whatever they opened, and this fails with the stop's cause. What still waits
 * in `order` is not sent: the turn's end follows at once. The work is a child fiber that this call
 * interrupts and waits for however it ends, so an interruption from outside (shutdown) ends the
 * work, and everything it opened, before this returns.
 *
 * One Deferred for the whole turn, whoever decides it: no race of fibers (one per way of ending),
 * no fiber per chunk (`Stream.interruptWhen`), no hand-over queue; the stream is consumed where it
 * is pulled (docs/benchmarks.md, "The plugin's own CPU per turn").
 */
export const writeEventsUntilStopped = <R>(
  prepare: Effect.Effect<Stream.Stream<EngineOutput, TurnFailure>, TurnFailure, R>,
  write: (events: Chunk.Chunk<TurnEvent>) => Effect.Effect<void>,
  order: StartedFirst,
  outcome: Deferred.Deferred<TurnEnded | undefined, TurnFailure>
): Effect.Effect<TurnEnded | undefined, TurnFailure, Exclude<R, Scope.Scope>> =>
  // A bracket: nothing can come between the fork and the `ensuring` that ends the work.
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(
      Effect.fork(restore(
        Effect.flatMap(
          Effect.exit(Effect.scoped(Effect.flatMap(prepare, (outputs) => writeEvents(outputs, write, order)))),
          (exit) => Deferred.done(outcome, exit)
        )
      )),
      // Decided, by the work or a stop (or this interrupted): the work is interrupted if it still
      // runs, and waited for, its scope closed.
      (work) => Effect.ensuring(restore(Deferred.await(outcome)), Fiber.interrupt(work))
    ))

/** The turn's last events (its `usage` if it completed with one, then its one terminal event) and what the answer says of it. */
export interface TurnEnd {
  readonly events: ReadonlyArray<TurnEvent>
  readonly status: TurnSummary["status"]
  readonly usage: Usage | undefined
}

const failedEnd = (code: TurnFailure["code"], message: string): TurnEnd => ({
  events: [{ type: "turn.failed", code, message }],
  status: code === "cancelled" ? "cancelled" : "failed",
  usage: undefined
})

/**
 * How a turn ended, decided here alone (PROTOCOL.md §4): `turn.completed` from the engine's
 * `TurnEnded`, `turn.failed` from a TurnFailure. A defect, or an engine that ended without saying
 * how, is a `codex_output` failure whose message stays one line; the details go to `onDefect`
 * (host/log), never into the event. An interruption stays one.
 */
export const turnEnd = (
  engineExit: Exit.Exit<TurnEnded | undefined, TurnFailure>,
  onDefect: (cause: Cause.Cause<never>) => Effect.Effect<void>
): Effect.Effect<TurnEnd> => {
  const internal = (cause: Cause.Cause<never>) =>
    Effect.as(onDefect(cause), failedEnd("codex_output", "internal error in the plugin (details in host/log)"))
  if (Exit.isSuccess(engineExit)) {
    const ended = engineExit.value
    if (ended === undefined) return internal(Cause.die(new Error("the turn's engine ended its stream without saying how the turn ended")))
    const { finalMessage, usage } = ended
    const completed: TurnEvent = {
      type: "turn.completed",
      ...(finalMessage === undefined ? {} : { finalMessage }),
      ...(usage === undefined ? {} : { usage })
    }
    return Effect.succeed({ events: usage === undefined ? [completed] : [{ type: "usage", ...usage }, completed], status: "completed", usage })
  }
  const cause = engineExit.cause
  if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
  const failure = Cause.failureOption(cause)
  return Option.isSome(failure) ? Effect.succeed(failedEnd(failure.value.code, failure.value.message)) : internal(Cause.stripFailures(cause))
}
