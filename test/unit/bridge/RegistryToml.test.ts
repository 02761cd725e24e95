// The one edit the plugin makes to codex's config.toml itself: the keys `codex mcp add` cannot set.
import { describe, expect, it } from "vitest"
import { serverTableHas, withServerSettings } from "../../../src/layers/McpRegistryLive.ts"

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
const settings = { startup_timeout_sec: 30, tool_timeout_sec: 600, default_tools_approval_mode: "approve" }

describe("withServerSettings", () => {
  it("sets the keys in the named table and leaves every other line alone", () => {
    expect(withServerSettings(toml, "plexum-host-a", settings)).toBe(`# my settings
model = "o3"

[mcp_servers.plexum-host-a]
startup_timeout_sec = 30
tool_timeout_sec = 600
default_tools_approval_mode = "approve"
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
    const once = withServerSettings(toml, "plexum-host-a", settings)!
    expect(withServerSettings(once, "plexum-host-a", settings)).toBe(once)
  })

  it("finds a quoted table header and reports a missing table", () => {
    const quoted = `[mcp_servers."plexum-host-b"]\ncommand = "x"\n`
    expect(withServerSettings(quoted, "plexum-host-b", settings)).toContain("tool_timeout_sec = 600")
    expect(withServerSettings(toml, "plexum-host-zz", settings)).toBeUndefined()
  })
})

describe("serverTableHas", () => {
  it("looks only inside the named table", () => {
    const patched = withServerSettings(toml, "plexum-host-a", settings)!
    expect(serverTableHas(patched, "plexum-host-a", "default_tools_approval_mode", "approve")).toBe(true)
    expect(serverTableHas(patched, "other", "default_tools_approval_mode", "approve")).toBe(false)
    expect(serverTableHas(toml, "plexum-host-a", "default_tools_approval_mode", "approve")).toBe(false)
  })
})
