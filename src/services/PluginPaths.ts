/**
 * Where the plugin keeps and finds things on disk. Resolved once from the
 * environment so every service agrees (PROTOCOL.md §1, §6).
 */
import { Context } from "effect"
import * as Os from "node:os"
import * as Path from "node:path"
import { PLUGIN_NAME } from "../schemas/Manifest.ts"


export interface PluginPathsShape {
  /** `PLEXUM_PROFILE_ROOT`, default `~/.plexum`. */
  readonly profileRoot: string
  /** `CODEX_HOME`, default `~/.codex`; handed down to every codex process. */
  readonly codexHome: string
  /** `<profile>/plugins/plexum-openai-provider` */
  readonly pluginDir: string
  /** `<pluginDir>/config.json` */
  readonly configPath: string
  /** `<pluginDir>/state`: thread memory, running-process records. */
  readonly stateDir: string
  /** `XDG_RUNTIME_DIR` if set: where the bridge sockets go when it is private (src/core/bridge/SocketPath.ts). */
  readonly runtimeDir?: string | undefined
}

export class PluginPaths extends Context.Tag("PluginPaths")<PluginPaths, PluginPathsShape>() {}

export const resolvePluginPaths = (env: NodeJS.ProcessEnv = process.env): PluginPathsShape => {
  const home = Os.homedir()
  const profileRoot = Path.resolve(env.PLEXUM_PROFILE_ROOT || Path.join(home, ".plexum"))
  const codexHome = Path.resolve(env.CODEX_HOME || Path.join(home, ".codex"))
  const pluginDir = Path.join(profileRoot, "plugins", PLUGIN_NAME)
  return {
    profileRoot,
    codexHome,
    pluginDir,
    configPath: Path.join(pluginDir, "config.json"),
    stateDir: Path.join(pluginDir, "state"),
    runtimeDir: env.XDG_RUNTIME_DIR || undefined
  }
}
