/**
 * Every `codex mcp add` registration lives in the one shared `config.toml`, so
 * without care each codex run would start every agent's `mcp-host` — one
 * process per agent per turn — and could reach another agent's running tools.
 * A turn therefore switches off, for its run only, every plexum-host server
 * but its own (and its own too when it offers no tools).
 */
const REGISTERED = /^\s*\[\s*mcp_servers\s*\.\s*"?(plexum-host-[A-Za-z0-9_-]+)"?\s*\]/gm

/** The plexum-host server names registered in a codex `config.toml` text. */
export const registeredHostServers = (configToml: string): ReadonlyArray<string> =>
  [...new Set(Array.from(configToml.matchAll(REGISTERED), (m) => m[1]!))]

/** `-c mcp_servers.<name>.enabled=false` for each registered host server this turn must not start. */
export const isolationFlags = (configToml: string, keep: string | undefined): ReadonlyArray<string> =>
  registeredHostServers(configToml)
    .filter((name) => name !== keep)
    .flatMap((name) => ["-c", `mcp_servers.${name}.enabled=false`])
