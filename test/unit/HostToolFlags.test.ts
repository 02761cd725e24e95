import { describe, expect, it } from "vitest"
import { hostToolFlags, isBridgeStartFailure, isolationFlags, registeredHostServers } from "../../src/core/HostToolFlags.ts"

const toml = `
model = "x"
[mcp_servers.plexum-host-a_b-1234abcd]
command = "/p/bin/plexum-openai-provider-plugin"
args = ["mcp-host"]
[mcp_servers.plexum-host-a_b-1234abcd.env]
PLEXUM_MCP_AGENT_ID = "a.b"
[mcp_servers."plexum-host-other"]
command = "x"
[mcp_servers.someone-else]
command = "y"
`

describe("MCP isolation between agents", () => {
  it("finds only plexum-host registrations, once each", () => {
    expect(registeredHostServers(toml)).toEqual(["plexum-host-a_b-1234abcd", "plexum-host-other"])
  })
  it("disables every other agent's server and keeps the turn's own", () => {
    expect(isolationFlags(toml, "plexum-host-other")).toEqual(["-c", "mcp_servers.plexum-host-a_b-1234abcd.enabled=false"])
  })
  it("disables all of them for a turn without tools, and leaves other servers alone", () => {
    const flags = isolationFlags(toml, undefined)
    expect(flags.filter((f) => f !== "-c")).toEqual([
      "mcp_servers.plexum-host-a_b-1234abcd.enabled=false",
      "mcp_servers.plexum-host-other.enabled=false"
    ])
  })
  it("pre-approves, tokens and requires the turn's own server only when it offers tools", () => {
    const withTools = hostToolFlags({ configToml: toml, serverName: "plexum-host-other", offersTools: true })
    expect(withTools).toContain('mcp_servers.plexum-host-other.default_tools_approval_mode="approve"')
    expect(withTools).toContain('mcp_servers.plexum-host-other.env_vars=["PLEXUM_MCP_TURN_TOKEN"]')
    expect(withTools).toContain("mcp_servers.plexum-host-other.required=true")
    expect(withTools).toContain("mcp_servers.plexum-host-a_b-1234abcd.enabled=false")
    const without = hostToolFlags({ configToml: toml, serverName: "plexum-host-other", offersTools: false })
    expect(without.filter((f) => f !== "-c")).toEqual([
      "mcp_servers.plexum-host-a_b-1234abcd.enabled=false",
      "mcp_servers.plexum-host-other.enabled=false"
    ])
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
