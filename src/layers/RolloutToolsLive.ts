/**
 * What the `rollout` commands read: RolloutStore over CODEX_HOME, or over the directory
 * `--codex-home` names, and the plugin's SessionStore.
 */
import { Effect, Layer, Option } from "effect"
import * as Path from "node:path"
import { PluginPaths } from "../services/PluginPaths.ts"
import { RolloutStoreLive } from "./RolloutStoreLive.ts"
import { SessionStoreLive } from "./SessionStoreLive.ts"

export const rolloutToolsLive = (codexHome: Option.Option<string>) =>
  Layer.mergeAll(RolloutStoreLive, SessionStoreLive).pipe(
    Layer.provide(
      Layer.effect(
        PluginPaths,
        Effect.map(PluginPaths, (paths) => ({ ...paths, codexHome: Option.match(codexHome, { onNone: () => paths.codexHome, onSome: (dir) => Path.resolve(dir) }) }))
      )
    )
  )
