/**
 * Gives codex each agent's host-tools MCP server (PROTOCOL.md §7): a stable
 * server name and the server's definition for one run
 * (a table of the run's private profile), never a registration in
 * `$CODEX_HOME/config.toml`, which the user's own codex would start too.
 */
import { Context, type Effect, Schema } from "effect"

export class McpRegistrationError extends Schema.TaggedError<McpRegistrationError>()("McpRegistrationError", {
  serverName: Schema.String,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

export interface McpRegistryShape {
  /** `plexum-host-<sanitised agent id>`: `[A-Za-z0-9_-]`, ≤ 64 characters, distinct per agent id. */
  readonly serverName: (agentId: string) => string
  /**
   * TOML tables for the run's profile (src/core/codex/RunProfile.ts): the agent's server when the turn
   * offers tools, and every registration an earlier version left in config.toml switched off.
   * The first call also removes those registrations (see removeLegacyRegistrations).
   */
  readonly runServerTables: (
    agentId: string,
    run: {
      readonly offersTools: boolean
      /** config `tool_timeout_sec` of the turn: codex's limit on one host tool call. */
      readonly toolTimeoutSec: number
      /** Where the turn's bridge listens (ToolBridge.serve); default the profile's fixed socket of the agent. */
      readonly socketPath?: string
      /** The turn's secret, handed to this server alone through its own env table (never codex's environment). */
      readonly turnToken?: string
    }
  ) => Effect.Effect<string, McpRegistrationError>
  /**
   * Once per process (cached): removes the enabled `plexum-host-*` registrations earlier versions
   * stored in config.toml, and run profiles a killed plugin left; logs what it removed and the
   * names. A failure is a `warn`, never a failed turn. Safe across concurrent plugin processes.
   */
  readonly removeLegacyRegistrations: Effect.Effect<ReadonlyArray<string>>
}

export class McpRegistry extends Context.Tag("McpRegistry")<McpRegistry, McpRegistryShape>() {}
