/**
 * Every long-lived service of `serve`, composed once: built when serving starts, closed when the
 * plugin exits. Turn state (Turns), the config in force (ActiveConfig) and the engines live here
 * for the whole process; `initialize` only sets the config value.
 */
import { Layer } from "effect"
import { ActiveConfigLive } from "./ActiveConfigLive.ts"
import { CodexProcessLive } from "./CodexProcessLive.ts"
import { AppServerEngineLive } from "./AppServerEngineLive.ts"
import { ExecEngineLive } from "./ExecEngineLive.ts"
import { pluginLauncher } from "../core/Launcher.ts"
import { LauncherLive } from "./LauncherLive.ts"
import { McpRegistryLive } from "./McpRegistryLive.ts"
import { PluginTransportLive } from "./PluginTransportLive.ts"
import { StdioLinesLive } from "./StdioLinesLive.ts"
import { ProcessGroupsLive } from "./ProcessGroupsLive.ts"
import { RolloutStoreLive } from "./RolloutStoreLive.ts"
import { SessionStoreLive } from "./SessionStoreLive.ts"
import { ToolBridgeLive } from "./ToolBridgeLive.ts"
import { TurnRunnerLive } from "./TurnRunnerLive.ts"
import { TurnsLive } from "./TurnsLive.ts"
import { HostLoggerLive } from "../protocol/HostLogger.ts"

/** stdin/stdout as lines, and the RPC peer on them (the dispatcher is src/protocol/RpcDispatcher.ts). */
const Transport = PluginTransportLive.pipe(Layer.provideMerge(StdioLinesLive))

const Engines = Layer.mergeAll(ExecEngineLive, AppServerEngineLive).pipe(
  Layer.provideMerge(Layer.mergeAll(CodexProcessLive, McpRegistryLive({ launcher: pluginLauncher(), interpreter: process.execPath }), ToolBridgeLive)),
  Layer.provideMerge(Layer.mergeAll(ProcessGroupsLive, LauncherLive))
)

/** The services, and the one logger while serving: every `Effect.log*` reaches the host (HostLogger.ts). */
export const ServeLive = Layer.mergeAll(TurnRunnerLive, HostLoggerLive).pipe(
  Layer.provideMerge(Engines),
  Layer.provideMerge(Layer.mergeAll(RolloutStoreLive, SessionStoreLive, TurnsLive, ActiveConfigLive, Transport))
)
