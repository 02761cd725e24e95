/**
 * Makes codex know each agent's host-tools MCP server (PROTOCOL.md §7): a
 * stable server name, a stable socket path, and a registration in
 * `$CODEX_HOME/config.toml` that launches this plugin's `mcp-host`.
 */
import { Context, type Effect, Schema } from "effect"

export class McpRegistrationError extends Schema.TaggedError<McpRegistrationError>()("McpRegistrationError", {
  serverName: Schema.String,
  message: Schema.String
}) {}

export interface McpRegistryShape {
  /** `plexum-host-<sanitised agent id>`: `[A-Za-z0-9_-]`, ≤ 64 characters, distinct per agent id. */
  readonly serverName: (agentId: string) => string
  /** The agent's bridge socket: stable per profile and agent, in a 0700 directory, < 100 bytes. */
  readonly socketPath: (agentId: string) => string
  /**
   * Registers the agent's server with codex unless an identical registration is
   * already there (a stale one is replaced). Safe to call concurrently, from this
   * process or from other plugin processes sharing the CODEX_HOME; cached per agent.
   */
  readonly ensureRegistered: (agentId: string) => Effect.Effect<void, McpRegistrationError>
}

export class McpRegistry extends Context.Tag("McpRegistry")<McpRegistry, McpRegistryShape>() {}
