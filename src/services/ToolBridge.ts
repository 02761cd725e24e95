/**
 * The plugin's side of the MCP bridge (PROTOCOL.md §7): during a turn, listen
 * on the agent's socket and serve that turn's host tools to `mcp-host`.
 */
import { Context, type Effect, Schema, type Scope } from "effect"
import type { ToolResult, ToolSpec } from "../schemas/Protocol.ts"

export class BridgeError extends Schema.TaggedError<BridgeError>()("BridgeError", {
  socketPath: Schema.String,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

export interface ServeOptions {
  readonly agentId: string
  readonly turnId: string
  readonly tools: ReadonlyArray<ToolSpec>
  /** Runs a call on the host by its host name; failures come back as `isError` results. */
  readonly callTool: (name: string, args: Record<string, unknown>) => Effect.Effect<ToolResult>
  /**
   * When set, only a peer presenting this token (handed to codex's mcp-host through
   * ENV_TURN_TOKEN) is served: this agent's server started by another agent's codex is refused.
   */
  readonly turnToken?: string
  /**
   * When set (the turn's codex pid once it runs), a peer is also required to be that process or to
   * descend from it (core/bridge/PeerProcess.ts): a peer shown to be elsewhere is refused; one whose
   * process cannot be told (no /proc, no `ss`, no pid yet) may list the tools, but each of its calls
   * is answered with an `isError` result and a `warn` log: the check fails closed. Left unset when
   * the operator turned the check off (config `bridge_peer_check`).
   */
  readonly expectedAncestorPid?: () => number | undefined
}

export interface ToolBridgeShape {
  /**
   * Listens on the agent's socket until the scope closes; then answers calls still
   * running with `isError`, closes the connections and unlinks the socket. The socket's path
   * (src/core/bridge/SocketPath.ts: the profile's fixed one, or one in a directory of the turn's
   * own). Fails with BridgeError when the socket cannot be set up or another live plugin holds it.
   */
  readonly serve: (options: ServeOptions) => Effect.Effect<string, BridgeError, Scope.Scope>
}

export class ToolBridge extends Context.Tag("ToolBridge")<ToolBridge, ToolBridgeShape>() {}
