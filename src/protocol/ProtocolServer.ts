/**
 * The protocol server: the stdio transport serving the method table until stdin ends. Loaded by
 * `serve` only, so other commands do not pay for turn services.
 */
import { Effect } from "effect"
import { HostLoggerLive } from "./HostLogger.ts"
import { makeProtocolRouter } from "./ProtocolHandlers.ts"
import { ProcessGroups } from "../services/ProcessGroups.ts"
import { PluginPaths } from "../services/PluginPaths.ts"
import { PluginTransport } from "../services/PluginTransport.ts"
import * as Fs from "node:fs/promises"

/** Ends codex process groups that a plugin killed before it could end them left behind. */
const reapOrphans = Effect.gen(function* () {
  const ended = yield* Effect.flatMap(ProcessGroups, (groups) => groups.reapOrphans)
  if (ended.length === 0) return
  const transport = yield* PluginTransport
  yield* transport.log("warn", `ended ${ended.length} codex process group(s) left behind by a plugin that died`, {
    pgids: ended
  })
})

/**
 * codex refuses to start when CODEX_HOME names a directory that does not exist, and the plugin
 * always names one (its default is codex's own `~/.codex`): create it, as codex does for its default.
 */
const codexHomeReady = Effect.gen(function* () {
  const paths = yield* PluginPaths
  const transport = yield* PluginTransport
  yield* Effect.tryPromise(() => Fs.mkdir(paths.codexHome, { recursive: true, mode: 0o700 })).pipe(
    Effect.catchAll((e) => transport.log("warn", `cannot create CODEX_HOME ${paths.codexHome}: ${String(e.error)}; codex will not start`))
  )
})

export const serveProtocol = Effect.gen(function* () {
  const transport = yield* PluginTransport
  const router = yield* makeProtocolRouter
  yield* codexHomeReady
  yield* Effect.forkScoped(reapOrphans)
  yield* transport.serve(router)
}).pipe(Effect.provide(HostLoggerLive))
