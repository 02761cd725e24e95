/**
 * The turn core in process: the real TurnRunner over the real exec engine (CodexProcess, process
 * groups, rollouts, sessions, Turns, the bridge and the registry as the plugin builds them), with
 * the host's transport and the config swapped for test doubles. A turn runs a fake codex
 * (test/fixtures/fake-codex) in a temp CODEX_HOME and a temp workspace of its own, so the test can
 * find its codex in /proc by the workspace on its command line.
 */
import { Chunk, Effect, Layer, Stream } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { AppServerEngine } from "../../src/services/TurnEngine.ts"
import { CodexProcessLive } from "../../src/layers/CodexProcessLive.ts"
import { ExecEngineLive } from "../../src/layers/ExecEngineLive.ts"
import { McpRegistryLive } from "../../src/layers/McpRegistryLive.ts"
import { ProcessGroupsLive } from "../../src/layers/ProcessGroupsLive.ts"
import { RolloutStoreLive } from "../../src/layers/RolloutStoreLive.ts"
import { SessionStoreLive } from "../../src/layers/SessionStoreLive.ts"
import { ToolBridgeLive } from "../../src/layers/ToolBridgeLive.ts"
import { LauncherLive } from "../../src/layers/LauncherLive.ts"
import { TurnRunnerLive } from "../../src/layers/TurnRunnerLive.ts"
import { TurnsLive } from "../../src/layers/TurnsLive.ts"
import { type Config, defaultConfig } from "../../src/schemas/Config.ts"
import type { StreamParams, TurnEvent } from "../../src/schemas/Protocol.ts"
import { ActiveConfig, NotInitialized } from "../../src/services/PluginConfig.ts"
import { PluginPaths } from "../../src/services/PluginPaths.ts"
import { HostCallError, PluginTransport } from "../../src/services/PluginTransport.ts"
import { TurnRunner, type TurnSummary } from "../../src/services/TurnRunner.ts"

export const FAKE_CODEX = Path.join(import.meta.dirname, "../fixtures/fake-codex/fake-codex.mjs")
const PLUGIN = Path.join(import.meta.dirname, "../../bin/plexum-openai-provider-plugin")

export interface TurnWorld {
  readonly codexHome: string
  readonly stateDir: string
  /** The turn's workspace: on codex's command line (`-C`), so its processes can be found by it. */
  readonly workspace: string
}

/** A world in temp directories, removed when the scope ends. */
export const makeTurnWorld = Effect.acquireRelease(
  Effect.sync((): TurnWorld & { readonly root: string } => {
    const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "turn-runner-"))
    const world = { root, codexHome: Path.join(root, "codex-home"), stateDir: Path.join(root, "state"), workspace: Path.join(root, "workspace") }
    for (const dir of [world.codexHome, world.stateDir, world.workspace]) Fs.mkdirSync(dir, { recursive: true })
    return world
  }),
  (world) => Effect.sync(() => Fs.rmSync(world.root, { recursive: true, force: true }))
)

/** The host's side: a host tool call is refused (these turns offer none); nothing else is asked of it. */
const testTransport = Layer.succeed(
  PluginTransport,
  PluginTransport.of({
    notify: () => Effect.void,
    notifyTurnEvents: () => Effect.void,
    request: (method) => Effect.fail(new HostCallError({ method, message: "no host in this test" })),
    reply: () => Effect.void,
    replyError: () => Effect.void,
    settle: () => Effect.void,
    hostGone: Effect.void
  })
)

/** The config in force, as after an `initialize` with it. */
const testConfig = (config: Config) =>
  Layer.succeed(
    ActiveConfig,
    ActiveConfig.of({
      current: Effect.succeed(config),
      get: Effect.succeedSome(config),
      set: () => Effect.die(new NotInitialized({ message: "the test's config is fixed" }))
    })
  )

/** These turns run on the exec engine; the app-server engine is never asked. */
const noAppServer = Layer.succeed(
  AppServerEngine,
  AppServerEngine.of({
    run: () => Stream.die(new Error("the app-server engine is not part of this test")),
    releaseThread: () => Effect.void,
    support: () => Effect.succeed({ usable: false, reason: "not part of this test" })
  })
)

/** The TurnRunner with the real exec engine under it, in `world`, with `config` over the fake codex. */
export const turnRunnerLayer = (world: TurnWorld, config: Partial<Config> = {}) => {
  const paths = Layer.succeed(
    PluginPaths,
    PluginPaths.of({
      profileRoot: world.stateDir,
      codexHome: world.codexHome,
      pluginDir: world.stateDir,
      configPath: Path.join(world.stateDir, "config.json"),
      stateDir: world.stateDir
    })
  )
  const engines = ExecEngineLive.pipe(
    Layer.provideMerge(Layer.mergeAll(CodexProcessLive, McpRegistryLive({ launcher: PLUGIN, interpreter: process.execPath }), ToolBridgeLive)),
    Layer.provideMerge(Layer.merge(ProcessGroupsLive, LauncherLive))
  )
  return TurnRunnerLive.pipe(
    Layer.provideMerge(Layer.merge(engines, noAppServer)),
    Layer.provideMerge(
      Layer.mergeAll(
        RolloutStoreLive,
        SessionStoreLive,
        TurnsLive,
        testConfig({ ...defaultConfig, binary: FAKE_CODEX, engine: "exec", ...config }),
        testTransport
      )
    ),
    Layer.provide(paths)
  )
}

export const streamParams = (world: TurnWorld, turnId: string, request: Partial<StreamParams["request"]> = {}): StreamParams => ({
  turnId,
  modelId: "codex",
  agent: { agentId: "agent-1", workspace: world.workspace },
  request: { messages: [{ role: "user", content: "hello from the test" }], ...request }
})

/**
 * Runs one turn through the TurnRunner as the handler does: its events as written, and its summary.
 * `onWrite` sees each chunk as it is written (to act while the turn runs).
 */
export const runTurn = (params: StreamParams, onWrite: (events: ReadonlyArray<TurnEvent>) => Effect.Effect<void> = () => Effect.void) =>
  Effect.gen(function* () {
    const runner = yield* TurnRunner
    const events: Array<TurnEvent> = []
    const summary: TurnSummary = yield* runner.run(params, `req-${params.turnId}`, (chunk) => {
      const written = Chunk.toReadonlyArray(chunk)
      events.push(...written)
      return onWrite(written)
    })
    return { events, summary }
  })

export const terminalEvents = (events: ReadonlyArray<TurnEvent>) =>
  events.filter((e) => e.type === "turn.completed" || e.type === "turn.failed")
