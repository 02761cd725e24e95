// The one edit the plugin still makes to codex's config.toml: removing what earlier versions registered.
import { describe, expect, it } from "vitest"
import { legacyHostServers, withoutServers } from "../../../src/core/bridge/LegacyRegistrations.ts"

const user = `# my settings
model = "o3" # inline comment

[mcp_servers.mine]
command = "x"
args = ["mcp-host"]
`
const legacy = (name: string) => `[mcp_servers.${name}]
command = "/opt/plexum/bin/plexum-openai-provider-plugin"
args = ["mcp-host"]
startup_timeout_sec = 30
default_tools_approval_mode = "approve"

[mcp_servers.${name}.env]
PLEXUM_MCP_AGENT_ID = "a"
PLEXUM_MCP_SOCKET = "/s/a.sock"
`
const userTail = `
# keep me
[mcp_servers.plexum-host-hand-made]
command = "/usr/bin/something-else"

[profiles.x]
model = "y"
`

describe("legacy plexum-host registrations", () => {
  const toml = `${user}\n${legacy("plexum-host-a")}\n${legacy('"plexum-host-b"')}${userTail}`

  it("are the plexum-host tables that launch mcp-host, not a user's look-alike", () => {
    expect(legacyHostServers(toml)).toEqual(["plexum-host-a", "plexum-host-b"])
  })

  it("are removed with their env tables; every other line (comments, order, user entries) stays", () => {
    expect(withoutServers(toml, legacyHostServers(toml))).toBe(`${user}${userTail}`)
  })

  it("a file without them is left alone", () => {
    expect(legacyHostServers(user + userTail)).toEqual([])
    expect(withoutServers(user + userTail, [])).toBeUndefined()
    expect(withoutServers(user + userTail, ["plexum-host-zz"])).toBeUndefined()
  })

  it("the last table of a file, without a trailing newline, goes too", () => {
    const text = `${user}\n${legacy("plexum-host-a").trimEnd()}`
    expect(withoutServers(text, ["plexum-host-a"])).toBe(user)
  })
})
