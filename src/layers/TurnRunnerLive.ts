/**
 * A turn, top to bottom: admit it (config, model, agent, turn id), choose its thread, hand the
 * plan to the engine the config names, and end the engine's events with exactly one
 * `turn.completed` or `turn.failed`. Cancel and timeout interrupt the engine's stream, whose scope
 * ends everything the turn opened before the last event is sent (PROTOCOL.md §2).
 */
import { Cause, Chunk, Effect, Either, HashMap, Layer, Option, Schema, Stream, SynchronizedRef } from "effect"
import type { Scope } from "effect"
import { interruptWhenStopped } from "../core/StreamPull.ts"
import { McpRegistry } from "../services/McpRegistry.ts"
import { buildTurnPrompt } from "../core/codex/TurnPrompt.ts"
import type { Config } from "../schemas/Config.ts"
import type { StreamParams, ToolResult, TurnEvent, Usage } from "../schemas/Protocol.ts"
import { ActiveConfig } from "../services/PluginConfig.ts"
import { PluginTransport } from "../services/PluginTransport.ts"
import { RolloutStore } from "../services/RolloutStore.ts"
import { SessionStore } from "../services/SessionStore.ts"
import { AppServerEngine, type EngineSupport, ExecEngine, TurnFailure, type TurnEngineShape, type TurnHooks, type TurnPlan } from "../services/TurnEngine.ts"
import { ModelNotServed, TurnRunner, type TurnRunnerShape } from "../services/TurnRunner.ts"
import { type AdmittedTurn, Turns } from "../services/Turns.ts"
import { ToolResult as ToolResultSchema } from "../schemas/Protocol.ts"

const decodeToolResult = Schema.decodeUnknown(ToolResultSchema)
const toolError = (text: string): ToolResult => ({ content: [{ type: "text", text }], isError: true })

/** The thread a turn resumes, and the notices that explain a thread it could not. */
interface ThreadChoice {
  readonly resume: Option.Option<{ readonly threadId: string; readonly rolloutPath: string }>
  readonly notices: ReadonlyArray<TurnEvent>
}

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
      return SynchronizedRef.modifyEffect(supportByCodex, (known) =>
        Option.match(HashMap.get(known, key), {
          onSome: (s) => Effect.succeed([s, known] as const),
          onNone: () => Effect.map(appServer.support(config), (s) => [s, HashMap.set(known, key, s)] as const)
        })
      )
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

    /**
     * session.fresh → new; session.threadId, else the agent's last thread here → resume it if codex
     * has its rollout; a thread without one is not an error: a new thread with the transcript,
     * and a notice naming the thread that was asked for (PROTOCOL.md §4).
     */
    const chooseThread = (params: StreamParams) =>
      Effect.gen(function* () {
        const session = params.request.session ?? {}
        if (session.fresh) return { resume: Option.none(), notices: [] } satisfies ThreadChoice
        const wanted = session.threadId ?? Option.getOrUndefined(yield* sessions.lastThread(params.agent.agentId, params.agent.workspace))
        if (wanted === undefined) return { resume: Option.none(), notices: [] } satisfies ThreadChoice
        const found = yield* Effect.either(rollouts.find(wanted))
        if (Either.isRight(found)) {
          return { resume: Option.some({ threadId: wanted, rolloutPath: found.right }), notices: [] } satisfies ThreadChoice
        }
        if (found.left._tag === "RolloutReadError") {
          yield* Effect.logWarning(`cannot look for the rollout of thread ${wanted}: ${found.left.message}`)
        }
        const notice: TurnEvent = {
          type: "notice",
          level: "warn",
          message: `thread ${wanted} cannot be resumed (no rollout for it in CODEX_HOME): this turn starts a new thread carrying the conversation so far`
        }
        return { resume: Option.none(), notices: [notice] } satisfies ThreadChoice
      })

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

    const hooksFor = (params: StreamParams, turn: AdmittedTurn, turnScope: Scope.Scope): TurnHooks => ({
      threadStarted: (threadId) =>
        Effect.zipRight(
          turn.holdThread(threadId),
          // The agent's thread memory is written while codex works, off the turn's critical path;
          // uninterruptible in the turn's scope, so the turn's release and its answer wait for it.
          Effect.forkIn(Effect.uninterruptible(sessions.remember(params.agent.agentId, params.agent.workspace, threadId)), turnScope)
        ).pipe(Effect.asVoid),
      callHostTool: callHostTool(params.turnId, params.agent.agentId),
      warn: (message, fields) => Effect.logWarning(message).pipe(Effect.annotateLogs(fields ?? {}))
    })

    /** The engine's events with the runner's notices after `turn.started`, which always comes first. */
    const body = (params: StreamParams, config: Config, turn: AdmittedTurn, turnScope: Scope.Scope) =>
      Stream.unwrapScoped(
        Effect.gen(function* () {
          const choice = yield* chooseThread(params)
          const turnPlan = yield* plan(params, config, turn, choice)
          const hooks = hooksFor(params, turn, turnScope)
          const engine = yield* engineFor(config, hooks)
          return engine.run(turnPlan, hooks).pipe(startedFirst(choice.notices))
        })
      )

    const run: TurnRunnerShape["run"] = (params, requestId) =>
      Stream.unwrapScoped(
        Effect.gen(function* () {
          const config = yield* activeConfig.current
          if (!config.supported_models.includes(params.modelId)) {
            return yield* new ModelNotServed({
              modelId: params.modelId,
              message: `model not served: ${params.modelId} (this plugin serves ${config.supported_models.join(", ")})`
            })
          }
          const turn = yield* turns.admit({ turnId: params.turnId, agentId: params.agent.agentId, requestId })
          const timeoutMs = params.request.options?.timeoutMs ?? config.turn_timeout_ms
          // Cancel or timeout, whichever comes first, stops the turn at one place (src/core/StreamPull.ts).
          const stop = Effect.raceFirst(
            Effect.zipRight(turn.cancelled, Effect.failSync(() => new TurnFailure({ code: "cancelled", message: "the turn was cancelled" }))),
            Effect.zipRight(
              Effect.sleep(timeoutMs),
              Effect.failSync(() => new TurnFailure({ code: "timeout", message: `the turn exceeded its time limit of ${timeoutMs} ms` }))
            )
          )
          return body(params, config, turn, yield* Effect.scope).pipe(
            // The engine's stream is interrupted and its scope has ended every process of the turn
            // before the terminal event goes out.
            (events) => interruptWhenStopped(events, stop),
            withTerminalEvent((cause) => Effect.logError("a turn failed on an internal error").pipe(Effect.annotateLogs({ turnId: params.turnId, cause: Cause.pretty(cause) })))
          )
        })
      )

    return { run } satisfies TurnRunnerShape
  })
)

/**
 * `turn.started` is the first event of every turn that reached codex: anything an engine says
 * before it (codex notices printed before `thread.started`) waits, and the runner's own notices
 * follow it. If no `turn.started` comes, what waited is sent before the terminal event.
 */
export const startedFirst =
  (notices: ReadonlyArray<TurnEvent>) =>
  <E>(events: Stream.Stream<TurnEvent, E>): Stream.Stream<TurnEvent, E> =>
    Stream.suspend(() => {
      let held: Array<TurnEvent> | undefined = [...notices]
      const release = () => {
        const out = held ?? []
        held = undefined
        return out
      }
      return events.pipe(
        Stream.mapChunks((chunk) => {
          if (held === undefined) return chunk
          const out: Array<TurnEvent> = []
          for (const event of chunk) {
            if (held === undefined) out.push(event)
            else if (event.type === "turn.started") out.push(event, ...release())
            else held.push(event)
          }
          return Chunk.unsafeFromArray(out)
        }),
        (s) => Stream.concat(s, Stream.suspend(() => Stream.fromIterable(release()))),
        Stream.catchAll((e) => Stream.concat(Stream.fromIterable(release()), Stream.fail(e)))
      )
    })

/**
 * Exactly one terminal event: `turn.completed` with the last message and the turn's usage when
 * the engine's stream ends, `turn.failed` from a TurnFailure. A defect is a `codex_output` failure
 * whose message stays one line; its details go to `onDefect` (host/log), never into the event.
 */
export const withTerminalEvent =
  (onDefect: (cause: Cause.Cause<never>) => Effect.Effect<void>) =>
  (events: Stream.Stream<TurnEvent, TurnFailure>): Stream.Stream<TurnEvent> =>
    Stream.suspend(() => {
      let finalMessage: string | undefined
      let usage: Usage | undefined
      return events.pipe(
        Stream.mapChunks((chunk) => {
          for (const e of chunk) {
            if (e.type === "message") finalMessage = e.text
            else if (e.type === "usage") usage = { inputTokens: e.inputTokens, cachedInputTokens: e.cachedInputTokens, outputTokens: e.outputTokens, reasoningOutputTokens: e.reasoningOutputTokens }
          }
          return chunk
        }),
        (s) =>
          Stream.concat(
            s,
            Stream.sync((): TurnEvent => ({
              type: "turn.completed",
              ...(finalMessage === undefined ? {} : { finalMessage }),
              ...(usage === undefined ? {} : { usage })
            }))
          ),
        Stream.catchAllCause((cause) => {
          if (Cause.isInterruptedOnly(cause)) return Stream.failCause(cause as Cause.Cause<never>)
          const failure = Cause.failureOption(cause)
          if (Option.isSome(failure)) {
            return Stream.make<[TurnEvent]>({ type: "turn.failed", code: failure.value.code, message: failure.value.message })
          }
          return Stream.concat(
            Stream.execute(onDefect(Cause.stripFailures(cause))),
            Stream.make<[TurnEvent]>({ type: "turn.failed", code: "codex_output", message: "internal error in the plugin (details in host/log)" })
          )
        })
      )
    })
