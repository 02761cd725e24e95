/** The plugin's paths, resolved once from this process's environment. */
import { Effect, Layer } from "effect"
import { PluginPaths, resolvePluginPaths } from "../services/PluginPaths.ts"

export const PluginPathsLive = Layer.effect(PluginPaths, Effect.sync(() => resolvePluginPaths()))
