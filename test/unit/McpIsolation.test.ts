import { describe, expect, it } from "vitest"
import { isolationFlags, registeredHostServers } from "../../src/core/McpIsolation.ts"

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
})
