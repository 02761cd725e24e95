/**
 * The exec engine: one `codex exec --json` per turn (PROTOCOL.md §7 for host tools).
 * prepare (host-tool bridge, flags, temp files) → codex's lines as events → close (the turn's
 * tool blocks from the rollout, its usage). Everything it opens lives in the stream's scope.
 */
import { Chunk, Effect, Fiber, Layer, Stream } from "effect"
import type { Scope } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { buildCodexArgs } from "../core/codex/CodexArgs.ts"
import { makeCodexEventMapper } from "../core/codex/CodexEventMapper.ts"
import { isBridgeStartFailure } from "../core/bridge/HostToolFlags.ts"
import { removeRunProfile, runProfileToml, writeRunProfile } from "../core/codex/RunProfile.ts"
import { commaFreeImagePaths } from "../core/codex/ImageAliases.ts"
import { toToolBlockEvent } from "../core/rollout/RolloutToolCalls.ts"
import { mapChunksEffect } from "../core/StreamPull.ts"
import { scopedTempDir } from "../core/TempDir.ts"
import { exposeToolNames } from "../core/bridge/ToolNames.ts"
import { ENV_TURN_TOKEN } from "../schemas/BridgeEnv.ts"
import type { TurnEvent } from "../schemas/Protocol.ts"
import { CodexProcess, type CodexRunError } from "../services/CodexProcess.ts"
import { McpRegistry } from "../services/McpRegistry.ts"
import { PluginPaths } from "../services/PluginPaths.ts"
import { type RolloutNotFound, type RolloutReadError, RolloutStore } from "../services/RolloutStore.ts"
import { ToolBridge } from "../services/ToolBridge.ts"
import { ExecEngine, TurnFailure, type TurnHooks, type TurnPlan } from "../services/TurnEngine.ts"

const failure = (code: TurnFailure["code"], message: string, cause?: unknown) =>
  new TurnFailure({ code, message, ...(cause === undefined ? {} : { cause }) })

/**
 * The environment codex runs with: the plugin's own with CODEX_HOME set. A turn token the plugin
 * itself inherited is dropped: codex's environment reaches every command the model runs, so the
 * token goes to the agent's server alone, in its own env table of the run's profile.
 */
const codexEnv = (codexHome: string): Record<string, string | undefined> => {
  const { [ENV_TURN_TOKEN]: _inherited, ...env } = process.env
  return { ...env, CODEX_HOME: codexHome }
}

const causeText = (e: unknown): string => {
  const c = (e as { cause?: unknown }).cause ?? e
  return c instanceof Error ? c.message : String(c)
}

export const ExecEngineLive = Layer.effect(
  ExecEngine,
  Effect.gen(function* () {
    const paths = yield* PluginPaths
    const codex = yield* CodexProcess
    const registry = yield* McpRegistry
    const bridge = yield* ToolBridge
    const rollouts = yield* RolloutStore

    /** Writes options.outputSchema to a temp file that lives as long as the turn. */
    const outputSchemaFile = (schema: unknown): Effect.Effect<string, TurnFailure, Scope.Scope> =>
      scopedTempDir("plexum-schema-").pipe(
        Effect.map((dir) => Path.join(dir, "output-schema.json")),
        Effect.tap((file) => Effect.tryPromise(() => Fs.writeFile(file, JSON.stringify(schema), { mode: 0o600 }))),
        Effect.mapError((e) => failure("codex_output", `cannot write the output schema: ${causeText(e)}`, e))
      )

    /** Where the resumed thread's rollout ended before the turn: its blocks are only this turn's. */
    const rolloutEnd = (threadId: string | undefined, hooks: TurnHooks) =>
      threadId === undefined
        ? Effect.succeed(0)
        : rollouts.find(threadId).pipe(
          Effect.flatMap((path) => rollouts.endOffset(path)),
          Effect.catchAll((e) =>
            Effect.as(hooks.warn(`cannot read where the rollout of thread ${threadId} ends: ${e.message}; this turn's tool.blocks may include earlier calls`), 0)
          )
        )

    const run = (plan: TurnPlan, hooks: TurnHooks): Stream.Stream<TurnEvent, TurnFailure> =>
      Stream.unwrapScoped(
        Effect.gen(function* () {
          const { config, params } = plan
          const { agent, request, turnId } = params
          const tools = request.tools ?? []
          const serverName = registry.serverName(agent.agentId)
          const turnToken = Crypto.randomBytes(16).toString("hex")
          // codex has read its run profile once it names the thread or calls a host tool, whichever
          // the plugin learns first (RunProfile.ts): the token and the system prompt in it need not
          // wait on disk for the turn's end. (The call comes through the bridge, not codex's stdout.)
          let runProfile: string | undefined
          const runProfileRead = Effect.suspend(() => (runProfile === undefined ? Effect.void : removeRunProfile(paths.codexHome, runProfile)))
          // Only mcp-host processes below this turn's codex are served (besides the token check),
          // unless the operator turned that check off (config bridge_peer_check, docs/security.md).
          let codexPid: number | undefined
          const socketPath =
            tools.length === 0
              ? undefined
              : yield* bridge
                .serve({
                  agentId: agent.agentId,
                  turnId,
                  tools,
                  turnToken,
                  callTool: (name, args) => Effect.zipRight(runProfileRead, hooks.callHostTool(name, args)),
                  ...(config.bridge_peer_check ? { expectedAncestorPid: () => codexPid } : {})
                })
                .pipe(Effect.mapError((e) => failure("bridge", e.message, e)))
          // The system prompt and the host-tools server reach codex in a private per-run file, never argv.
          const serverTables = yield* registry
            .runServerTables(agent.agentId, {
              offersTools: tools.length > 0,
              toolTimeoutSec: config.tool_timeout_sec,
              ...(socketPath === undefined ? {} : { socketPath, turnToken })
            })
            .pipe(Effect.mapError((e) => failure("bridge", `cannot give codex the host tools: ${e.message}`, e)))
          runProfile = yield* writeRunProfile(
            paths.codexHome,
            runProfileToml({ developerInstructions: request.system, serverTables })
          ).pipe(Effect.mapError((e) => failure("codex_exit", e.message, e)))
          const exposedNames = new Map(exposeToolNames(tools.map((t) => t.name)).map((t) => [t.exposed, t.original]))
          const resumed = plan.resumeThreadId
          const rolloutBefore = yield* rolloutEnd(resumed, hooks)
          const images = yield* commaFreeImagePaths(plan.prompt.images).pipe(
            Effect.mapError((e) => failure("codex_output", `cannot pass an image path to codex: ${causeText(e)}`, e))
          )
          const args = buildCodexArgs({
            config,
            modelId: params.modelId,
            workspace: agent.workspace,
            request,
            resumeThreadId: resumed,
            outputSchemaFile: request.options?.outputSchema ? yield* outputSchemaFile(request.options.outputSchema) : undefined,
            images,
            runProfile: runProfile!
          })
          const mapper = makeCodexEventMapper({
            resumed: resumed !== undefined,
            resumeThreadId: resumed,
            ownServerName: serverName,
            hostToolName: (exposed) => exposedNames.get(exposed) ?? exposed,
            previousUsageTotal: plan.previousUsageTotal
          })

          let runError: CodexRunError | undefined
          const turnScope = yield* Effect.scope
          // The rollout is looked for once codex has ended the turn (it creates the file only after
          // naming the thread) and while it shuts down, so the turn's end only reads it.
          let rolloutSearch: Fiber.RuntimeFiber<string, RolloutNotFound | RolloutReadError> | undefined
          const searchRollout = (threadId: string) =>
            Effect.map(Effect.forkIn(rollouts.find(threadId), turnScope), (fiber) => {
              rolloutSearch = fiber
            })
          // Where a codex line becomes events: decoded by CodexProcess, mapped here.
          const live = mapChunksEffect(
            codex.run({
              binary: config.binary,
              args,
              cwd: agent.workspace,
              env: codexEnv(paths.codexHome),
              stdin: plan.prompt.text,
              onSpawn: (pid) => {
                codexPid = pid
              }
            }),
            // No Effect.gen here: a generator per chunk kept each chunk reachable long enough for V8
            // to promote it (src/core/StreamPull.ts); only the chunk that starts the thread runs an effect.
            (chunk) => {
              const threadBefore = mapper.threadId()
              const out: Array<TurnEvent> = []
              for (const event of chunk) for (const e of mapper.onEvent(event)) out.push(e)
              const events = Chunk.unsafeFromArray(out)
              const threadId = mapper.threadId()
              // The thread is the runner's to remember and hold before codex's first event about it goes out.
              const started = threadBefore === undefined && threadId !== undefined
              const search = threadId !== undefined && mapper.turnEnded() && rolloutSearch === undefined
              if (!started && !search) return Effect.succeed(events)
              return Effect.as(
                Effect.zipRight(
                  started ? Effect.zipRight(runProfileRead, hooks.threadStarted(threadId!)) : Effect.void,
                  search ? searchRollout(threadId!) : Effect.void
                ),
                events
              )
            }
          ).pipe(
            Stream.catchAll((e) => {
              runError = e
              return Stream.empty
            })
          )

          // After codex has ended: the outcome, the turn's tool blocks and its usage.
          const close = Effect.gen(function* () {
            const outcome = mapper.outcome(runError)
            if (outcome._tag === "failed") {
              const bridgeDown = tools.length > 0 && outcome.code === "codex_exit" && isBridgeStartFailure(outcome.message, serverName)
              return yield* bridgeDown
                ? failure("bridge", `the host tools' MCP server did not start (run doctor): ${outcome.message}`, runError)
                : failure(outcome.code, outcome.message, runError)
            }
            const threadId = mapper.threadId()
            if (threadId === undefined) return yield* failure("codex_output", "codex never announced a thread")
            // A thread codex switched to is read from its start; the one asked for from where it ended.
            const from = threadId === resumed ? rolloutBefore : 0
            // A search that ran early and missed is repeated now.
            const rolloutPath = rolloutSearch === undefined ? rollouts.find(threadId) : Effect.orElse(Fiber.join(rolloutSearch), () => rollouts.find(threadId))
            const blocks = yield* rolloutPath.pipe(
              Effect.flatMap((path) => rollouts.toolCalls(path, { fromOffset: from })),
              Effect.tapError((e) => hooks.warn(`cannot read the rollout of thread ${threadId}: ${e.message}; no tool.block events for this turn`)),
              Effect.orElseSucceed(() => [])
            )
            const events: Array<TurnEvent> = blocks.map(toToolBlockEvent)
            if (outcome.usage) events.push({ type: "usage", ...outcome.usage })
            return events
          })
          return Stream.concat(live, Stream.flattenIterables(Stream.fromEffect(close)))
        })
      )

    return ExecEngine.of({ run, releaseThread: () => Effect.void })
  })
)

