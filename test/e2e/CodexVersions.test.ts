// The run profile (system prompt and host-tools server in a private file, PROTOCOL.md §4/§7) on every
// codex version the plugin supports. Versions other than the pinned one are looked up under
// $PLEXUM_CODEX_VERSIONS (default /work/codex-versions/<v>/package/…, unpacked npm packages
// `@openai/codex@<v>-linux-x64`); a version that is not there is skipped.
import * as Fs from "node:fs"
import * as Path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { codexBin, codexOfflineArgs } from "../support/CodexOffline.ts"
import { type PluginHarness, startPluginHarness, userMessage } from "../support/PluginHarness.ts"
import { assistantMessage, functionCall, type ModelRequest, type ScriptedResponse } from "../support/ScriptedModelServer.ts"

const versionsRoot = process.env.PLEXUM_CODEX_VERSIONS ?? "/work/codex-versions"
const binaryOf = (version: string): string | undefined => {
  const file = Path.join(versionsRoot, version, "package/vendor/x86_64-unknown-linux-musl/bin/codex")
  return Fs.existsSync(file) ? file : undefined
}
const versions: ReadonlyArray<[string, string | undefined]> = [
  ["0.135.0", binaryOf("0.135.0")],
  ["0.151.0", binaryOf("0.151.0")],
  ["0.169.0 (pinned)", codexBin],
  ["0.171.0", binaryOf("0.171.0")]
]

/** 0.135 rejects feature names it does not know yet. */
const UNKNOWN_TO_OLD = new Set(["unbounded_connection_retries", "skill_search"])
const offlineArgsFor = (version: string) => (baseUrl: string) => {
  const args = codexOfflineArgs(baseUrl)
  if (!version.startsWith("0.135")) return args
  return args.filter((a, i) => !UNKNOWN_TO_OLD.has(a) && !(a === "--disable" && UNKNOWN_TO_OLD.has(args[i + 1]!)))
}

let harness: PluginHarness | undefined
afterEach(async () => {
  await harness?.dispose()
  harness = undefined
})

describe.each(versions)("codex %s", (version, binary) => {
  it.skipIf(binary === undefined)("gets the system prompt as developer instructions and the agent's host tools from the run profile", async () => {
    const script = (req: ModelRequest): ScriptedResponse => {
      if (req.index > 0) return { items: [assistantMessage("done")] }
      const ns = (req.body.tools as Array<any>).find((t) => String(t.name).startsWith("mcp__plexum_host_"))?.name
      return ns ? { items: [functionCall("lookup", { id: "1" }, { callId: "call_v_1", namespace: ns })] } : { items: [assistantMessage("no tools")] }
    }
    harness = await startPluginHarness(script, { config: { binary }, extraArgs: offlineArgsFor(version) })
    harness.host.onToolCall(() => ({ content: [{ type: "text", text: "found it" }] }))
    const tool = { name: "lookup", inputSchema: { type: "object", properties: { id: { type: "string" } } } }
    const { response, events } = await harness.turn("t1", {
      system: "VERSION-CHECK-SYSTEM-PROMPT",
      messages: [userMessage("look it up")],
      tools: [tool]
    })
    expect(response.result?.status, JSON.stringify(events.at(-1))).toBe("completed")
    const developer = JSON.stringify(harness.model.requests[0]!.body.input.filter((i: any) => i.role === "developer"))
    expect(developer).toContain("VERSION-CHECK-SYSTEM-PROMPT")
    expect(harness.host.toolCalls).toHaveLength(1)
    expect(JSON.stringify(harness.model.requests[1]!.body.input)).toContain("found it")
  }, 90_000)
})
