/**
 * The composition root. `MainLive` is what every command gets (Main.ts provides it once);
 * `ServeLive` is the service graph of `serve`, built once when serving starts and kept until
 * the plugin exits. It is loaded only by `serve`, so `manifest`, `--help` and `mcp-host`
 * start without evaluating the turn machinery.
 */
import { Effect, Layer } from "effect"
import { PluginPathsLive } from "./PluginPathsLive.ts"

export const MainLive = Layer.mergeAll(PluginPathsLive)

export const ServeLive = Layer.unwrapEffect(Effect.map(Effect.promise(() => import("./ServeLive.ts")), (m) => m.ServeLive))
