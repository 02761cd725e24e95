/** The Launcher: the fork server, started at first use and ended with the plugin (src/core/DetachedChild.ts). */
import { Effect, Layer } from "effect"
import { forkServerOnce } from "../core/DetachedChild.ts"
import { Launcher } from "../services/Launcher.ts"

export const LauncherLive = Layer.scoped(Launcher, Effect.map(Effect.scope, (scope) => ({ forkServer: forkServerOnce(scope) })))
