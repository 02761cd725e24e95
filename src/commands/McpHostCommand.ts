/**
 * `mcp-host [--socket PATH] [--agent-id ID]`: the MCP stdio server codex starts
 * for an agent's host tools. The runtime lives in src/mcphost/ (its own lean
 * bundle); this is only its place in the CLI, for help and for the full bundle.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Effect, Option } from "effect"

// Loaded only when this command runs: the MCP SDK (with its validators) must not be evaluated on
// every start of the plugin, only in mcp-host (which normally runs from its own lean bundle).
const loadMcpHost = () => import("../mcphost/McpHostMain.ts")

const socket = Options.text("socket").pipe(
  Options.withDescription("Bridge socket of the agent (default: $PLEXUM_MCP_SOCKET)."),
  Options.optional
)
const agentId = Options.text("agent-id").pipe(
  Options.withDescription("Agent id presented to the plugin (default: $PLEXUM_MCP_AGENT_ID)."),
  Options.optional
)

export const mcpHostCommand = Command.make("mcp-host", { socket, agentId }, (flags) =>
  Effect.promise(() =>
    loadMcpHost().then(({ runMcpHost }) => runMcpHost({
      ...Option.match(flags.socket, { onNone: () => ({}), onSome: (socket) => ({ socket }) }),
      ...Option.match(flags.agentId, { onNone: () => ({}), onSome: (agentId) => ({ agentId }) })
    }))
  ).pipe(
    // stdin has ended or codex is gone: nothing left to serve.
    Effect.zipRight(Effect.sync(() => process.exit(0)))
  )
).pipe(Command.withDescription("Serve this agent's Plexum host tools to codex over MCP stdio."))
