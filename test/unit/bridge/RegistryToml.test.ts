// The one edit the plugin makes to codex's config.toml itself: the entry's timeouts.
import { describe, expect, it } from "vitest"
import { withServerTimeouts } from "../../../src/layers/McpRegistryLive.ts"

const toml = `# my settings
model = "o3"

[mcp_servers.plexum-host-a]
command = "/bin/plugin"
args = ["mcp-host"]
tool_timeout_sec = 60.0

[mcp_servers.plexum-host-a.env]
PLEXUM_MCP_SOCKET = "/s"

[mcp_servers.other]
command = "x"
tool_timeout_sec = 5
`

describe("withServerTimeouts", () => {
  it("sets both timeouts in the named table and leaves every other line alone", () => {
    const out = withServerTimeouts(toml, "plexum-host-a", { startup_timeout_sec: 30, tool_timeout_sec: 600 })!
    expect(out).toBe(`# my settings
model = "o3"

[mcp_servers.plexum-host-a]
startup_timeout_sec = 30
tool_timeout_sec = 600
command = "/bin/plugin"
args = ["mcp-host"]

[mcp_servers.plexum-host-a.env]
PLEXUM_MCP_SOCKET = "/s"

[mcp_servers.other]
command = "x"
tool_timeout_sec = 5
`)
  })

  it("is idempotent", () => {
    const once = withServerTimeouts(toml, "plexum-host-a", { startup_timeout_sec: 30, tool_timeout_sec: 600 })!
    expect(withServerTimeouts(once, "plexum-host-a", { startup_timeout_sec: 30, tool_timeout_sec: 600 })).toBe(once)
  })

  it("finds a quoted table header and reports a missing table", () => {
    const quoted = `[mcp_servers."plexum-host-b"]\ncommand = "x"\n`
    expect(withServerTimeouts(quoted, "plexum-host-b", { startup_timeout_sec: 1, tool_timeout_sec: 2 })).toContain(
      "tool_timeout_sec = 2"
    )
    expect(withServerTimeouts(toml, "plexum-host-zz", { startup_timeout_sec: 1, tool_timeout_sec: 2 })).toBeUndefined()
  })
})
