/** Every long-lived service of the plugin, composed once. */
import { Layer } from "effect"
import { PluginPathsLive } from "./PluginPathsLive.ts"

export const MainLive = Layer.mergeAll(PluginPathsLive)
