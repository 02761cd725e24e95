// The bridge end to end with the real codex (PROTOCOL.md §7): McpRegistry registers the agent's
// server in a temp CODEX_HOME, codex starts mcp-host from that registration, the scripted model
// calls a host tool in the agent's namespace, and the call reaches the ToolBridge listening here.
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { pathToFileURL } from "node:url"
import { runProfileToml, writeRunProfile } from "../../src/core/codex/RunProfile.ts"
import { serverNameFor } from "../../src/core/bridge/ServerName.ts"
import { McpRegistryLive } from "../../src/layers/McpRegistryLive.ts"
import { ToolBridgeLive } from "../../src/layers/ToolBridgeLive.ts"
import { LauncherLive } from "../../src/layers/LauncherLive.ts"
import type { ToolResult, ToolSpec } from "../../src/schemas/Protocol.ts"
import { McpRegistry } from "../../src/services/McpRegistry.ts"
import { PluginPaths, resolvePluginPaths } from "../../src/services/PluginPaths.ts"
import { ToolBridge } from "../../src/services/ToolBridge.ts"
import { codexOfflineArgs, runCodexExec } from "../support/CodexOffline.ts"
import { codexAtLeast } from "../support/CodexVersion.ts"
import { waitForNoProcesses } from "../support/Processes.ts"
import {
  assistantMessage,
  functionCall,
  type ModelRequest,
  requestText,
  type ScriptedResponse,
  startScriptedModelServer
} from "../support/ScriptedModelServer.ts"
import { MCP_HOST_ENTRY, REPO } from "../process/bridge/BridgeKit.ts"

const AGENT = "agent-1"
// The namespace the model sees the agent's tools under: mcp__ and the server's name with - as _
// (CODEX.md "MCP servers"; serverNameFor(AGENT) is plexum-host-agent-1-<hash>).
const NAMESPACE = `mcp__${serverNameFor(AGENT).replace(/[^A-Za-z0-9_]/g, "_")}`

const tools: ReadonlyArray<ToolSpec> = [
  {
    name: "lookup_ticket",
    description: "Look a ticket up by id",
    inputSchema: { type: "object", properties: { id: { type: "string" } }, required: ["id"] }
  },
  { name: "tickets.close", description: "Close a ticket", inputSchema: { type: "object", properties: { id: { type: "string" } } } }
]

/**
 * A temp world: profile, CODEX_HOME, workspace, and a launcher script standing in for the plugin
 * executable. Its entry is a symlink inside the temp dir, so this test's mcp-host processes can be
 * told apart from any other test's by their command line.
 */
const world = Effect.acquireRelease(
  Effect.sync(() => {
    const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "bridge-codex-"))
    const dirs = {
      root,
      profile: Path.join(root, "profile"),
      codexHome: Path.join(root, "codex-home"),
      workspace: Path.join(root, "ws")
    }
    for (const d of [dirs.profile, dirs.codexHome, dirs.workspace]) Fs.mkdirSync(d)
    const entry = Path.join(root, "mcp-host-entry.ts")
    Fs.symlinkSync(MCP_HOST_ENTRY, entry)
    const launcher = Path.join(root, "plugin-launcher")
    const tsx = pathToFileURL(Path.join(REPO, "node_modules/tsx/dist/loader.mjs")).href
    Fs.writeFileSync(launcher, `#!/bin/sh\nexec '${process.execPath}' --import '${tsx}' '${entry}' "$@"\n`, { mode: 0o755 })
    return { ...dirs, launcher }
  }),
  ({ root }) =>
    Effect.promise(async () => {
      await waitForNoProcesses(new RegExp(root), 5_000)
      Fs.rmSync(root, { recursive: true, force: true })
    })
)
type World = Effect.Effect.Success<typeof world>

const layers = (w: World) => {
  const paths = Layer.succeed(PluginPaths, resolvePluginPaths({ PLEXUM_PROFILE_ROOT: w.profile, CODEX_HOME: w.codexHome }))
  return Layer.mergeAll(
    McpRegistryLive({ launcher: w.launcher }),
    ToolBridgeLive
  ).pipe(Layer.provide(Layer.mergeAll(paths, NodeContext.layer, LauncherLive)))
}

/**
 * A socket in front of the bridge's: passes both directions through unchanged and keeps each
 * `call` mcp-host sends. Its connections go with the scope.
 */
const callRecorder = (target: string, path: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const calls: Array<Record<string, unknown>> = []
      const sockets = new Set<Net.Socket>()
      const server = Net.createServer((peer) => {
        const upstream = Net.connect(target)
        for (const s of [peer, upstream]) {
          sockets.add(s)
          s.on("error", () => (peer.destroy(), upstream.destroy()))
          s.on("close", () => (peer.destroy(), upstream.destroy()))
        }
        peer.pipe(upstream)
        upstream.pipe(peer)
        let buf = ""
        peer.on("data", (d: Buffer) => {
          buf += d.toString()
          const lines = buf.split("\n")
          buf = lines.pop()!
          for (const line of lines.filter(Boolean)) {
            const m = JSON.parse(line)
            if (m.type === "call") calls.push(m)
          }
        })
      })
      await new Promise<void>((resolve) => server.listen(path, resolve))
      return { server, sockets, calls, path }
    }),
    ({ server, sockets }) =>
      Effect.promise(() => {
        for (const s of sockets) s.destroy()
        return new Promise<void>((resolve) => server.close(() => resolve()))
      })
  )

/** Model: call `tool` in the agent's namespace once, then end the turn. */
const callOnce =
  (tool: string, args: unknown, callId: string) =>
  (req: ModelRequest): ScriptedResponse => {
    if (req.index > 0) return { items: [assistantMessage("done")] }
    const namespace = (req.body.tools as Array<any>).find((t) => t.type === "namespace" && t.name === NAMESPACE)
    if (namespace === undefined) return { items: [assistantMessage("no host tools offered")] }
    return { items: [functionCall(tool, args, { callId, namespace: NAMESPACE })] }
  }

const runTurn = (
  w: World,
  script: (req: ModelRequest) => ScriptedResponse,
  callTool: (name: string, args: Record<string, unknown>) => ToolResult
) =>
  Effect.gen(function* () {
    const calls: Array<{ name: string; args: Record<string, unknown> }> = []
    const registry = yield* McpRegistry
    const bridge = yield* ToolBridge
    const model = yield* Effect.acquireRelease(
      Effect.promise(() => startScriptedModelServer(script)),
      (m) => Effect.promise(() => m.close())
    )
    const run = yield* Effect.scoped(
      Effect.gen(function* () {
        const socketPath = yield* bridge.serve({
          agentId: AGENT,
          turnId: "turn-1",
          tools,
          callTool: (name, args) =>
            Effect.sync(() => {
              calls.push({ name, args })
              return callTool(name, args)
            })
        })
        // mcp-host reaches the bridge through a recorder, which keeps the calls it sends.
        const recorder = yield* callRecorder(socketPath, Path.join(w.root, "recorder.sock"))
        // As the turn runner does: the agent's server lives in the run's private profile only.
        const tables = yield* registry.runServerTables(AGENT, { offersTools: true, toolTimeoutSec: 60, socketPath: recorder.path })
        const profile = yield* writeRunProfile(w.codexHome, runProfileToml({ serverTables: tables }))
        const run = yield* Effect.promise(() =>
          runCodexExec({
            codexHome: w.codexHome,
            cwd: w.workspace,
            // The profile's table makes codex wait for the server (`required`; started here from source, slowly).
            args: [...codexOfflineArgs(model.baseUrl), `--profile=${profile}`],
            prompt: "use the host tool",
            env: { RUST_LOG: "codex_mcp=trace,rmcp=trace,codex_core::mcp=trace" },
            timeoutMs: 90_000
          })
        )
        return { run, wireCalls: recorder.calls }
      })
    )
    return { ...run, calls, requests: model.requests }
  }).pipe(Effect.provide(layers(w)))

describe("host tools inside the real codex", () => {
  it.scopedLive(
    "a call in the agent's namespace reaches callTool with its arguments and the output reaches the model",
    () =>
      Effect.gen(function* () {
        const w = yield* world
        const { run, calls, wireCalls, requests } = yield* runTurn(w, callOnce("lookup_ticket", { id: "T-17" }, "call_e2e_1"), (_, args) => ({
          content: [{ type: "text", text: `ticket ${args.id}: printer on fire` }]
        }))
        expect(run.code, run.stderr.slice(-2000)).toBe(0)
        // codex offered the turn's tools under the agent's namespace, the dotted one renamed validly.
        const namespace = (requests[0]!.body.tools as Array<any>).find((t) => t.name === NAMESPACE)
        const offered = (namespace.tools as Array<any>).map((t) => t.name).sort()
        expect(offered[0]).toBe("lookup_ticket")
        expect(offered[1]).toMatch(/^tickets_close_[0-9a-f]+$/)

        expect(calls).toEqual([{ name: "lookup_ticket", args: { id: "T-17" } }])
        expect(requestText(requests[1]!)).toContain("ticket T-17: printer on fire")
        // codex's call id came through mcp-host (`_meta.callId`) onto the bridge with the call.
        // codex 0.135 sends no `_meta.callId` (0.151 does).
        expect(wireCalls.map((c) => [c.name, c.callId])).toEqual([["lookup_ticket", codexAtLeast("0.151.0") ? "call_e2e_1" : undefined]])
        const item = run.events.find((e) => e.type === "item.completed" && e.item?.type === "mcp_tool_call")?.item
        expect(item).toMatchObject({ server: serverNameFor(AGENT), tool: "lookup_ticket", status: "completed" })
        // No mcp-host of this test outlives codex.
        expect(yield* Effect.promise(() => waitForNoProcesses(new RegExp(`${w.root}/mcp-host-entry`), 5_000))).toEqual([])
      }),
    120_000
  )

  it.scopedLive(
    "a renamed tool is mapped back to the host's name, and an isError result fails only that call",
    () =>
      Effect.gen(function* () {
        const w = yield* world
        // The exposed name is stable: compute it the way the bridge does, then let the model use it.
        const { exposeToolNames } = yield* Effect.promise(() => import("../../src/core/bridge/ToolNames.ts"))
        const exposed = exposeToolNames(tools.map((t) => t.name)).find((t) => t.original === "tickets.close")!.exposed
        const { run, calls, requests } = yield* runTurn(w, callOnce(exposed, { id: "T-404" }, "call_e2e_2"), () => ({
          content: [{ type: "text", text: "no such ticket T-404" }],
          isError: true
        }))
        expect(run.code, run.stderr.slice(-2000)).toBe(0)
        expect(calls).toEqual([{ name: "tickets.close", args: { id: "T-404" } }])
        expect(requestText(requests[1]!)).toContain("no such ticket T-404")
        expect(run.events.some((e) => e.type === "turn.completed")).toBe(true)
        const item = run.events.find((e) => e.type === "item.completed" && e.item?.type === "mcp_tool_call")?.item
        expect(item?.status).toBe("failed")
      }),
    120_000
  )
})
