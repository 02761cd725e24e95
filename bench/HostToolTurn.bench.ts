/**
 * A turn with one host tool call through the plugin's bridge (plugin → codex → mcp-host → unix
 * socket → plugin → host) against the same turn served by a minimal MCP server written directly on
 * the SDK (test/fixtures/echo-mcp-server.mjs, registered for that run only): no bridge at all.
 */
import { fileURLToPath } from "node:url"
import { codexOfflineArgs, mcpServerArgs, runCodexExec } from "../test/support/CodexOffline.ts"
import { startPluginHarness, userMessage } from "../test/support/PluginHarness.ts"
import { assistantMessage, functionCall, type ModelRequest } from "../test/support/ScriptedModelServer.ts"
import { type BenchSection, fmtMs, fmtRatio, medianRatio } from "./Harness.ts"

const echoServer = fileURLToPath(new URL("../test/fixtures/echo-mcp-server.mjs", import.meta.url))

/** Calls `echo` in whichever MCP namespace the request offers, then ends the turn. */
const script = (req: ModelRequest) => {
  if ((req.body.input as Array<any>).some((i) => i.type === "function_call_output")) return { items: [assistantMessage("done")] }
  const namespace = (req.body.tools as Array<any>).find((t) => t.type === "namespace" && String(t.name).startsWith("mcp__"))?.name
  return { items: [functionCall("echo", { text: "hello" }, { namespace })] }
}

export const run = async (): Promise<BenchSection> => {
  const rounds = 12
  const h = await startPluginHarness(script)
  h.host.onToolCall((call) => ({ content: [{ type: "text", text: `echo: ${call.arguments.text}` }] }))
  const tool = { name: "echo", inputSchema: { type: "object", properties: { text: { type: "string" } } } }
  try {
    let n = 0
    let hostCalls = 0
    const viaBridge = async () => {
      const before = h.host.toolCalls.length
      const { response } = await h.turn(`bench-${n++}`, { messages: [userMessage("echo hello")], tools: [tool], session: { fresh: true } })
      if (response.result?.status !== "completed") throw new Error(`plugin turn failed: ${JSON.stringify(response)}`)
      hostCalls += h.host.toolCalls.length - before
    }
    const direct = async () => {
      const r = await runCodexExec({
        codexHome: h.codexHome,
        cwd: h.workspace,
        args: [
          "--sandbox",
          "workspace-write",
          ...codexOfflineArgs(h.model.baseUrl),
          ...mcpServerArgs("echo", process.execPath, [echoServer, "--text-only"])
        ],
        prompt: "echo hello"
      })
      if (r.code !== 0 || !r.stdout.includes('"mcp_tool_call"')) throw new Error(`direct turn failed: ${r.stderr.slice(-500)}`)
    }
    const { a: bridge, b: sdk, ratio } = await medianRatio(rounds, viaBridge, direct)
    return {
      title: "A turn with one host tool call: bridge against a plain SDK server",
      ok: ratio <= 1.05 && hostCalls === rounds + 2,
      markdown: `
The same scripted turn (the model calls one MCP tool, then answers) run ${rounds} times each, alternating, after 2
warm-up rounds: through the plugin, where codex starts \`mcp-host\`, which reaches the plugin's socket and the
host answers \`host/tools/call\`; against bare \`codex exec\` with a minimal stdio MCP server written directly on
\`@modelcontextprotocol/sdk\` answering the call itself. Every bridged call reached the host: ${hostCalls === rounds + 2 ? "yes" : "NO"}.

| path | median turn |
|---|---|
| bare codex + minimal SDK server | ${fmtMs(sdk)} |
| plugin + bridge + host | ${fmtMs(bridge)} |
| ratio | **${fmtRatio(ratio)}** (target ≤ 1.05×) |

Why the bridge can keep up: \`mcp-host\` is its own small bundle (no CLI framework) loaded with a V8 code cache,
so it answers MCP \`initialize\` sooner than an unbundled SDK server, which pays back the socket hop and the host round trip.
`
    }
  } finally {
    await h.dispose()
  }
}
