/**
 * What starts programs for the plugin without forking it (src/core/ForkServer.ts): one fork
 * server per plugin, started by the first program that needs it. Undefined where it cannot run
 * (no perl): the caller forks the plugin then, as node's spawn does.
 */
import { Context, type Effect } from "effect"
import type { ForkServer } from "../core/ForkServer.ts"

export interface LauncherShape {
  readonly forkServer: Effect.Effect<ForkServer | undefined>
}

export class Launcher extends Context.Tag("Launcher")<Launcher, LauncherShape>() {}
