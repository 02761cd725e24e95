/**
 * The composition root: the layer each command runs on. Main.ts chooses one per command and
 * provides it once; nothing below a command builds a service by hand. `MainLive` (the plugin's
 * paths) is under every command. The others are loaded only when their command runs, so
 * `manifest`, `--help` and `mcp-host` start without evaluating the turn machinery.
 */
import { Effect, Layer, type Option } from "effect"
import { PluginPathsLive } from "./PluginPathsLive.ts"

export const MainLive = PluginPathsLive

/** `serve`: every long-lived service, built once when serving starts, closed when the plugin exits. */
export const ServeLive = Layer.unwrapEffect(Effect.map(Effect.promise(() => import("./ServeLive.ts")), (m) => m.ServeLive))

/** `doctor`: the process groups its app-server check starts in (ended before doctor returns). */
export const DoctorLive = Layer.unwrapEffect(Effect.map(Effect.promise(() => import("./ProcessGroupsLive.ts")), (m) => m.ProcessGroupsLive))

/** `rollout inspect|list`: the rollouts under CODEX_HOME (or `--codex-home`) and the plugin's session records. */
export const RolloutToolsLive = (codexHome: Option.Option<string>) =>
  Layer.unwrapEffect(Effect.map(Effect.promise(() => import("./RolloutToolsLive.ts")), (m) => m.rolloutToolsLive(codexHome)))
