/**
 * The protocol server: the stdio transport serving the method table until stdin ends. Loaded by
 * `serve` only, so other commands do not pay for turn services.
 */
import { Effect } from "effect"
import { makeProtocolRouter } from "./ProtocolHandlers.ts"
import { serveRequests } from "./RpcDispatcher.ts"
import { ProcessGroups } from "../services/ProcessGroups.ts"
import { PluginPaths } from "../services/PluginPaths.ts"
import * as Fs from "node:fs/promises"
import { privatizeTree } from "../core/PrivateFiles.ts"
import { isProcessAlive } from "../core/ProcessAlive.ts"
import { removeStaleTempSocketDirs } from "../core/bridge/SocketPath.ts"

/** Ends codex process groups that a plugin killed before it could end them left behind. */
const reapOrphans = Effect.gen(function* () {
  const ended = yield* Effect.flatMap(ProcessGroups, (groups) => groups.reapOrphans)
  if (ended.length === 0) return
  yield* Effect.logWarning(`ended ${ended.length} codex process group(s) left behind by a plugin that died`).pipe(
    Effect.annotateLogs({ pgids: ended })
  )
})

/**
 * codex refuses to start when CODEX_HOME names a directory that does not exist, and the plugin
 * always names one (its default is codex's own `~/.codex`): create it, as codex does for its default.
 */
const codexHomeReady = Effect.gen(function* () {
  const paths = yield* PluginPaths
  yield* Effect.tryPromise(() => Fs.mkdir(paths.codexHome, { recursive: true, mode: 0o700 })).pipe(
    Effect.catchAll((e) => Effect.logWarning(`cannot create CODEX_HOME ${paths.codexHome}: ${String(e.error)}; codex will not start`))
  )
})

/**
 * The plugin's state is private (src/core/PrivateFiles.ts): what an earlier version or another
 * umask left readable by others (sessions name agents, workspaces and threads; app-server records
 * hold tool specs) is made 0700/0600 before the first turn. The turns' socket directories a
 * SIGKILLed plugin left in /tmp (src/core/bridge/SocketPath.ts) go too.
 */
const stateMadePrivate = Effect.gen(function* () {
  const paths = yield* PluginPaths
  const { repaired, failed } = yield* Effect.sync(() => privatizeTree(paths.stateDir))
  if (repaired.length > 0) {
    yield* Effect.logInfo(`made ${repaired.length} file(s) and directories under ${paths.stateDir} private (0600/0700)`)
  }
  if (failed.length > 0) {
    yield* Effect.logWarning(`cannot make ${failed.length} path(s) under ${paths.stateDir} private (another owner?); other users may read them`).pipe(
      Effect.annotateLogs({ paths: failed.slice(0, 20) })
    )
  }
  const staleSocketDirs = yield* Effect.try(() => removeStaleTempSocketDirs(isProcessAlive)).pipe(
    Effect.catchAll((e) => Effect.as(Effect.logWarning(`cannot look for socket directories a stopped plugin left in /tmp: ${String(e.error)}`), []))
  )
  if (staleSocketDirs.length > 0) {
    yield* Effect.logInfo(`removed ${staleSocketDirs.length} socket directory(ies) a stopped plugin left in /tmp`).pipe(
      Effect.annotateLogs({ dirs: staleSocketDirs })
    )
  }
})

export const serveProtocol = Effect.gen(function* () {
  const router = yield* makeProtocolRouter
  yield* codexHomeReady
  yield* stateMadePrivate
  yield* Effect.forkScoped(reapOrphans)
  yield* serveRequests(router)
})
