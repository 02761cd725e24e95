import { describe, expect, it } from "vitest"
import { disabledServerTables, hostServerTable, isBridgeStartFailure } from "../../src/core/bridge/HostToolFlags.ts"
import { runProfileToml } from "../../src/core/codex/RunProfile.ts"

const spec = {
  name: "plexum-host-a_b-1234abcd",
  launcher: "/p/bin/plexum-openai-provider-plugin",
  socketPath: "/s/a_b-0123.sock",
  agentId: 'a.b "quoted"\n',
  turnToken: "0123abcd",
  startupTimeoutSec: 30,
  toolTimeoutSec: 600
}

describe("the host-tools server of one run (a table of the run's profile)", () => {
  it("launches mcp-host, pre-approved, required, with the turn token, socket and agent id in its own env", () => {
    const table = hostServerTable(spec)
    expect(table).toContain('[mcp_servers."plexum-host-a_b-1234abcd"]\ncommand = "/p/bin/plexum-openai-provider-plugin"\nargs = ["mcp-host"]')
    // The token is this server's alone: in its env table, not forwarded from codex's environment
    // (which every command the model runs inherits).
    expect(table).not.toContain("env_vars")
    expect(table).toMatch(/\[mcp_servers\."plexum-host-a_b-1234abcd"\.env\]\n(?:.*\n)*PLEXUM_MCP_TURN_TOKEN = "0123abcd"\n/)
    expect(table).toContain('default_tools_approval_mode = "approve"')
    expect(table).toContain("required = true")
    expect(table).toContain("tool_timeout_sec = 600")
    expect(table).toContain('[mcp_servers."plexum-host-a_b-1234abcd".env]\nPLEXUM_MCP_SOCKET = "/s/a_b-0123.sock"')
    // Any agent id is a valid TOML string: quotes and newlines escaped.
    expect(table).toContain('PLEXUM_MCP_AGENT_ID = "a.b \\"quoted\\"\\n"')
  })

  it("runs the launcher with the given node, not through its `#!/usr/bin/env node` (a PATH lookup)", () => {
    const table = hostServerTable({ ...spec, interpreter: "/usr/local/bin/node" })
    expect(table).toContain('command = "/usr/local/bin/node"\nargs = ["/p/bin/plexum-openai-provider-plugin", "mcp-host"]')
  })

  it("switches off, for the run, every registration an earlier version left, the agent's own included", () => {
    expect(disabledServerTables(["plexum-host-a", "plexum-host-b"], "plexum-host-a")).toBe('[mcp_servers."plexum-host-b"]\nenabled = false\n')
    expect(disabledServerTables(["plexum-host-a"], undefined)).toBe('[mcp_servers."plexum-host-a"]\nenabled = false\n')
  })

  it("puts the system prompt before any table, so it stays a top-level key", () => {
    const profile = runProfileToml({ developerInstructions: "Be a pirate.\n[not a table]", serverTables: hostServerTable(spec) })
    const lines = profile.split("\n")
    const firstTable = lines.findIndex((l) => l.startsWith("["))
    expect(lines.findIndex((l) => l.startsWith("developer_instructions = "))).toBeLessThan(firstTable)
    expect(profile).toContain('developer_instructions = "Be a pirate.\\n[not a table]"')
    expect(runProfileToml({ developerInstructions: "" })).not.toContain("developer_instructions")
  })

  it("recognises codex failing because this turn's host-tools server did not start", () => {
    // What codex 0.169 prints when a required server's command cannot be started.
    const stderr =
      "Error: thread/start: thread/start failed: error creating thread: Fatal error: Failed to initialize session: " +
      "required MCP servers failed to initialize: plexum-host-x: No such file or directory (os error 2) (code -32603)"
    expect(isBridgeStartFailure(stderr, "plexum-host-x")).toBe(true)
    expect(isBridgeStartFailure(stderr, "plexum-host-y")).toBe(false)
    expect(isBridgeStartFailure("codex exited with status 1: no rollout found for thread id", "plexum-host-x")).toBe(false)
  })
})
