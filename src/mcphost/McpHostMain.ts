/**
 * `mcp-host`: the MCP stdio server codex starts for an agent's host tools
 * (PROTOCOL.md §7). It lists and calls the running turn's tools through the
 * agent's bridge socket; with no turn listening it serves zero tools and stays
 * healthy. It exits when stdin closes or its parent dies, and writes only MCP to
 * stdout.
 *
 * codex waits for this server before every turn's first model request, so this
 * module imports only node built-ins and the MCP SDK: the build bundles it alone
 * (dist/mcp-host.cjs) and loading it must stay cheap.
 */
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js"
import {
  type CallToolRequest,
  CallToolRequestSchema,
  type CallToolResult,
  ListToolsRequestSchema
} from "@modelcontextprotocol/sdk/types.js"
import { type BridgeOutcome, makeBridgeClient } from "./BridgeClient.ts"
import { ENV_AGENT_ID, ENV_SOCKET, ENV_TURN_TOKEN } from "../schemas/BridgeEnv.ts"

export interface McpHostOptions {
  /** The bridge socket; default `$PLEXUM_MCP_SOCKET`. */
  readonly socket?: string
  /** The agent presented in the bridge hello; default `$PLEXUM_MCP_AGENT_ID`. */
  readonly agentId?: string
}

const SERVER_INFO = { name: "plexum-host", version: "1.0.0" }
const PARENT_POLL_MS = 1_000
/** After stdin ends, answers still being worked out get this long to reach stdout. */
const DRAIN_MS = 1_000

const log = (message: string) => {
  try {
    process.stderr.write(`plexum mcp-host: ${message}\n`)
  } catch {}
}

const errorResult = (text: string) => ({ content: [{ type: "text" as const, text }], isError: true })

const explain = (outcome: Exclude<BridgeOutcome<unknown>, { ok: true }>): string =>
  outcome.reason === "absent"
    ? "No Plexum turn is running for this agent, so its host tools are unavailable right now."
    : `The Plexum host tools bridge failed: ${outcome.message}`

/** Parses `[--socket PATH] [--agent-id ID]` (also `--flag=value`). Throws on anything else. */
export const parseMcpHostArgs = (argv: ReadonlyArray<string>): McpHostOptions => {
  const out: { socket?: string; agentId?: string } = {}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const eq = arg.indexOf("=")
    const flag = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg
    const inline = flag === arg ? undefined : arg.slice(eq + 1)
    if (flag !== "--socket" && flag !== "--agent-id") throw new Error(`unknown mcp-host argument: ${arg}`)
    const value = inline ?? argv[++i]
    if (value === undefined) throw new Error(`${flag} needs a value`)
    if (flag === "--socket") out.socket = value
    else out.agentId = value
  }
  return out
}

/** Serves MCP on stdin/stdout; resolves when it is time to exit (stdin closed, parent gone). */
export const runMcpHost = async (options: McpHostOptions = {}): Promise<void> => {
  const socketPath = options.socket ?? process.env[ENV_SOCKET] ?? ""
  const agentId = options.agentId ?? process.env[ENV_AGENT_ID] ?? ""
  if (socketPath === "") log(`no bridge socket (--socket or ${ENV_SOCKET}); serving no tools`)
  const bridge = socketPath === "" ? undefined : makeBridgeClient(socketPath, agentId, process.env[ENV_TURN_TOKEN])

  const server = new Server(SERVER_INFO, { capabilities: { tools: {} } })
  let inFlight = 0
  let drained = () => {}
  const tracked = async <A>(work: () => Promise<A>): Promise<A> => {
    inFlight++
    try {
      return await work()
    } finally {
      if (--inFlight === 0) drained()
    }
  }

  const listTools = async () => {
    if (bridge === undefined) return { tools: [] }
    const out = await bridge.listTools()
    if (out.ok) return { tools: out.value.map((t) => ({ ...t, inputSchema: { type: "object" as const, ...t.inputSchema } })) }
    if (out.reason !== "absent") log(`listing tools: ${out.message}`)
    return { tools: [] }
  }

  const callTool = async (request: CallToolRequest, signal: AbortSignal): Promise<CallToolResult> => {
    if (bridge === undefined) return errorResult(explain({ ok: false, reason: "absent", message: "" }))
    // codex's call id, the one its rollout records: the turn's live events carry it.
    const meta = request.params._meta as Record<string, unknown> | undefined
    const callId = typeof meta?.callId === "string" ? meta.callId : undefined
    const out = await bridge.callTool(request.params.name, request.params.arguments ?? {}, callId, signal)
    // The plugin sends MCP-shaped results; the SDK validates them before they reach codex.
    if (out.ok) return out.value as CallToolResult
    if (out.reason !== "absent") log(`calling ${request.params.name}: ${out.message}`)
    return errorResult(explain(out))
  }

  server.setRequestHandler(ListToolsRequestSchema, () => tracked(listTools))
  server.setRequestHandler(CallToolRequestSchema, (request, extra) => tracked(() => callTool(request, extra.signal)))

  const finished = new Promise<void>((resolve) => {
    // The SDK's stdio transport does not stop at end of stdin; codex relies on us doing so.
    process.stdin.once("end", () => resolve())
    process.stdin.once("close", () => resolve())
    process.stdout.on("error", () => resolve())
    const parent = process.ppid
    const poll = setInterval(() => {
      if (process.ppid !== parent) resolve()
    }, PARENT_POLL_MS)
    poll.unref()
  })
  await server.connect(new StdioServerTransport())
  await finished
  if (inFlight > 0) {
    await new Promise<void>((resolve) => {
      drained = resolve
      setTimeout(resolve, DRAIN_MS).unref()
    })
    // The SDK writes an answer a few promise turns after its handler returns.
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** The command-line entry: parse flags, serve, exit 0 (2 on bad flags). */
export const mcpHostMain = (argv: ReadonlyArray<string>): void => {
  let options: McpHostOptions
  try {
    options = parseMcpHostArgs(argv)
  } catch (e) {
    log((e as Error).message)
    process.exit(2)
  }
  runMcpHost(options).then(
    () => process.exit(0),
    (e: unknown) => {
      log(`failed: ${e instanceof Error ? e.message : String(e)}`)
      process.exit(1)
    }
  )
}
