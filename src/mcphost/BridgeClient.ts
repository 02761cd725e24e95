/**
 * mcp-host's end of the bridge socket (wire: src/schemas/BridgeWire.ts). One
 * connection per request: a turn's listener appears and disappears between turns,
 * so nothing is kept across requests. Plain node:net, no Effect: this is on the
 * start-up path of every codex turn.
 */
import * as Net from "node:net"
import { BRIDGE_WIRE_VERSION } from "../schemas/BridgeEnv.ts"
import { makeLineFramer } from "./LineFramer.ts"

export interface BridgeTool {
  readonly name: string
  readonly description?: string
  readonly inputSchema: Record<string, unknown>
}

export interface BridgeToolResult {
  readonly content: Array<Record<string, unknown>>
  readonly isError?: boolean
  readonly structuredContent?: Record<string, unknown>
}

export type BridgeOutcome<T> =
  | { readonly ok: true; readonly value: T }
  /** `absent`: no turn is listening; `refused`: the listener serves another agent; `broken`: anything else. */
  | { readonly ok: false; readonly reason: "absent" | "refused" | "broken"; readonly message: string }

type Request = { readonly type: "list" } | {
  readonly type: "call"
  readonly name: string
  readonly arguments: Record<string, unknown>
  readonly callId?: string
}

interface Answer {
  readonly type: string
  readonly id?: unknown
  readonly message?: string
  readonly tools?: Array<BridgeTool>
  readonly result?: BridgeToolResult
}

/**
 * A listener that does not answer the tool list is treated as absent, but only once codex itself
 * would have given up on this server (its startup timeout, 30 s, McpRegistryLive): under 64 turns
 * starting at once the plugin's peer check alone took over 10 s, and a shorter wait here left the
 * model without the host's tools.
 */
const LIST_TIMEOUT_MS = 25_000

const exchange = (
  socketPath: string,
  agentId: string,
  token: string | undefined,
  request: Request,
  signal?: AbortSignal
): Promise<BridgeOutcome<Answer>> =>
  new Promise((resolve) => {
    let settled = false
    const socket = Net.connect(socketPath)
    const timer =
      request.type === "list"
        ? setTimeout(() => finish({ ok: false, reason: "broken", message: "the bridge did not answer in time" }), LIST_TIMEOUT_MS)
        : undefined
    const onAbort = () => finish({ ok: false, reason: "broken", message: "the call was cancelled" })
    function finish(outcome: BridgeOutcome<Answer>) {
      if (settled) return
      settled = true
      if (timer !== undefined) clearTimeout(timer)
      signal?.removeEventListener("abort", onAbort)
      socket.destroy()
      resolve(outcome)
    }
    if (signal?.aborted) return onAbort()
    signal?.addEventListener("abort", onAbort, { once: true })
    socket.setEncoding("utf8")
    socket.once("connect", () => {
      const hello = { type: "hello", version: BRIDGE_WIRE_VERSION, agentId, ...(token ? { token } : {}) }
      socket.write(`${JSON.stringify(hello)}\n${JSON.stringify({ ...request, id: 1 })}\n`)
    })
    socket.on("error", (e: NodeJS.ErrnoException) => {
      const absent = e.code === "ENOENT" || e.code === "ECONNREFUSED"
      finish({ ok: false, reason: absent ? "absent" : "broken", message: e.message })
    })
    socket.once("close", () =>
      finish({ ok: false, reason: "broken", message: "the plugin closed the bridge before answering" })
    )
    const frame = makeLineFramer()
    socket.on("data", (chunk: string) => {
      let lines: Array<string>
      try {
        lines = frame(chunk)
      } catch (e) {
        return finish({ ok: false, reason: "broken", message: (e as Error).message })
      }
      for (const line of lines) {
        let answer: Answer
        try {
          answer = JSON.parse(line) as Answer
        } catch {
          return finish({ ok: false, reason: "broken", message: "unreadable answer from the plugin" })
        }
        if (answer.type === "refused") {
          return finish({ ok: false, reason: "refused", message: answer.message ?? "refused" })
        }
        if (answer.id === 1) {
          if (answer.type === "error") {
            return finish({ ok: false, reason: "broken", message: answer.message ?? "bridge error" })
          }
          return finish({ ok: true, value: answer })
        }
      }
    })
  })

export const makeBridgeClient = (socketPath: string, agentId: string, token?: string) => ({
  listTools: async (): Promise<BridgeOutcome<ReadonlyArray<BridgeTool>>> => {
    const out = await exchange(socketPath, agentId, token, { type: "list" })
    if (!out.ok) return out
    return Array.isArray(out.value.tools)
      ? { ok: true, value: out.value.tools }
      : { ok: false, reason: "broken", message: "the plugin sent no tool list" }
  },
  callTool: async (
    name: string,
    args: Record<string, unknown>,
    callId: string | undefined,
    signal?: AbortSignal
  ): Promise<BridgeOutcome<BridgeToolResult>> => {
    const out = await exchange(
      socketPath,
      agentId,
      token,
      { type: "call", name, arguments: args, ...(callId === undefined ? {} : { callId }) },
      signal
    )
    if (!out.ok) return out
    const result = out.value.result
    return result !== undefined && Array.isArray(result.content)
      ? { ok: true, value: result }
      : { ok: false, reason: "broken", message: "the plugin sent no tool result" }
  }
})
