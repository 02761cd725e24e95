/**
 * ToolBridge on a unix socket (PROTOCOL.md §7): one listener per turn (src/core/bridge/BridgeListener.ts),
 * each accepted connection served by its own fiber in the turn's scope
 * (src/core/bridge/BridgeConnection.ts). Every peer must say `hello` with this agent's id; `list`
 * answers the turn's tools under their exposed names, `call` maps the name back and runs the host
 * call. When the turn's scope closes every connection fiber is interrupted: its running calls are
 * answered with `isError`, its socket ended and destroyed; then the listener goes.
 */
import { Effect, FiberSet, Layer, Ref, Runtime } from "effect"
import { type BridgeTurn, serveConnection } from "../core/bridge/BridgeConnection.ts"
import { execFileOutput, type RunCommand } from "../core/bridge/PeerProcess.ts"
import { outputOf } from "../core/DetachedChild.ts"
import { FORK_SERVER_FAILED } from "../core/ForkServer.ts"
import { Launcher } from "../services/Launcher.ts"
import { listenScoped, socketPlace } from "../core/bridge/BridgeListener.ts"
import { socketDirFor, socketFileName } from "../core/bridge/SocketPath.ts"
import { exposeToolNames } from "../core/bridge/ToolNames.ts"
import type { ExposedToolSpec } from "../schemas/BridgeWire.ts"
import type { ToolSpec } from "../schemas/Protocol.ts"
import { PluginPaths } from "../services/PluginPaths.ts"
import { ToolBridge, type ServeOptions, type ToolBridgeShape } from "../services/ToolBridge.ts"

/** MCP requires an object schema; a host schema without a `type` gets one. */
const objectSchema = (schema: Record<string, unknown>): Record<string, unknown> =>
  schema.type === undefined ? { type: "object", ...schema } : schema

/** The turn's tools under names codex accepts, and the way back to the host's names. */
const exposedTools = (tools: ReadonlyArray<ToolSpec>) => {
  const exposed = exposeToolNames(tools.map((t) => t.name))
  // A name offered twice is served by its first spec, as the app-server engine's dynamic tools are.
  const specByName = new Map<string, ToolSpec>()
  for (const t of tools) if (!specByName.has(t.name)) specByName.set(t.name, t)
  const list: ReadonlyArray<ExposedToolSpec> = exposed.map(({ exposed: name, original }) => {
    const spec = specByName.get(original)!
    return {
      name,
      ...(spec.description === undefined ? {} : { description: spec.description }),
      inputSchema: objectSchema(spec.inputSchema)
    }
  })
  return { list, hostName: new Map(exposed.map((e) => [e.exposed, e.original])) }
}

export const makeToolBridge = Effect.gen(function* () {
  const paths = yield* PluginPaths
  const launcher = yield* Launcher
  // The peer check's `ss` through the fork server: a fork of the plugin costs it more CPU than all
  // the rest of a connection's work (src/core/ForkServer.ts).
  // Where the server cannot make a launch, `ss` runs the old way, said in the connection's own log.
  const runCommand: Effect.Effect<RunCommand> = Effect.flatMap(launcher.forkServer, (server) =>
    server === undefined ? Effect.succeed(execFileOutput) : Effect.map(Effect.runtime<never>(), (runtime): RunCommand => (file, args, limits) =>
      outputOf(server, file, args, limits).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== FORK_SERVER_FAILED) throw e
        Runtime.runFork(runtime)(Effect.logWarning(`${e.message}; ${file} is run by forking the plugin this time`))
        return execFileOutput(file, args, limits)
      })))

  const serve = Effect.fn("ToolBridge.serve")(function* (options: ServeOptions) {
    // The profile's fixed private directory, or, where none fits, one of this turn's own in /tmp.
    const place = yield* socketPlace(socketDirFor(paths.profileRoot, paths.runtimeDir), socketFileName(options.agentId))
    const { list, hostName } = exposedTools(options.tools)
    const waitingPeers = yield* Ref.make(0)
    const run = yield* FiberSet.makeRuntime<never, void, never>()
    const turn: BridgeTurn = {
      agentId: options.agentId,
      turnId: options.turnId,
      ...(options.turnToken === undefined ? {} : { turnToken: options.turnToken }),
      socketPath: place.socketPath,
      tools: list,
      hostName,
      callTool: options.callTool,
      ...(options.expectedAncestorPid === undefined ? {} : { expectedAncestorPid: options.expectedAncestorPid }),
      waitingPeers,
      runCommand
    }
    // Made after the connections' set: the listener stops accepting before they are interrupted.
    yield* listenScoped(place, (socket) => {
      // Started at once (runFork runs synchronously up to its first wait), so the connection's fiber
      // owns the socket before this returns. Once the turn is ending the set is closed and runs
      // nothing: such a socket is destroyed here.
      if (run(serveConnection(socket, turn)).unsafePoll() !== null) socket.destroy()
    })
    return place.socketPath
  })

  return { serve } satisfies ToolBridgeShape
})

/** Requires PluginPaths and the Launcher. */
export const ToolBridgeLive = Layer.effect(ToolBridge, makeToolBridge)
