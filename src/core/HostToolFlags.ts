/**
 * The per-run `codex exec` flags for host tools.
 *
 * Every `codex mcp add` registration lives in the one shared `config.toml`, so
 * without care each codex run would start every agent's `mcp-host` — one
 * process per agent per turn — and could reach another agent's running tools.
 * A turn therefore switches off, for its run only, every plexum-host server
 * but its own (and its own too when it offers no tools).
 */
import { ENV_TURN_TOKEN } from "../mcphost/BridgeEnv.ts"
import { requireServerArgs } from "./ServerName.ts"

const REGISTERED = /^\s*\[\s*mcp_servers\s*\.\s*"?(plexum-host-[A-Za-z0-9_-]+)"?\s*\]/gm

/** The plexum-host server names registered in a codex `config.toml` text. */
export const registeredHostServers = (configToml: string): ReadonlyArray<string> =>
  [...new Set(Array.from(configToml.matchAll(REGISTERED), (m) => m[1]!))]

/** `-c mcp_servers.<name>.enabled=false` for each registered host server this turn must not start. */
export const isolationFlags = (configToml: string, keep: string | undefined): ReadonlyArray<string> =>
  registeredHostServers(configToml)
    .filter((name) => name !== keep)
    .flatMap((name) => ["-c", `mcp_servers.${name}.enabled=false`])

/**
 * Flags for one run: the other agents' servers off; when the turn offers tools, its own
 * server pre-approved (codex exec's approval policy "never" refuses MCP calls otherwise, and
 * `codex mcp add` cannot store that), handed the turn token (only this run's mcp-host gets
 * ENV_TURN_TOKEN, so the bridge can refuse any other) and waited for (codex otherwise drops
 * a server that is slow to list its tools).
 */
export const hostToolFlags = (opts: {
  readonly configToml: string
  readonly serverName: string
  readonly offersTools: boolean
}): ReadonlyArray<string> => [
  ...(opts.offersTools
    ? [
      "-c",
      `mcp_servers.${opts.serverName}.default_tools_approval_mode="approve"`,
      "-c",
      `mcp_servers.${opts.serverName}.env_vars=["${ENV_TURN_TOKEN}"]`,
      ...requireServerArgs(opts.serverName)
    ]
    : []),
  ...isolationFlags(opts.configToml, opts.offersTools ? opts.serverName : undefined)
]

/**
 * A turn whose own host-tools server is `required` fails inside codex when mcp-host cannot start
 * ("required MCP servers failed to initialize: <name>: …"): that is the bridge failing, not codex.
 */
export const isBridgeStartFailure = (codexMessage: string, serverName: string): boolean =>
  /required MCP servers? failed to initiali[sz]e/i.test(codexMessage) && codexMessage.includes(serverName)
