/**
 * The protocol server: the stdio transport serving the method table until stdin
 * ends. Loaded by `serve` only, so other commands do not pay for turn services.
 */
import { Effect } from "effect"
import { PluginTransportLive } from "./PluginTransportLive.ts"
import { ProcessGroupsLive } from "./ProcessGroupsLive.ts"
import { makeProtocolRouter } from "./ProtocolHandlers.ts"
import { ProcessGroups } from "../services/ProcessGroups.ts"
import { PluginTransport } from "../services/PluginTransport.ts"

/** Ends codex process groups that a plugin killed before it could end them left behind. */
const reapOrphans = Effect.gen(function* () {
  const ended = yield* Effect.flatMap(ProcessGroups, (groups) => groups.reapOrphans)
  if (ended.length === 0) return
  const transport = yield* PluginTransport
  yield* transport.log("warn", `ended ${ended.length} codex process group(s) left behind by a plugin that died`, {
    pgids: ended
  })
}).pipe(Effect.provide(ProcessGroupsLive))

export const serveProtocol = Effect.gen(function* () {
  const transport = yield* PluginTransport
  const router = yield* makeProtocolRouter
  yield* Effect.forkScoped(reapOrphans)
  yield* transport.serve(router)
}).pipe(
  Effect.scoped,
  Effect.provide(PluginTransportLive),
  // stdin has ended and everything we own is closed: exit 0 even if a stray handle lingers.
  Effect.zipRight(Effect.sync(() => process.exit(0)))
)
