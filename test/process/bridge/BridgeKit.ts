// Helpers for the bridge's process tests: a temp profile, a real ToolBridge in the test
// process, and mcp-host started from source as its own process and driven by the MCP SDK client.
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js"
import { Effect, Layer } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { ToolBridgeLive } from "../../../src/layers/ToolBridgeLive.ts"
import { LauncherLive } from "../../../src/layers/LauncherLive.ts"
import { PluginPaths, resolvePluginPaths } from "../../../src/services/PluginPaths.ts"
import type { ToolResult } from "../../../src/schemas/Protocol.ts"
import { ToolBridge, type ServeOptions } from "../../../src/services/ToolBridge.ts"

export const REPO = fileURLToPath(new URL("../../../", import.meta.url))
export const MCP_HOST_ENTRY = Path.join(REPO, "src/mcphost/McpHostEntry.ts")
/** argv that runs mcp-host from source in one node process (no npx/tsx wrapper processes). */
export const mcpHostArgv = (args: ReadonlyArray<string> = []) => ["--import", "tsx", MCP_HOST_ENTRY, ...args]

/**
 * A fresh profile root, removed when the scope closes. Short enough for its own socket directory
 * (src/core/bridge/SocketPath.ts), which these tests look at; a longer one is longProfile's case.
 */
export const tempProfile = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync("/tmp/bp-")),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

export const bridgeFor = (profileRoot: string) =>
  Layer.provide(ToolBridgeLive, Layer.merge(Layer.succeed(PluginPaths, resolvePluginPaths({ PLEXUM_PROFILE_ROOT: profileRoot })), LauncherLive))

/** Serves a turn's tools on the agent's socket until the enclosing scope closes. */
export const serveTurn = (profileRoot: string, options: ServeOptions) =>
  // Built in the enclosing scope, as the plugin's services live as long as the plugin: the fork
  // server that runs the peer check's `ss` must outlive this call.
  Effect.flatMap(Layer.build(bridgeFor(profileRoot)), (services) =>
    Effect.flatMap(ToolBridge, (bridge) => bridge.serve(options)).pipe(Effect.provide(services)))

export interface McpHostClient {
  readonly client: Client
  readonly pid: number
  readonly stderr: () => string
}

/** Starts mcp-host and completes the MCP handshake; closed (stdin end, then TERM/KILL) with the scope. */
export const connectMcpHost = (opts: { args?: ReadonlyArray<string>; env?: Record<string, string> } = {}) =>
  Effect.acquireRelease(
    Effect.promise(async (): Promise<McpHostClient> => {
      const transport = new StdioClientTransport({
        command: process.execPath,
        args: mcpHostArgv(opts.args),
        cwd: REPO,
        env: { PATH: process.env.PATH ?? "", ...opts.env },
        stderr: "pipe"
      })
      let stderr = ""
      transport.stderr?.on("data", (d: Buffer) => {
        stderr += d.toString()
      })
      const client = new Client({ name: "bridge-test", version: "1.0.0" })
      await client.connect(transport)
      return { client, pid: transport.pid!, stderr: () => stderr }
    }),
    ({ client }) => Effect.promise(() => client.close())
  )

export const textOf = (result: unknown): string =>
  ((result as { content?: Array<{ type: string; text?: string }> }).content ?? [])
    .map((c) => c.text ?? "")
    .join("")

const ok = (text: string): ToolResult => ({ content: [{ type: "text", text }] })

/** A turn of `agentId` serving one tool, `echo`, which answers with its arguments as JSON. */
export const echoTurn = (agentId: string) => ({
  agentId,
  turnId: "t",
  tools: [{ name: "echo", inputSchema: { type: "object" } }],
  callTool: (_: string, args: Record<string, unknown>) => Effect.succeed(ok(JSON.stringify(args)))
})

