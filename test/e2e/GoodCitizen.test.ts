// The plugin as a good citizen of the user's CODEX_HOME and machine (issue 10), through the real
// executable and the real codex: nothing host-provided on any command line, the registrations an
// earlier version stored removed without harming a dotfile-managed config.toml, and a codex planted
// in the agent's workspace never run.
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import { readdir, readFile } from "node:fs/promises"
import * as Path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { serverNameFor } from "../../src/core/bridge/ServerName.ts"
import { socketPathFor } from "../../src/core/bridge/SocketPath.ts"
import { codexBin } from "../support/CodexOffline.ts"
import { type PluginHarness, startPluginHarness, userMessage } from "../support/PluginHarness.ts"
import { assistantMessage, functionCall, type ModelRequest, type ScriptedResponse } from "../support/ScriptedModelServer.ts"

let harness: PluginHarness | undefined
afterEach(async () => {
  await harness?.dispose()
  harness = undefined
})

/** Every process's command line, as the kernel shows it to any local user (mode 0444). */
const allCommandLines = (): Array<{ pid: string; cmdline: string }> =>
  Fs.readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .flatMap((pid) => {
      try {
        return [{ pid, cmdline: Fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ") }]
      } catch {
        return [] // gone meanwhile
      }
    })

const lookupTool = {
  name: "lookup_ticket",
  description: "TOOL-DESCRIPTION-MARKER: look a ticket up",
  inputSchema: { type: "object", properties: { id: { type: "string", description: "SCHEMA-MARKER id" } }, required: ["id"] }
}

describe("nothing host-provided in argv (PROTOCOL.md §4)", () => {
  it("a turn with a 200 KiB system prompt and host tools: no process's command line holds any of it, and the model gets it as developer instructions", async () => {
    const agentId = "AGENT-ID-MARKER-7"
    const system = `SYSTEM-PROMPT-MARKER ${"Be thorough and kind. ".repeat(200 * 1024 / 22)}END-OF-SYSTEM-PROMPT`
    expect(Buffer.byteLength(system)).toBeGreaterThan(128 * 1024) // one argv string over 128 KiB: E2BIG
    const markers = ["SYSTEM-PROMPT-MARKER", "Be thorough and kind", "USER-PROMPT-MARKER", "TOOL-DESCRIPTION-MARKER", "SCHEMA-MARKER", agentId]
    const seen: Array<string> = []
    const runProfileModes: Array<Array<number>> = []
    let codexHome = ""
    const script = (req: ModelRequest): ScriptedResponse => {
      // Taken while codex (and its mcp-host) are running: the request is in flight.
      for (const p of allCommandLines()) for (const m of markers) if (p.cmdline.includes(m)) seen.push(`${m} in pid ${p.pid}: ${p.cmdline.slice(0, 200)}`)
      runProfileModes[req.index] = Fs.readdirSync(codexHome)
        .filter((f) => f.startsWith("plexum-run-"))
        .map((f) => Fs.statSync(Path.join(codexHome, f)).mode & 0o777)
      if (req.index === 0) {
        const ns = (req.body.tools as Array<any>).find((t) => String(t.name).startsWith("mcp__plexum_host_"))?.name
        return ns ? { items: [functionCall("lookup_ticket", { id: "T-1" }, { callId: "call_argv_1", namespace: ns })] } : { items: [assistantMessage("no tools")] }
      }
      return { items: [assistantMessage("done")] }
    }
    harness = await startPluginHarness(script)
    codexHome = harness.codexHome
    harness.host.onToolCall(() => ({ content: [{ type: "text", text: "ticket T-1 is fine" }] }))
    const { response, events } = await harness.turn(
      "t1",
      { system, messages: [userMessage("USER-PROMPT-MARKER look it up")], tools: [lookupTool] },
      agentId
    )
    expect(response.result?.status, JSON.stringify(events.at(-1))).toBe("completed")
    expect(harness.model.requests).toHaveLength(2)
    // The tool call went through (mcp-host was running during the second request's scan).
    expect(harness.host.toolCalls).toHaveLength(1)
    expect(seen).toEqual([])
    // The run's settings file was private while it existed, and was gone once codex had read it:
    // by the first request it may still be there (the plugin learns of the thread from codex's
    // stdout), by the second (after the host tool call) it is not; and it is gone now.
    expect(runProfileModes[0]!.filter((mode) => mode !== 0o600)).toEqual([])
    expect(runProfileModes[0]!.length).toBeLessThanOrEqual(1)
    expect(runProfileModes[1]).toEqual([])
    expect((await readdir(harness.codexHome)).filter((f) => f.startsWith("plexum-run-"))).toEqual([])
    // The whole system prompt reached the model as a developer message, as before.
    const developer = JSON.stringify(harness.model.requests[0]!.body.input.filter((i: any) => i.role === "developer"))
    expect(developer).toContain("SYSTEM-PROMPT-MARKER")
    expect(developer).toContain("END-OF-SYSTEM-PROMPT")
  }, 120_000)
})

describe("the user's own codex is unaffected (PROTOCOL.md §7)", () => {
  it("registrations an earlier version stored in a dotfile-managed config.toml are removed on the first turn with tools, the link and the user's settings kept", async () => {
    harness = await startPluginHarness((req) =>
      req.index === 0
        ? { items: [functionCall("lookup_ticket", { id: "T-2" }, { callId: "call_cz_1", namespace: "mcp__plexum_host_agent_1" })] }
        : { items: [assistantMessage("done")] }
    )
    const h = harness
    h.host.onToolCall(() => ({ content: [{ type: "text", text: "ok" }] }))
    // ~/.codex/config.toml → a dotfiles repository, with the user's comments and own server.
    const dotfile = Path.join(h.profileRoot, "dotfiles-config.toml")
    const user = `# managed by my dotfiles\nmodel = "o3"\n\n[mcp_servers.theirs]\ncommand = "/usr/bin/their-tool"\n`
    Fs.writeFileSync(dotfile, user)
    Fs.symlinkSync(dotfile, Path.join(h.codexHome, "config.toml"))
    const env = { ...process.env, CODEX_HOME: h.codexHome }
    for (const id of ["agent-1", "agent-2"]) {
      // Exactly what earlier versions ran on an agent's first turn with tools.
      execFileSync(codexBin, ["mcp", "add", serverNameFor(id), "--env", `PLEXUM_MCP_SOCKET=${socketPathFor(h.profileRoot, id)}`,
        "--env", `PLEXUM_MCP_AGENT_ID=${id}`, "--", "/old/install/bin/plexum-openai-provider-plugin", "mcp-host"], { env, stdio: "ignore" })
    }
    const { response } = await h.turn("t1", { messages: [userMessage("look up T-2")], tools: [lookupTool] })
    expect(response.result.status).toBe("completed")
    expect(h.host.toolCalls).toHaveLength(1)
    // The link is still a link; the user's lines are all there, the plugin's gone.
    expect(Fs.lstatSync(Path.join(h.codexHome, "config.toml")).isSymbolicLink()).toBe(true)
    const text = await readFile(dotfile, "utf8")
    expect(text.startsWith(user)).toBe(true)
    expect(text).not.toContain("plexum-host")
    const list = JSON.parse(execFileSync(codexBin, ["mcp", "list", "--json"], { env, encoding: "utf8" })) as Array<{ name: string }>
    expect(list.map((s) => s.name)).toEqual(["theirs"])
    // The host was told what was removed.
    const log = h.host.logs.find((l) => /removed 2 plexum-host MCP registration/.test(l.message))
    expect(log?.fields?.servers?.sort()).toEqual(["plexum-host-agent-1", "plexum-host-agent-2"])
  }, 120_000)
})

describe("`binary` is never looked up in the agent's workspace (PROTOCOL.md §6)", () => {
  const plant = (workspace: string, marker: string) => {
    const script = `#!/bin/sh\necho "planted codex ran: $0" >> '${marker}'\nexit 1\n`
    Fs.mkdirSync(Path.join(workspace, "bin"), { recursive: true })
    for (const f of ["bin/codex", "codex"]) Fs.writeFileSync(Path.join(workspace, f), script, { mode: 0o755 })
  }
  const realCodexDir = Path.dirname(codexBin)
  /** A PATH whose relative entries would point into the workspace (codex's cwd) if they were used. */
  const trickyPath = ["bin", ".", "", Path.dirname(process.execPath), realCodexDir, "/usr/bin", "/bin"].join(":")

  it('binary "codex" with relative PATH entries runs the codex on PATH, never the workspace\'s bin/codex or ./codex', async () => {
    harness = await startPluginHarness(() => ({ items: [assistantMessage("real codex here")] }), {
      config: { binary: "codex" },
      env: { PATH: trickyPath }
    })
    const marker = Path.join(harness.profileRoot, "planted-ran")
    plant(harness.workspace, marker)
    const { response, events } = await harness.turn("t1", { messages: [userMessage("hi")] })
    expect(response.result.status, JSON.stringify(events.at(-1))).toBe("completed")
    expect(events.find((e) => e.type === "message")?.text).toBe("real codex here")
    expect(Fs.existsSync(marker)).toBe(false)
  }, 60_000)

  it('a relative binary ("bin/codex") is resolved against the config file\'s directory: the workspace\'s never runs', async () => {
    harness = await startPluginHarness(() => ({ items: [assistantMessage("unreachable")] }), { config: { binary: "bin/codex" } })
    const marker = Path.join(harness.profileRoot, "planted-ran")
    plant(harness.workspace, marker)
    const { events } = await harness.turn("t1", { messages: [userMessage("hi")] })
    const configDir = Path.join(harness.profileRoot, "plugins", "plexum-openai-provider")
    expect(events.at(-1)).toMatchObject({ type: "turn.failed", code: "codex_not_found", message: expect.stringContaining(Path.join(configDir, "bin/codex")) })
    expect(Fs.existsSync(marker)).toBe(false)
    expect(harness.host.logs.some((l) => l.level === "warn" && /codex binary not found/.test(l.message))).toBe(true)
  }, 60_000)
})
