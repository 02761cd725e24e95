/**
 * The host-tools MCP server of one run, as TOML for the run's private profile file
 * (src/core/codex/RunProfile.ts), never as `-c` flags and never in `config.toml`.
 *
 * Why per run and nowhere else (PROTOCOL.md §7, docs/configuration.md "Why nothing is
 * registered"): codex starts every enabled server in `config.toml` on every session, so a stored
 * registration would make the user's own codex spawn one `mcp-host` per agent, and every run
 * could reach every agent's bridge. A server that exists only in the run's profile is started by
 * that run alone. Its name, socket path and agent id live in a 0600 file, so nothing the host
 * provided (the agent id) reaches any command line.
 */
import { ENV_AGENT_ID, ENV_SOCKET, ENV_TURN_TOKEN } from "../../schemas/BridgeEnv.ts"
import { tomlString } from "../codex/CodexArgs.ts"

export interface HostServerSpec {
  /** `plexum-host-<agent>` (src/core/bridge/ServerName.ts). */
  readonly name: string
  /** Absolute path of this plugin's executable; codex runs `<launcher> mcp-host`. */
  readonly launcher: string
  /** When set, codex runs `<interpreter> <launcher> mcp-host` (src/layers/McpRegistryLive.ts says why). */
  readonly interpreter?: string
  readonly socketPath: string
  readonly agentId: string
  /** The running turn's secret (ENV_TURN_TOKEN), for this server's environment alone. */
  readonly turnToken?: string
  readonly startupTimeoutSec: number
  readonly toolTimeoutSec: number
}

const header = (name: string, sub?: string) => `[mcp_servers.${tomlString(name)}${sub === undefined ? "" : `.${sub}`}]`

/**
 * The agent's server for one run: launched from the plugin; pre-approved (codex exec's approval
 * policy "never" refuses MCP calls otherwise); `required` (codex otherwise drops a server that is
 * slow to list its tools); handed the turn token in its own `env` table, so only this run's
 * mcp-host gets it and the bridge can refuse any other. Not through codex's environment: every
 * command the model runs inherits that (docs/security.md "Tokens").
 */
export const hostServerTable = (spec: HostServerSpec): string =>
  [
    header(spec.name),
    ...(spec.interpreter === undefined
      ? [`command = ${tomlString(spec.launcher)}`, `args = ["mcp-host"]`]
      : [`command = ${tomlString(spec.interpreter)}`, `args = [${tomlString(spec.launcher)}, "mcp-host"]`]),
    `startup_timeout_sec = ${spec.startupTimeoutSec}`,
    `tool_timeout_sec = ${spec.toolTimeoutSec}`,
    `default_tools_approval_mode = "approve"`,
    `required = true`,
    `enabled = true`,
    "",
    header(spec.name, "env"),
    `${ENV_SOCKET} = ${tomlString(spec.socketPath)}`,
    `${ENV_AGENT_ID} = ${tomlString(spec.agentId)}`,
    ...(spec.turnToken === undefined ? [] : [`${ENV_TURN_TOKEN} = ${tomlString(spec.turnToken)}`]),
    ""
  ].join("\n")

/**
 * Registrations an earlier version left in `config.toml` that could not be removed
 * (src/core/bridge/LegacyRegistrations.ts) stay off for this run, the agent's own included: its
 * server comes from the run's own table.
 */
export const disabledServerTables = (names: ReadonlyArray<string>, keep: string | undefined): string =>
  names
    .filter((name) => name !== keep)
    .map((name) => `${header(name)}\nenabled = false\n`)
    .join("\n")

/**
 * A turn whose own host-tools server is `required` fails inside codex when mcp-host cannot start
 * ("required MCP servers failed to initialize: <name>: …"): that is the bridge failing, not codex.
 */
export const isBridgeStartFailure = (codexMessage: string, serverName: string): boolean =>
  /required MCP servers? failed to initiali[sz]e/i.test(codexMessage) && codexMessage.includes(serverName)
