/**
 * What the plugin costs the user's own codex (issue 10, PROTOCOL.md §7): a plain `codex exec` on a
 * CODEX_HOME where the plugin has run ten agents' turns with host tools, against the same on a
 * CODEX_HOME that never saw the plugin. The plugin's home starts the way an earlier version left
 * it (ten enabled `plexum-host-*` registrations written with `codex mcp add`), so the figure also
 * covers their removal; what those registrations cost before is measured alongside.
 */
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { serverNameFor } from "../src/core/bridge/ServerName.ts"
import { socketPathFor } from "../src/core/bridge/SocketPath.ts"
import { codexBin, codexOfflineArgs, runCodexExec } from "../test/support/CodexOffline.ts"
import { startPluginHarness, userMessage } from "../test/support/PluginHarness.ts"
import { pluginBin } from "../test/support/ReferenceHost.ts"
import { assistantMessage, functionCall, type ModelRequest } from "../test/support/ScriptedModelServer.ts"
import { type BenchSection, fmtMs, fmtRatio, medianRatio } from "./Harness.ts"

const AGENTS = Array.from({ length: 10 }, (_, i) => `agent-${i}`)

/** Exactly what an earlier version ran on an agent's first turn with tools. */
const legacyRegister = (codexHome: string, profileRoot: string, agentId: string) =>
  execFileSync(codexBin, ["mcp", "add", serverNameFor(agentId), "--env", `PLEXUM_MCP_SOCKET=${socketPathFor(profileRoot, agentId)}`,
    "--env", `PLEXUM_MCP_AGENT_ID=${agentId}`, "--", pluginBin, "mcp-host"], { env: { ...process.env, CODEX_HOME: codexHome }, stdio: "ignore" })

/** The model calls the agent's host tool once, then answers. */
const script = (req: ModelRequest) => {
  if ((req.body.input as Array<any>).some((i) => i.type === "function_call_output")) return { items: [assistantMessage("done")] }
  const namespace = (req.body.tools as Array<any>).find((t) => String(t.name).startsWith("mcp__plexum_host_"))?.name
  return namespace ? { items: [functionCall("lookup", { id: "1" }, { namespace })] } : { items: [assistantMessage("no tools")] }
}

const plainServers = (codexHome: string): Array<{ name: string; enabled: boolean }> =>
  JSON.parse(execFileSync(codexBin, ["mcp", "list", "--json"], { env: { ...process.env, CODEX_HOME: codexHome }, encoding: "utf8" }))

export const run = async (): Promise<BenchSection> => {
  const rounds = 16
  const h = await startPluginHarness(script)
  const scratch = Fs.mkdtempSync(Path.join(Os.tmpdir(), "plain-codex-bench-"))
  const emptyHome = Path.join(scratch, "never-saw-the-plugin")
  const oldHome = Path.join(scratch, "left-by-an-earlier-version")
  Fs.mkdirSync(emptyHome)
  Fs.mkdirSync(oldHome)
  try {
    // The plugin's home: an earlier version's ten registrations, then ten agents' turns with tools.
    for (const id of AGENTS) legacyRegister(h.codexHome, h.profileRoot, id)
    for (const id of AGENTS) legacyRegister(oldHome, h.profileRoot, id)
    h.host.onToolCall(() => ({ content: [{ type: "text", text: "found" }] }))
    const tool = { name: "lookup", inputSchema: { type: "object", properties: { id: { type: "string" } } } }
    for (const id of AGENTS) {
      const { response } = await h.turn(`setup-${id}`, { messages: [userMessage("look it up")], tools: [tool] }, id)
      if (response.result?.status !== "completed") throw new Error(`plugin turn failed: ${JSON.stringify(response)}`)
    }
    const census = plainServers(h.codexHome).filter((s) => s.name.startsWith("plexum-host-") && s.enabled).length
    const plain = (codexHome: string) => async () => {
      const r = await runCodexExec({ codexHome, cwd: h.workspace, args: codexOfflineArgs(h.model.baseUrl), prompt: "hi" })
      if (r.code !== 0) throw new Error(`plain codex exec failed: ${r.stderr.slice(-500)}`)
    }
    const now = await medianRatio(rounds, plain(h.codexHome), plain(emptyHome))
    const before = await medianRatio(6, plain(oldHome), plain(emptyHome))
    const ok = now.ratio <= 1.03 && census === 0
    return {
      title: "The user's own codex on a CODEX_HOME the plugin uses",
      ok,
      markdown: `
A plain \`codex exec\` turn (scripted model, prompt on stdin), run ${rounds} times each, alternating, after 2 warm-up
rounds: on the CODEX_HOME where the plugin ran ${AGENTS.length} agents' first turns with host tools (it started with
the ${AGENTS.length} enabled registrations an earlier version would have left there), and on an empty CODEX_HOME.
Enabled plexum-host servers a plain \`codex mcp list\` shows there afterwards: ${census}.

| CODEX_HOME | median plain \`codex exec\` |
|---|---|
| never saw the plugin | ${fmtMs(now.b)} |
| after ${AGENTS.length} agents' turns with host tools | ${fmtMs(now.a)} |
| ratio | **${fmtRatio(now.ratio)}** (target ≤ 1.03×) |

For comparison, the same CODEX_HOME as an earlier version left it (${AGENTS.length} enabled registrations, each
started by every codex): ${fmtMs(before.a)} against ${fmtMs(before.b)}, **${fmtRatio(before.ratio)}** (6 rounds).
The plugin now defines an agent's server in the run's private profile only (docs/configuration.md).
`
    }
  } finally {
    await h.dispose()
    Fs.rmSync(scratch, { recursive: true, force: true })
  }
}
