// Agents apart (docs/security.md), through the real plugin executable, the real codex, the real
// mcp-host and a scripted model: the turn token reaches no command, a bridge peer that cannot be
// told is refused, helper commands never come from a relative PATH entry, and the plugin's state is
// private whatever the umask.
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { codexAtLeast } from "../support/CodexVersion.ts"
import { type PluginHarness, startPluginHarness, userMessage } from "../support/PluginHarness.ts"
import { processesMatching } from "../support/Processes.ts"
import { pluginBin } from "../support/ReferenceHost.ts"
import { assistantMessage, functionCall, type ModelRequest, requestText } from "../support/ScriptedModelServer.ts"

let harness: PluginHarness | undefined
const temps: Array<string> = []
afterEach(async () => {
  await harness?.dispose()
  harness = undefined
  while (temps.length > 0) Fs.rmSync(temps.pop()!, { recursive: true, force: true })
})

const lookupTool = {
  name: "lookup_ticket",
  description: "Look a ticket up by id",
  inputSchema: { type: "object", properties: { id: { type: "string" } }, required: ["id"] }
}

const namespaceOf = (req: ModelRequest): string | undefined =>
  (req.body.tools as Array<any>).find((t) => t.type === "namespace" && String(t.name).startsWith("mcp__plexum_host_"))?.name

/** Model: run `cmd` in the shell, then call lookup_ticket, then answer. */
const shellThenHostTool = (cmd: string) => (req: ModelRequest) => {
  if (req.index === 0) return { items: [functionCall("exec_command", { cmd }, { callId: "call_shell" })] }
  if (req.index === 1) {
    const namespace = namespaceOf(req)
    if (namespace === undefined) return { items: [assistantMessage("no host tools were offered")] }
    return { items: [functionCall("lookup_ticket", { id: "T-1" }, { callId: "call_host", namespace })] }
  }
  return { items: [assistantMessage("done")] }
}

/** Model: call lookup_ticket once (in the MCP namespace, or flat as an app-server dynamic tool), then answer. */
const hostToolOnce = (req: ModelRequest) => {
  if ((req.body.input as Array<any>).some((i) => i.type === "function_call_output")) return { items: [assistantMessage("done")] }
  const namespace = namespaceOf(req)
  if (namespace !== undefined) return { items: [functionCall("lookup_ticket", { id: "T-1" }, { callId: "call_host", namespace })] }
  const flat = (req.body.tools as Array<any>).some((t) => t.type === "function" && t.name === "lookup_ticket")
  return { items: [flat ? functionCall("lookup_ticket", { id: "T-1" }, { callId: "call_host" }) : assistantMessage("no host tools were offered")] }
}

const environOf = (pid: number): Record<string, string> => {
  try {
    const entries = Fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter((e) => e.includes("="))
    return Object.fromEntries(entries.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]))
  } catch {
    return {}
  }
}

const parentOf = (pid: number): number => {
  const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
}

/** The environment of the mcp-host that the codex running in `workspace` started (while a turn runs). */
const turnMcpHostEnv = (workspace: string): Record<string, string> | undefined => {
  const codex = processesMatching(new RegExp(`exec --json .*-C ${workspace}`)).map((p) => p.pid)
  const [host] = processesMatching(/ mcp-host/).filter((p) => codex.includes(parentOf(p.pid)))
  return host === undefined ? undefined : environOf(host.pid)
}

/** The output the model got back for call `callId`, as one string. */
const outputOf = (req: ModelRequest, callId: string): string => {
  const item = (req.body.input as Array<any>).find((i) => i.type === "function_call_output" && i.call_id === callId)
  return typeof item?.output === "string" ? item.output : JSON.stringify(item?.output ?? null)
}

/**
 * What the model's command looks at: its own environment, and every process environment it can
 * read (the turn's mcp-host holds the token; codex's sandbox keeps the command from reading it).
 */
const SHELL_LOOKS = String.raw`env; echo env-done
readable=0
for f in /proc/[0-9]*/environ; do
  if cat "$f" > /dev/null 2>&1; then readable=$((readable+1)); grep -qa PLEXUM_MCP_TURN_TOKEN "$f" && echo "TOKEN IN $f"; fi
done
echo "readable environs: $readable"`

describe("the turn token", () => {
  it("is in the turn's mcp-host alone: not in codex's environment, not in a command's, not on disk while the turn runs", async () => {
    const seen: { codex: Array<Record<string, string>>; mcpHost: Array<Record<string, string>>; runProfiles: Array<string> } = {
      codex: [],
      mcpHost: [],
      runProfiles: []
    }
    harness = await startPluginHarness(shellThenHostTool(SHELL_LOOKS))
    const h = harness
    h.host.onToolCall(() => {
      // While codex waits for this host tool: codex (its npm launcher and the native binary, both
      // run with `-C <workspace>`) and the mcp-host it started.
      seen.codex = processesMatching(new RegExp(`exec --json .*-C ${h.workspace}`)).map((p) => environOf(p.pid))
      seen.mcpHost = [turnMcpHostEnv(h.workspace)].flatMap((env) => (env === undefined ? [] : [env]))
      seen.runProfiles = Fs.readdirSync(h.codexHome).filter((f) => f.startsWith("plexum-run-"))
      return { content: [{ type: "text", text: "ticket T-1: printer on fire" }] }
    })
    const { response } = await h.turn("t1", { messages: [userMessage("go")], tools: [lookupTool] })
    expect(response.result.status).toBe("completed")
    expect(h.host.toolCalls).toHaveLength(1)

    // The token exists, and the agent's server has it (else the bridge would have refused it) ...
    expect(seen.mcpHost).toHaveLength(1)
    const token = seen.mcpHost[0]!.PLEXUM_MCP_TURN_TOKEN!
    expect(token).toMatch(/^[0-9a-f]{32}$/)
    // ... but not codex, which every command inherits from,
    expect(seen.codex.length).toBeGreaterThan(0)
    for (const env of seen.codex) {
      expect(env.CODEX_HOME).toBe(h.codexHome)
      expect(Object.keys(env)).not.toContain("PLEXUM_MCP_TURN_TOKEN")
      expect(Object.values(env).join("\n")).not.toContain(token)
    }
    // ... nor the command the model ran,
    const shellOutput = outputOf(h.model.requests[1]!, "call_shell")
    expect(shellOutput).toContain("env-done")
    expect(shellOutput).toContain(`CODEX_HOME=${h.codexHome}`)
    expect(shellOutput).not.toContain("PLEXUM_MCP_TURN_TOKEN")
    expect(shellOutput).not.toContain(token)
    // ... nor could it read the mcp-host's environment (workspace-write, the default sandbox; under
    // danger-full-access it can: docs/security.md).
    expect(shellOutput).toMatch(/readable environs: [1-9]/)
    expect(shellOutput).not.toContain("TOKEN IN")
    // ... and the run's profile, which held it for codex to read at start, was gone by then.
    expect(seen.runProfiles).toEqual([])
    expect(requestText(h.model.requests[2]!)).toContain("ticket T-1: printer on fire")
  }, 120_000)
})

describe("the bridge's peer check", () => {
  // A profile whose path holds a newline: the bridge's socket then has one too, ss prints its
  // listing over broken lines, and the plugin cannot tell which process connected. (Any system
  // without /proc or ss meets the same refusal.)
  const profile = { prefix: "/tmp/pn-", subdir: "x\ny" }

  it("refuses the calls of a peer it cannot tell, with a warn to the host and a failed tool call the model reads", async () => {
    harness = await startPluginHarness(hostToolOnce, { profile })
    const h = harness
    h.host.onToolCall(() => ({ content: [{ type: "text", text: "ticket T-1: printer on fire" }] }))
    const { response, events } = await h.turn("t1", { messages: [userMessage("go")], tools: [lookupTool] })
    expect(response.result.status).toBe("completed")
    // The call failed inside codex and never reached the host.
    expect(h.host.toolCalls).toEqual([])
    expect(events).toContainEqual(expect.objectContaining({ type: "tool.completed", kind: "dynamic", status: "failed" }))
    const output = outputOf(h.model.requests[1]!, "call_host")
    expect(output).toContain("refused host tool lookup_ticket: it cannot tell which process asked")
    expect(output).toContain('\\"bridge_peer_check\\": false')
    const warns = h.host.logs.filter((l) => l.level === "warn" && /refused host tool call lookup_ticket/.test(l.message))
    expect(warns).toHaveLength(1)
    expect(warns[0].fields.reason).toMatch(/ss printed a line not understood/)
  }, 120_000)

  it("with bridge_peer_check off, serves that peer on the turn token alone", async () => {
    harness = await startPluginHarness(hostToolOnce, { profile, config: { bridge_peer_check: false } })
    const h = harness
    h.host.onToolCall(() => ({ content: [{ type: "text", text: "ticket T-1: printer on fire" }] }))
    const { response } = await h.turn("t1", { messages: [userMessage("go")], tools: [lookupTool] })
    expect(response.result.status).toBe("completed")
    expect(h.host.toolCalls).toHaveLength(1)
    expect(outputOf(h.model.requests[1]!, "call_host")).toContain("ticket T-1: printer on fire")
  }, 120_000)
})

describe("helper commands", () => {
  it("never come from a relative PATH entry: planted ss, flock and perl in the host's directory do not run", async () => {
    // The host starts the plugin in a directory of its own with `bin` (relative) first on PATH.
    const cwd = Fs.mkdtempSync(Path.join(tmpdir(), "plexum-host-cwd-"))
    temps.push(cwd)
    const ran = Path.join(cwd, "planted-ran")
    Fs.mkdirSync(Path.join(cwd, "bin"))
    for (const name of ["ss", "flock", "perl"]) {
      Fs.writeFileSync(Path.join(cwd, "bin", name), `#!/bin/sh\necho "${name} $*" >> '${ran}'\nexit 1\n`, { mode: 0o755 })
    }
    const env = { PATH: `bin:${process.env.PATH}` }
    harness = await startPluginHarness(hostToolOnce, { env, cwd })
    const h = harness
    h.host.onToolCall(() => ({ content: [{ type: "text", text: "ticket T-1: printer on fire" }] }))
    // A host tool call (the bridge runs ss to check its peer) ...
    const { response } = await h.turn("t1", { messages: [userMessage("go")], tools: [lookupTool] })
    expect(response.result.status).toBe("completed")
    expect(h.host.toolCalls).toHaveLength(1)
    // ... and a rewrite under codex's writer lock (flock) both ran the system's commands.
    const threadId = response.result.threadId
    // codex 0.151 and later keep writer locks (CODEX.md); with an older one there is no lock to take.
    expect(Fs.existsSync(Path.join(h.codexHome, "thread-writer-locks"))).toBe(codexAtLeast("0.151.0"))
    const mutate = await h.host.request("session/mutate", {
      agent: { agentId: "agent-1", workspace: h.workspace },
      threadId,
      mutations: [{ blockId: "call_host", op: "light" }]
    })
    expect(mutate.result).toEqual({ touched: 1, missing: [] })
    expect(Fs.existsSync(ran) ? Fs.readFileSync(ran, "utf8") : "").toBe("")
    // doctor shows where each one was found.
    const doctor = execFileSync(pluginBin, ["doctor"], {
      cwd,
      env: { ...process.env, ...env, PLEXUM_PROFILE_ROOT: h.profileRoot, CODEX_HOME: h.codexHome },
      encoding: "utf8"
    })
    const line = doctor.split("\n").find((l) => l.includes("helper commands"))
    expect(line).toMatch(/ss: \/\S*\/ss, flock: \/\S*\/flock, perl: \/\S*\/perl/)
    expect(doctor.split("\n").find((l) => l.includes("bridge peer check"))).toMatch(/^ok/)
    expect(Fs.existsSync(ran)).toBe(false)
  }, 120_000)
})

/** Every file and directory under `root` (itself included) with its permission bits. */
const modesUnder = (root: string): Array<[string, string]> => {
  const out: Array<[string, string]> = []
  const visit = (path: string) => {
    const st = Fs.lstatSync(path)
    out.push([Path.relative(root, path) || ".", (st.mode & 0o777).toString(8)])
    if (st.isDirectory()) for (const name of Fs.readdirSync(path)) visit(Path.join(path, name))
  }
  visit(root)
  return out
}

describe("the plugin's state", () => {
  it("is private (0700 directories, 0600 files) under umask 022, and what an earlier version left readable is repaired at start", async () => {
    const umask022 = ["/bin/sh", "-c", 'umask 022 && exec "$0" "$@"', pluginBin]
    const seen: { socket: Array<string>; running: Array<[string, string]> } = { socket: [], running: [] }
    harness = await startPluginHarness(hostToolOnce, {
      command: umask022,
      beforeStart: (root) => {
        // What an earlier version left under umask 022.
        const state = Path.join(root, "plugins", "plexum-openai-provider", "state")
        Fs.mkdirSync(Path.join(state, "sessions"), { recursive: true, mode: 0o755 })
        Fs.chmodSync(state, 0o755)
        Fs.writeFileSync(Path.join(state, "sessions", "old.json"), "{}", { mode: 0o644 })
        Fs.chmodSync(Path.join(state, "sessions", "old.json"), 0o644)
      }
    })
    const h = harness
    const state = Path.join(h.profileRoot, "plugins", "plexum-openai-provider", "state")
    h.host.onToolCall(() => {
      // While the turn runs: its codex's record, and the bridge's socket and directory.
      seen.running = modesUnder(Path.join(state, "running"))
      const path = turnMcpHostEnv(h.workspace)?.PLEXUM_MCP_SOCKET
      if (path !== undefined) seen.socket = [(Fs.statSync(Path.dirname(path)).mode & 0o777).toString(8), (Fs.statSync(path).mode & 0o777).toString(8)]
      return { content: [{ type: "text", text: "ticket T-1: printer on fire" }] }
    })
    const exec = await h.turn("t1", { messages: [userMessage("go")], tools: [lookupTool] })
    expect(exec.response.result.status).toBe("completed")
    expect(h.host.toolCalls).toHaveLength(1)
    expect(seen.running.length).toBeGreaterThan(1)
    for (const [path, mode] of seen.running) expect([path, mode]).toEqual([path, path === "." ? "700" : "600"])
    expect(seen.socket).toEqual(["700", "600"])

    // The app-server engine's records too.
    Fs.writeFileSync(
      Path.join(h.profileRoot, "plugins", "plexum-openai-provider", "config.json"),
      JSON.stringify({ ...JSON.parse(Fs.readFileSync(Path.join(h.profileRoot, "plugins", "plexum-openai-provider", "config.json"), "utf8")), engine: "app-server" })
    )
    expect((await h.host.initialize()).error).toBeUndefined()
    const appServer = await h.turn("t2", { messages: [userMessage("go")], tools: [lookupTool] }, "agent-2")
    expect(appServer.response.result.status).toBe("completed")

    const modes = modesUnder(state)
    const names = modes.map(([path]) => path)
    expect(names).toContain(Path.join("sessions", "old.json"))
    expect(names.filter((n) => n.startsWith("sessions/") && n !== "sessions/old.json")).toHaveLength(2)
    expect(names.filter((n) => n.startsWith("app-server-threads/"))).toHaveLength(1)
    for (const [path, mode] of modes) {
      const isDir = Fs.statSync(Path.join(state, path)).isDirectory()
      expect([path, mode]).toEqual([path, isDir ? "700" : "600"])
    }
    // Nothing of the plugin's is left in CODEX_HOME.
    expect(Fs.readdirSync(h.codexHome).filter((f) => f.startsWith("plexum-") || f.startsWith(".plexum-"))).toEqual([])
  }, 180_000)
})
