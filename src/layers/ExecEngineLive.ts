/**
 * The exec engine: one `codex exec --json` per turn (PROTOCOL.md §7 for host tools).
 * prepare (host-tool bridge, flags, temp files) → codex's lines as events → close (the turn's
 * tool blocks from the rollout, its usage). Everything it opens lives in the stream's scope.
 */
import { Chunk, Deferred, Effect, Either, Layer, Option, Stream } from "effect"
import type { Scope } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { buildCodexArgs } from "../core/codex/CodexArgs.ts"
import { makeCodexEventMapper, type TurnFailed } from "../core/codex/CodexEventMapper.ts"
import { isBridgeStartFailure } from "../core/bridge/HostToolFlags.ts"
import { removeRunProfile, runProfileToml, writeRunProfile } from "../core/codex/RunProfile.ts"
import { commaFreeImagePaths } from "../core/codex/ImageAliases.ts"
import { toToolBlockEvent } from "../core/rollout/RolloutToolCalls.ts"
import { scopedTempDir } from "../core/TempDir.ts"
import { scopedStream } from "../core/StreamPull.ts"
import { exposeToolNames } from "../core/bridge/ToolNames.ts"
import { ENV_TURN_TOKEN } from "../schemas/BridgeEnv.ts"
import { CodexProcess, type CodexRunError } from "../services/CodexProcess.ts"
import { McpRegistry } from "../services/McpRegistry.ts"
import { PluginPaths } from "../services/PluginPaths.ts"
import { RolloutStore } from "../services/RolloutStore.ts"
import { ToolBridge } from "../services/ToolBridge.ts"
import { type EngineOutput, ExecEngine, TurnEnded, TurnFailure, type TurnHooks, type TurnPlan } from "../services/TurnEngine.ts"

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

/** A Deferred's value now, if it has one: for a caller that asks synchronously (the bridge's peer check). */
const valueNow = <A>(deferred: Deferred.Deferred<A>): A | undefined =>
  Effect.runSync(Effect.map(Effect.flatMap(Deferred.poll(deferred), Effect.transposeOption), Option.getOrUndefined))

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

    const run = (plan: TurnPlan, hooks: TurnHooks): Stream.Stream<EngineOutput, TurnFailure> =>
      scopedStream(
        Effect.gen(function* () {
          const { config, params } = plan
          const { agent, request, turnId } = params
          const tools = request.tools ?? []
          const serverName = registry.serverName(agent.agentId)
          const turnToken = Crypto.randomBytes(16).toString("hex")
          // codex has read its run profile once it names the thread or calls a host tool, whichever
          // the plugin learns first (RunProfile.ts): the token and the system prompt in it need not
          // wait on disk for the turn's end. (The call comes through the bridge, not codex's stdout.)
          // Both come after the profile is written: codex is started after it.
          const runProfile = yield* Deferred.make<string>()
          const runProfileRead = Effect.flatMap(Deferred.await(runProfile), (name) => removeRunProfile(paths.codexHome, name))
          // Only mcp-host processes below this turn's codex are served (besides the token check),
          // unless the operator turned that check off (config bridge_peer_check, docs/security.md).
          const codexPid = yield* Deferred.make<number>()
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
                  // The bridge asks when a peer says hello, which is after codex started it.
                  ...(config.bridge_peer_check ? { expectedAncestorPid: () => valueNow(codexPid) } : {})
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
          const profileName = yield* writeRunProfile(
            paths.codexHome,
            runProfileToml({ developerInstructions: request.system, serverTables })
          ).pipe(Effect.mapError((e) => failure("codex_exit", e.message, e)))
          yield* Deferred.succeed(runProfile, profileName)
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
            runProfile: profileName
          })
          const mapper = makeCodexEventMapper({
            resumed: resumed !== undefined,
            resumeThreadId: resumed,
            ownServerName: serverName,
            hostToolName: (exposed) => exposedNames.get(exposed) ?? exposed,
            previousUsageTotal: plan.previousUsageTotal
          })

          /** The TurnFailure of a turn codex failed; a codex_exit naming the host tools' server is the bridge's. */
          const turnFailure = (outcome: TurnFailed, runError?: CodexRunError) => {
            const bridgeDown = tools.length > 0 && outcome.code === "codex_exit" && isBridgeStartFailure(outcome.message, serverName)
            return bridgeDown
              ? failure("bridge", `the host tools' MCP server did not start (run doctor): ${outcome.message}`, runError)
              : failure(outcome.code, outcome.message, runError)
          }
          // A failed run ends the turn at once; codex's own account of it wins (CodexEventMapper).
          const runFailed = (runError: CodexRunError) => turnFailure(mapper.failedRun(runError), runError)
          const codexRun = yield* codex.start({
            binary: config.binary,
            args,
            cwd: agent.workspace,
            env: codexEnv(paths.codexHome),
            stdin: plan.prompt.text,
            spawned: codexPid
          }).pipe(Effect.mapError(runFailed))

          // The thread's rollout, looked for once as soon as codex has ended the turn (it creates the
          // file only after naming the thread): at the pull after the turn's last events went out,
          // while codex shuts down, so the turn's end only reads it. A search that missed is repeated at the end.
          let searchDue: string | undefined
          let searched: { readonly threadId: string; readonly path: Either.Either<string, unknown> } | undefined
          const rolloutOf = (threadId: string) =>
            searched !== undefined && searched.threadId === threadId && Either.isRight(searched.path)
              ? Effect.succeed(searched.path.right)
              : rollouts.find(threadId)

          // After codex has ended cleanly: the turn's tool blocks and how it ended.
          const close = Effect.suspend((): Effect.Effect<ReadonlyArray<EngineOutput>, TurnFailure> => {
            const outcome = mapper.outcome()
            if (outcome._tag === "failed") return Effect.fail(turnFailure(outcome))
            const threadId = mapper.threadId()
            if (threadId === undefined) return Effect.fail(failure("codex_output", "codex never announced a thread"))
            // A thread codex switched to is read from its start; the one asked for from where it ended.
            const from = threadId === resumed ? rolloutBefore : 0
            const ended = new TurnEnded({ finalMessage: outcome.finalMessage, usage: outcome.usage })
            return rolloutOf(threadId).pipe(
              Effect.flatMap((path) => rollouts.toolCalls(path, { fromOffset: from })),
              Effect.matchEffect({
                onFailure: (e) => Effect.as(hooks.warn(`cannot read the rollout of thread ${threadId}: ${e.message}; no tool.block events for this turn`), [ended]),
                onSuccess: (blocks) => Effect.succeed([...blocks.map(toToolBlockEvent), ended])
              })
            )
          })

          /**
           * One pull of the turn's stream: codex's next events mapped, or at codex's end the turn's
           * blocks and its TurnEnded. A pull loop of its own rather than Stream operators over
           * CodexProcess.run: each stacked operator cost every chunk a pass through Effect's channel
           * machinery (src/core/StreamPull.ts). No Effect.gen here: a generator per chunk kept each
           * chunk reachable long enough for V8 to promote it; only the chunk that starts the thread
           * runs an effect.
           */
          let done = false
          const pull: Effect.Effect<Chunk.Chunk<EngineOutput>, Option.Option<TurnFailure>> = Effect.suspend(() => {
            if (done) return Effect.fail(Option.none())
            if (searchDue !== undefined) {
              const threadId = searchDue
              searchDue = undefined
              return Effect.flatMap(Effect.either(rollouts.find(threadId)), (path) => {
                searched = { threadId, path }
                return pull
              })
            }
            return Effect.flatMap(Effect.mapError(codexRun.next, (e) => Option.some(runFailed(e))), (events) => {
              if (events === undefined) {
                return Effect.mapBoth(close, {
                  onFailure: Option.some,
                  onSuccess: (outputs) => {
                    done = true
                    return Chunk.unsafeFromArray(outputs)
                  }
                })
              }
              const threadBefore = mapper.threadId()
              const endedBefore = mapper.turnEnded()
              const out: Array<EngineOutput> = []
              for (const event of events) for (const e of mapper.onEvent(event)) out.push(e)
              const threadId = mapper.threadId()
              if (threadId !== undefined && !endedBefore && mapper.turnEnded()) searchDue = threadId
              // The thread is the runner's to remember and hold before codex's first event about it goes out.
              if (threadBefore === undefined && threadId !== undefined) {
                const chunk = Chunk.unsafeFromArray(out)
                return Effect.zipRight(Effect.zipRight(runProfileRead, hooks.threadStarted(threadId)), out.length === 0 ? pull : Effect.succeed(chunk))
              }
              // Events the mapper keeps to itself (`<exited>`, a second thread id) make no chunk.
              return out.length === 0 ? pull : Effect.succeed(Chunk.unsafeFromArray(out))
            })
          })
          return Stream.repeatEffectChunkOption(pull)
        })
      )

    return ExecEngine.of({ run, releaseThread: () => Effect.void })
  })
)

