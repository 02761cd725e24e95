/**
 * A turn, end to end: admit it (model, busy agent), pick the thread, open the
 * host-tool bridge, run codex, turn its events into TurnEvents, append the
 * rollout's tool blocks, and end with exactly one turn.completed/turn.failed.
 * Cancel, timeout and shutdown all interrupt the codex stream, whose scope
 * ends the whole process group before the last event is sent.
 */
import { Cause, Deferred, Effect, Exit, Layer, Option, Schema, Stream } from "effect"
import type { Scope } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { buildCodexArgs } from "../core/CodexArgs.ts"
import { commaFreeImagePaths } from "../core/ImageAliases.ts"
import { scopedTempDir } from "../core/TempDir.ts"
import { isBridgeStartFailure } from "../core/HostToolFlags.ts"
import { runProfileToml, writeRunProfile } from "../core/RunProfile.ts"
import { ENV_TURN_TOKEN } from "../mcphost/BridgeEnv.ts"
import { exposeToolNames } from "../core/ToolNames.ts"
import { makeCodexEventMapper } from "../core/CodexEventMapper.ts"
import { toToolBlockEvent } from "../core/RolloutToolCalls.ts"
import { buildTurnPrompt } from "../core/TurnPrompt.ts"
import type { FailureCode, StreamParams, StreamResult, ToolResult, TurnEvent, Usage } from "../schemas/Protocol.ts"
import { FailureCode as FailureCodeSchema, ToolResult as ToolResultSchema } from "../schemas/Protocol.ts"
import { CodexProcess } from "../services/CodexProcess.ts"
import { McpRegistry } from "../services/McpRegistry.ts"
import { ActiveConfig } from "../services/PluginConfig.ts"
import { PluginPaths } from "../services/PluginPaths.ts"
import { PluginTransport } from "../services/PluginTransport.ts"
import { RolloutStore } from "../services/RolloutStore.ts"
import { SessionStore } from "../services/SessionStore.ts"
import { ToolBridge } from "../services/ToolBridge.ts"
import { AgentBusy, ModelNotServed, TurnRunner, type TurnRunnerShape } from "../services/TurnRunner.ts"

interface RunningTurn {
  readonly turnId: string
  readonly agentId: string
  threadId: string | undefined
  /** Completed by provider/cancel, $/cancelRequest and shutdown. */
  readonly cancel: Deferred.Deferred<void>
  readonly done: Deferred.Deferred<void>
}

/** A failure that ends the turn; becomes its `turn.failed` event. */
class TurnFailure extends Schema.TaggedError<TurnFailure>()("TurnFailure", {
  code: FailureCodeSchema,
  message: Schema.String
}) {}

const turnFailure = (code: FailureCode, message: string) => new TurnFailure({ code, message })

interface TurnSuccess {
  readonly threadId: string
  readonly finalMessage: string | undefined
  readonly usage: Usage | undefined
}

const decodeToolResult = Schema.decodeUnknown(ToolResultSchema)

const toolError = (text: string): ToolResult => ({ content: [{ type: "text", text }], isError: true })

export const TurnRunnerLive = Layer.effect(
  TurnRunner,
  Effect.gen(function* () {
    const config = yield* ActiveConfig
    const paths = yield* PluginPaths
    const transport = yield* PluginTransport
    const codex = yield* CodexProcess
    const sessions = yield* SessionStore
    const registry = yield* McpRegistry
    const bridge = yield* ToolBridge
    const rollouts = yield* RolloutStore

    const byTurn = new Map<string, RunningTurn>()
    const byAgent = new Map<string, RunningTurn>()

    /** Runs a host tool as `host/tools/call`; a host error is a failed tool call, never a failed turn. */
    const callHostTool = (turnId: string, agentId: string) => (name: string, args: Record<string, unknown>) =>
      transport.request("host/tools/call", { turnId, agentId, name, arguments: args }).pipe(
        Effect.flatMap((result) => decodeToolResult(result)),
        Effect.catchTags({
          HostCallError: (e) => Effect.succeed(toolError(`host tool ${name} failed: ${e.message}`)),
          ParseError: () => Effect.succeed(toolError(`host tool ${name} returned a result that is not a ToolResult`))
        })
      )

    /** Writes options.outputSchema to a temp file that lives as long as the turn. */
    const outputSchemaFile = (schema: unknown): Effect.Effect<string, TurnFailure, Scope.Scope> =>
      scopedTempDir("plexum-schema-").pipe(
        Effect.map((dir) => Path.join(dir, "output-schema.json")),
        Effect.tap((file) => Effect.tryPromise(() => Fs.writeFile(file, JSON.stringify(schema)))),
        Effect.mapError((e) => turnFailure("codex_output", `cannot write the output schema: ${String(e.cause ?? e)}`))
      )

    const runTurn = (params: StreamParams, turn: RunningTurn, emit: (events: ReadonlyArray<TurnEvent>) => Effect.Effect<void>) =>
      Effect.gen(function* () {
        const { agent, request, turnId } = params
        const session = request.session ?? {}
        const resumeThread = session.fresh
          ? undefined
          : session.threadId ?? Option.getOrUndefined(yield* sessions.lastThread(agent.agentId, agent.workspace))
        turn.threadId = resumeThread

        // A resumed thread is locked for the whole turn: a mutation of its rollout waits for codex.
        if (resumeThread !== undefined) yield* rollouts.lockThread(resumeThread)

        const tools = request.tools ?? []
        const serverName = registry.serverName(agent.agentId)
        const turnToken = Crypto.randomBytes(16).toString("hex")
        // The system prompt and the host-tools server go to codex in a private file, never argv.
        const serverTables = yield* registry.runServerTables(agent.agentId, tools.length > 0).pipe(
          Effect.mapError((e) => turnFailure("bridge", `cannot give codex the host tools: ${e.message}`))
        )
        const runProfile = yield* writeRunProfile(
          paths.codexHome,
          runProfileToml({ developerInstructions: request.system, serverTables })
        ).pipe(Effect.mapError((e) => turnFailure("codex_exit", e.message)))
        if (tools.length > 0) {
          yield* bridge
            .serve({ agentId: agent.agentId, turnId, tools, turnToken, callTool: callHostTool(turnId, agent.agentId) })
            .pipe(Effect.mapError((e) => turnFailure("bridge", e.message)))
        }
        const exposedNames = new Map(exposeToolNames(tools.map((t) => t.name)).map((t) => [t.exposed, t.original]))

        // Where this thread's rollout ended before the turn: tool blocks are only this turn's.
        const rolloutBefore = resumeThread
          ? yield* rollouts.find(resumeThread).pipe(
              Effect.flatMap((path) => rollouts.endOffset(path)),
              Effect.orElseSucceed(() => 0)
            )
          : 0
        const previousTotal = resumeThread ? yield* sessions.usageTotal(resumeThread) : Option.none()

        const schemaFile = request.options?.outputSchema ? yield* outputSchemaFile(request.options.outputSchema) : undefined
        const prompt = buildTurnPrompt(request.messages, { resumed: resumeThread !== undefined, workspace: agent.workspace })
        const args = buildCodexArgs({
          config,
          modelId: params.modelId,
          workspace: agent.workspace,
          request,
          resumeThreadId: resumeThread,
          runProfile,
          outputSchemaFile: schemaFile,
          images: yield* commaFreeImagePaths(prompt.images).pipe(
            Effect.mapError((e) => turnFailure("codex_output", `cannot pass an image path to codex: ${String(e.cause ?? e)}`))
          )
        })
        const mapper = makeCodexEventMapper({
          resumed: resumeThread !== undefined,
          resumeThreadId: resumeThread,
          ownServerName: serverName,
          hostToolName: (exposed) => exposedNames.get(exposed) ?? exposed,
          previousUsageTotal: Option.getOrUndefined(previousTotal)
        })

        // Where a codex line becomes events: decoded by CodexProcess, mapped here, numbered by the caller.
        let announced = false
        const streamError = yield* codex
          .run({
            binary: config.binary,
            args,
            cwd: agent.workspace,
            env: { ...process.env, CODEX_HOME: paths.codexHome, [ENV_TURN_TOKEN]: turnToken },
            stdin: prompt.text
          })
          .pipe(
            Stream.runForEachChunk((chunk) =>
              Effect.gen(function* () {
                const batch: Array<TurnEvent> = []
                for (const event of chunk) {
                  if (event.type === "thread.started" && !announced) {
                    // Remember the thread the moment codex names it (a resumed one too: it becomes the
                    // agent's last), before anything else can go wrong; lock it if it is a new one.
                    announced = true
                    yield* emit(batch.splice(0))
                    yield* sessions.remember(agent.agentId, agent.workspace, event.thread_id)
                    if (event.thread_id !== resumeThread) {
                      turn.threadId = event.thread_id
                      yield* rollouts.lockThread(event.thread_id)
                    }
                  }
                  for (const e of mapper.onEvent(event)) batch.push(e)
                }
                if (batch.length > 0) yield* emit(batch)
              })
            ),
            Effect.flip,
            Effect.option
          )
        const outcome = mapper.outcome(Option.getOrUndefined(streamError))
        if (outcome._tag === "failed") {
          const bridge = tools.length > 0 && outcome.code === "codex_exit" && isBridgeStartFailure(outcome.message, serverName)
          return yield* Effect.fail(
            bridge
              ? turnFailure("bridge", `the host tools' MCP server did not start (run doctor): ${outcome.message}`)
              : turnFailure(outcome.code, outcome.message)
          )
        }
        const threadId = turn.threadId
        if (threadId === undefined) return yield* Effect.fail(turnFailure("codex_output", "codex never announced a thread"))

        // The consume mirror's handles: this turn's calls, in rollout order, under codex's own call ids.
        const blocks = yield* rollouts.find(threadId).pipe(
          Effect.flatMap((path) => rollouts.toolCalls(path, { fromOffset: rolloutBefore })),
          Effect.tapError((e) => transport.log("warn", `cannot read the rollout of thread ${threadId}: ${e.message}`)),
          Effect.orElseSucceed(() => [])
        )
        yield* emit(blocks.map(toToolBlockEvent))
        if (outcome.usageTotal) yield* sessions.rememberUsageTotal(threadId, outcome.usageTotal)
        if (outcome.usage) yield* emit([{ type: "usage", ...outcome.usage }])
        return { threadId, finalMessage: outcome.finalMessage, usage: outcome.usage } satisfies TurnSuccess
      }).pipe(Effect.scoped)

    const admit = (params: StreamParams) =>
      Effect.gen(function* () {
        if (!config.supported_models.includes(params.modelId)) {
          return yield* new ModelNotServed({
            modelId: params.modelId,
            message: `model not served: ${params.modelId} (this plugin serves ${config.supported_models.join(", ")})`
          })
        }
        const busy = byAgent.get(params.agent.agentId)
        if (busy) {
          return yield* new AgentBusy({
            agentId: params.agent.agentId,
            runningTurnId: busy.turnId,
            message: `agent busy: turn ${busy.turnId} of agent ${params.agent.agentId} is still running`
          })
        }
        const turn: RunningTurn = {
          turnId: params.turnId,
          agentId: params.agent.agentId,
          threadId: undefined,
          cancel: yield* Deferred.make<void>(),
          done: yield* Deferred.make<void>()
        }
        byAgent.set(turn.agentId, turn)
        byTurn.set(turn.turnId, turn)
        return turn
      })

    const finish = (params: StreamParams, turn: RunningTurn, emit: (events: ReadonlyArray<TurnEvent>) => Effect.Effect<void>) =>
      Exit.match({
        onSuccess: (ok: TurnSuccess) =>
          Effect.as(
            emit([
              {
                type: "turn.completed",
                ...(ok.finalMessage === undefined ? {} : { finalMessage: ok.finalMessage }),
                ...(ok.usage === undefined ? {} : { usage: ok.usage })
              }
            ]),
            {
              turnId: params.turnId,
              status: "completed",
              threadId: ok.threadId,
              ...(ok.usage === undefined ? {} : { usage: ok.usage })
            } satisfies StreamResult as StreamResult
          ),
        onFailure: (cause: Cause.Cause<TurnFailure>) => {
          const failure = Option.getOrElse(
            Cause.failureOption(cause),
            () => turnFailure("codex_output", `internal error: ${Cause.pretty(cause)}`)
          )
          return Effect.as(emit([{ type: "turn.failed", code: failure.code, message: failure.message }]), {
            turnId: params.turnId,
            status: failure.code === "cancelled" ? "cancelled" : "failed",
            ...(turn.threadId === undefined ? {} : { threadId: turn.threadId })
          } satisfies StreamResult as StreamResult)
        }
      })

    const run: TurnRunnerShape["run"] = (params, emit) =>
      Effect.gen(function* () {
        const turn = yield* admit(params)
        const timeoutMs = params.request.options?.timeoutMs ?? config.turn_timeout_ms
        // Whichever ends first wins; the loser (codex's stream) is interrupted and its
        // scope kills the process group before the race returns.
        const cancelled = Deferred.await(turn.cancel).pipe(
          Effect.zipRight(Effect.fail(turnFailure("cancelled", "the turn was cancelled")))
        )
        const timedOut = Effect.sleep(timeoutMs).pipe(
          Effect.zipRight(Effect.fail(turnFailure("timeout", `the turn exceeded its time limit of ${timeoutMs} ms`)))
        )
        const exit = yield* runTurn(params, turn, emit).pipe(
          Effect.raceFirst(cancelled),
          Effect.raceFirst(timedOut),
          Effect.exit
        )
        return yield* finish(params, turn, emit)(exit)
      }).pipe(
        Effect.onExit(() =>
          Effect.sync(() => byTurn.get(params.turnId)).pipe(
            Effect.flatMap((turn) => {
              if (!turn || turn.agentId !== params.agent.agentId) return Effect.void
              byTurn.delete(turn.turnId)
              if (byAgent.get(turn.agentId) === turn) byAgent.delete(turn.agentId)
              return Deferred.succeed(turn.done, undefined)
            })
          )
        )
      )

    const cancel = (turnId: string) => {
      const turn = byTurn.get(turnId)
      return turn ? Deferred.succeed(turn.cancel, undefined) : Effect.succeed(false)
    }

    return {
      run,
      cancel,
      cancelAll: Effect.suspend(() => Effect.forEach([...byTurn.values()], (turn) => Effect.zipRight(cancel(turn.turnId), Deferred.await(turn.done)), {
        concurrency: "unbounded",
        discard: true
      }))
    } satisfies TurnRunnerShape
  })
)
