/**
 * Names both ends of the bridge agree on. Kept free of imports: the lean
 * mcp-host bundle reads them too.
 */

/** Env var carrying the agent's socket path into `mcp-host` (set by `codex mcp add --env`). */
export const ENV_SOCKET = "PLEXUM_MCP_SOCKET"
/** Env var carrying the agent id into `mcp-host`; presented in the bridge hello. */
export const ENV_AGENT_ID = "PLEXUM_MCP_AGENT_ID"
/**
 * Env var carrying the running turn's secret into `mcp-host` (codex forwards it because
 * the turn names it in the server's `env_vars`). Every codex run starts every registered
 * server, so another agent's codex may start this agent's mcp-host: without the token
 * of this agent's running turn, the bridge refuses it.
 */
export const ENV_TURN_TOKEN = "PLEXUM_MCP_TURN_TOKEN"
/** Version of the newline-delimited JSON spoken on the socket (src/schemas/BridgeWire.ts). */
export const BRIDGE_WIRE_VERSION = 1
/** A bridge line longer than this ends the connection instead of growing a buffer without bound. */
export const MAX_BRIDGE_LINE_CHARS = 64 * 1024 * 1024
