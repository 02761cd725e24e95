/**
 * The services a turn needs, built by `initialize` from the config in force
 * (`ActiveConfig`), on top of the plugin-wide PluginPaths and PluginTransport.
 */
import * as NodeCommandExecutor from "@effect/platform-node/NodeCommandExecutor"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { Effect, Layer } from "effect"
import * as Fs from "node:fs/promises"
import { pluginLauncher } from "../core/Launcher.ts"
import { ActiveConfig } from "../services/PluginConfig.ts"
import { PluginPaths } from "../services/PluginPaths.ts"
import { CodexProcessLive } from "./CodexProcessLive.ts"
import { McpRegistryLive } from "./McpRegistryLive.ts"
import { ProcessGroupsLive } from "./ProcessGroupsLive.ts"
import { RolloutStoreLive } from "./RolloutStoreLive.ts"
import { SessionStoreLive } from "./SessionStoreLive.ts"
import { ToolBridgeLive } from "./ToolBridgeLive.ts"
import { TurnRunnerLive } from "./TurnRunnerLive.ts"

const McpRegistryFromConfig = Layer.unwrapEffect(
  Effect.map(ActiveConfig, (config) =>
    McpRegistryLive({ launcher: pluginLauncher(), toolTimeoutSec: config.tool_timeout_sec })
  )
)

/**
 * codex refuses to start when CODEX_HOME names a directory that does not exist, and the plugin
 * always names one (its default is codex's own `~/.codex`): create it, as codex does for its default.
 */
const CodexHomeReady = Layer.effectDiscard(
  Effect.flatMap(PluginPaths, (paths) =>
    Effect.promise(() => Fs.mkdir(paths.codexHome, { recursive: true, mode: 0o700 }).catch(() => undefined))
  )
)

const Platform = NodeCommandExecutor.layer.pipe(Layer.provideMerge(NodeFileSystem.layer))

export const TurnServicesLive = TurnRunnerLive.pipe(
  Layer.provideMerge(
    Layer.mergeAll(
      CodexProcessLive,
      McpRegistryFromConfig,
      ToolBridgeLive,
      RolloutStoreLive,
      SessionStoreLive,
      CodexHomeReady
    )
  ),
  Layer.provideMerge(ProcessGroupsLive),
  Layer.provide(Platform)
)
