/**
 * Names both ends of the bridge agree on. Kept free of imports: the lean
 * mcp-host bundle reads them too.
 */

/** Env var carrying the agent's socket path into `mcp-host` (the run's server `env` table). */
export const ENV_SOCKET = "PLEXUM_MCP_SOCKET"
/** Env var carrying the agent id into `mcp-host`; presented in the bridge hello. */
export const ENV_AGENT_ID = "PLEXUM_MCP_AGENT_ID"
/**
 * Env var carrying the running turn's secret into `mcp-host`, set in that server's own `env` table
 * of the run's profile and nowhere else (not in codex's environment, which every command the model
 * runs inherits). Any process that finds the agent's socket without the running turn's token is
 * refused by the bridge.
 */
export const ENV_TURN_TOKEN = "PLEXUM_MCP_TURN_TOKEN"
/** Version of the newline-delimited JSON spoken on the socket (src/schemas/BridgeWire.ts). */
export const BRIDGE_WIRE_VERSION = 1
/** A bridge line longer than this ends the connection instead of growing a buffer without bound. */
export const MAX_BRIDGE_LINE_CHARS = 64 * 1024 * 1024
