// Drives the app-server engine Layer directly (no plugin around it): a temp CODEX_HOME and profile,
// a workspace, the real codex (PLEXUM_TEST_CODEX_BIN overrides the pinned one, e.g. to run the same
// tests against another version by hand) and the scripted model server.
import { Context, Effect, Layer, Option, Stream } from "effect"
import { randomUUID } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { chooseThread } from "../../src/core/turn/ThreadChoice.ts"
import { AppServerEngineLive } from "../../src/layers/AppServerEngineLive.ts"
import { TurnsLive } from "../../src/layers/TurnsLive.ts"
import { ActiveConfigLive } from "../../src/layers/ActiveConfigLive.ts"
import { ProcessGroupsLive } from "../../src/layers/ProcessGroupsLive.ts"
import { RolloutStoreLive } from "../../src/layers/RolloutStoreLive.ts"
import { defaultConfig, type Config } from "../../src/schemas/Config.ts"
import type { ToolResult, ToolSpec, TurnEvent } from "../../src/schemas/Protocol.ts"
import { PluginPaths, type PluginPathsShape } from "../../src/services/PluginPaths.ts"
import { RolloutStore } from "../../src/services/RolloutStore.ts"
import {
  AppServerEngine,
  isTurnEnded,
  type TurnEnded,
  type TurnEngineShape,
  type TurnFailure,
  type TurnHooks,
  type TurnPlan
} from "../../src/services/TurnEngine.ts"
import { codexBin, codexOfflineArgs } from "./CodexOffline.ts"

/** The codex under test (PLEXUM_TEST_CODEX_BIN, else the pinned one: see CodexOffline.ts). */
export const testCodexBin: string = codexBin

const offlineArgs = (baseUrl: string): Array<string> => [...codexOfflineArgs(baseUrl)]

export interface AppServerWorld {
  readonly paths: PluginPathsShape
  readonly workspace: string
  readonly config: Config
}

/** Temp dirs for one test, removed when the scope closes. */
export const makeWorld = (baseUrl: string, overrides: Partial<Config> = {}) =>
  Effect.acquireRelease(
    Effect.sync((): AppServerWorld => {
      const root = mkdtempSync(join(tmpdir(), "appserver-test-"))
      const profileRoot = join(root, "profile")
      const pluginDir = join(profileRoot, "plugins", "plexum-openai-provider")
      const paths: PluginPathsShape = {
        profileRoot,
        codexHome: mkdtempSync(join(root, "codex-home-")),
        pluginDir,
        configPath: join(pluginDir, "config.json"),
        stateDir: join(pluginDir, "state")
      }
      const workspace = mkdtempSync(join(root, "ws-"))
      const config: Config = { ...defaultConfig, binary: testCodexBin, extra_args: offlineArgs(baseUrl), ...overrides }
      return { paths, workspace, config }
    }),
    (world) => Effect.sync(() => rmSync(join(world.paths.codexHome, ".."), { recursive: true, force: true }))
  )

/** The engine over a world's paths; its app-server ends with the returned scope. */
export const engineLayer = (world: AppServerWorld) => {
  const pathsLayer = Layer.succeed(PluginPaths, world.paths)
  return AppServerEngineLive.pipe(
    Layer.provide(Layer.mergeAll(ProcessGroupsLive, RolloutStoreLive, TurnsLive, ActiveConfigLive)),
    Layer.provide(pathsLayer)
  )
}

/** Builds the engine in the current scope. */
export const buildEngine = (world: AppServerWorld) =>
  Effect.map(Layer.build(engineLayer(world)), (ctx) => Context.get(ctx, AppServerEngine))

/** The world's RolloutStore (a second instance over the same CODEX_HOME, as `session/mutate` would use). */
export const buildRollouts = (world: AppServerWorld) =>
  Effect.map(Layer.build(RolloutStoreLive.pipe(Layer.provide(Layer.succeed(PluginPaths, world.paths)))), (ctx) =>
    Context.get(ctx, RolloutStore)
  )

export interface PlanInput {
  readonly text: string
  readonly resumeThreadId?: string | undefined
  readonly tools?: ReadonlyArray<ToolSpec>
  readonly system?: string
  readonly newThreadPrompt?: string
  readonly turnId?: string
  readonly agentId?: string
}

export const makePlan = (world: AppServerWorld, input: PlanInput): TurnPlan => ({
  params: {
    turnId: input.turnId ?? `turn-${randomUUID()}`,
    modelId: "codex",
    agent: { agentId: input.agentId ?? "agent-a", workspace: world.workspace },
    request: {
      messages: [{ role: "user", content: input.text }],
      ...(input.tools !== undefined ? { tools: input.tools } : {}),
      ...(input.system !== undefined ? { system: input.system } : {})
    }
  },
  config: world.config,
  resumeThreadId: input.resumeThreadId,
  prompt: { text: input.text, images: [] },
  newThreadPrompt: { text: input.newThreadPrompt ?? input.text, images: [] },
  previousUsageTotal: undefined
})

/**
 * The plan the runner would make for a turn that asks for `threadId` (`session.threadId`): the
 * one thread choice (src/core/turn/ThreadChoice.ts) with this engine's `keepsThread`; a turn that
 * does not resume it gets `newThreadPrompt`. Returns the choice's notices beside the plan.
 */
export const chosenPlan = (engine: TurnEngineShape, world: AppServerWorld, input: PlanInput & { readonly threadId: string }) =>
  Effect.gen(function* () {
    const rollouts = yield* buildRollouts(world)
    const asked = makePlan(world, input)
    const params = { ...asked.params, request: { ...asked.params.request, session: { threadId: input.threadId } } }
    const choice = yield* chooseThread({ lastThread: () => Effect.succeed(Option.none()), findRollout: rollouts.find })(params, engine.keepsThread)
    const resumeThreadId = Option.getOrUndefined(Option.map(choice.resume, (r) => r.threadId))
    const text = resumeThreadId === undefined ? (input.newThreadPrompt ?? input.text) : input.text
    return { plan: { ...makePlan(world, { ...input, text, resumeThreadId }), params }, notices: choice.notices }
  })

export interface HookLog {
  readonly threads: Array<string>
  readonly toolCalls: Array<{ name: string; args: Record<string, unknown> }>
  readonly warnings: Array<string>
}

export const makeHooks = (
  callHostTool: (name: string, args: Record<string, unknown>) => Effect.Effect<ToolResult> = () =>
    Effect.succeed({ content: [{ type: "text", text: "no tools here" }], isError: true })
): { hooks: TurnHooks; log: HookLog } => {
  const log: HookLog = { threads: [], toolCalls: [], warnings: [] }
  return {
    log,
    hooks: {
      threadStarted: (id) => Effect.sync(() => void log.threads.push(id)),
      callHostTool: (name, args) => Effect.suspend(() => {
        log.toolCalls.push({ name, args })
        return callHostTool(name, args)
      }),
      warn: (message) => Effect.sync(() => void log.warnings.push(message))
    }
  }
}

/** Runs a turn to its end: its events and how it ended (`TurnEnded`), or the failure with the events before it. */
export const runTurn = (engine: TurnEngineShape, plan: TurnPlan, hooks: TurnHooks) =>
  Effect.gen(function* () {
    const events: Array<TurnEvent> = []
    let ended: TurnEnded | undefined
    const exit = yield* engine.run(plan, hooks).pipe(
      Stream.runForEach((e) => Effect.sync(() => void (isTurnEnded(e) ? (ended = e) : events.push(e)))),
      Effect.either
    )
    return { events, ended, failure: exit._tag === "Left" ? (exit.left as TurnFailure) : undefined }
  })

export const threadOf = (events: ReadonlyArray<TurnEvent>): string => {
  const started = events.find((e) => e.type === "turn.started")
  if (started?.type !== "turn.started") throw new Error(`no turn.started in ${JSON.stringify(events)}`)
  return started.threadId
}
