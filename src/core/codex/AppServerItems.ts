/**
 * app-server notifications of one turn → canonical events (PROTOCOL.md §4, §8). Pure: the
 * engine feeds notifications in order and sends what comes out. Deltas pass through as they come;
 * the complete `message`/`reasoning` follows on `item/completed` (its text is what the deltas add
 * up to). A tool item gets `tool.started` on `item/started` and `tool.completed` on
 * `item/completed` (a started event first if codex skipped `item/started`).
 */
import type { KnownTurnNotification, ThreadItem } from "../../schemas/AppServerWire.ts"
import type { LiveToolKind, TurnEvent } from "../../schemas/Protocol.ts"

type ToolCompleted = Extract<TurnEvent, { type: "tool.completed" }>

interface LiveTool {
  readonly kind: LiveToolKind
  readonly name: string
  readonly input: unknown
  readonly done: () => Omit<ToolCompleted, "type" | "itemId" | "kind" | "name">
}

const str = (u: unknown): string | undefined => (typeof u === "string" ? u : undefined)

const toolStatus = (u: unknown): ToolCompleted["status"] =>
  u === "failed" ? "failed" : u === "declined" ? "declined" : "completed"

/** Items that are not tools and not text: nothing to show live. */
const SILENT = new Set(["userMessage", "hookPrompt", "contextCompaction", "enteredReviewMode", "exitedReviewMode", "plan"])

const liveTool = (item: ThreadItem, hostToolName: (exposed: string) => string): LiveTool | undefined => {
  const i = item as Record<string, unknown>
  switch (item.type) {
    case "commandExecution":
      return {
        kind: "command",
        name: "command",
        input: { command: i.command },
        done: () => ({
          status: toolStatus(i.status),
          ...(i.aggregatedOutput !== undefined && i.aggregatedOutput !== null ? { output: i.aggregatedOutput } : {}),
          ...(typeof i.exitCode === "number" ? { exitCode: i.exitCode } : {})
        })
      }
    case "fileChange":
      return {
        kind: "file_change",
        name: "file_change",
        input: { changes: i.changes },
        done: () => ({ status: toolStatus(i.status), output: i.changes })
      }
    case "mcpToolCall":
      return {
        kind: "mcp",
        name: `${str(i.server) ?? "?"}/${str(i.tool) ?? "?"}`,
        input: i.arguments ?? {},
        done: () => {
          const error = (i.error as { message?: unknown } | null | undefined)?.message
          return {
            status: toolStatus(i.status),
            ...(i.result !== null && i.result !== undefined ? { output: i.result } : {}),
            ...(typeof error === "string" ? { error } : {})
          }
        }
      }
    case "dynamicToolCall":
      return {
        kind: "dynamic",
        name: hostToolName(str(i.tool) ?? "?"),
        input: i.arguments ?? {},
        done: () => ({
          status: i.success === false ? "failed" : toolStatus(i.status),
          ...(i.contentItems !== null && i.contentItems !== undefined ? { output: i.contentItems } : {})
        })
      }
    case "webSearch":
      return {
        kind: "web_search",
        name: "web_search",
        input: { query: i.query },
        done: () => ({ status: "completed", ...(i.action !== undefined && i.action !== null ? { output: i.action } : {}) })
      }
    default:
      // An item kind this version does not know: tool-like if it has a status.
      if (SILENT.has(item.type) || item.type === "agentMessage" || item.type === "reasoning") return undefined
      if (typeof i.status !== "string") return undefined
      return { kind: "other", name: item.type, input: item, done: () => ({ status: toolStatus(i.status) }) }
  }
}

const reasoningText = (item: ThreadItem): string => {
  const summary = (item as { summary?: unknown }).summary
  return Array.isArray(summary) ? summary.filter((s): s is string => typeof s === "string").join("\n\n") : ""
}

export interface TurnItemMapper {
  /** Events for one notification of this turn (other turns' notifications give none). */
  readonly push: (n: KnownTurnNotification) => ReadonlyArray<TurnEvent>
  /** Ids of the tool calls seen live: codex's call ids, which the rollout must show after the turn. */
  readonly toolCallIds: () => ReadonlyArray<string>
}

/** Live tool kinds whose item id is codex's `call_id` in the rollout. */
const CALL_ID_KINDS = new Set<LiveToolKind>(["command", "dynamic", "mcp"])

export const makeTurnItemMapper = (hostToolName: (exposed: string) => string): TurnItemMapper => {
  const started = new Map<string, LiveTool>()
  const callIds: Array<string> = []

  const start = (item: ThreadItem, out: Array<TurnEvent>, tool = liveTool(item, hostToolName)) => {
    if (tool === undefined || started.has(item.id)) return
    started.set(item.id, tool)
    if (CALL_ID_KINDS.has(tool.kind)) callIds.push(item.id)
    out.push({ type: "tool.started", itemId: item.id, kind: tool.kind, name: tool.name, input: tool.input })
  }

  const push = (n: KnownTurnNotification): ReadonlyArray<TurnEvent> => {
    const out: Array<TurnEvent> = []
    switch (n.method) {
      case "item/agentMessage/delta":
        out.push({ type: "message.delta", itemId: n.params.itemId, delta: n.params.delta })
        break
      case "item/reasoning/summaryTextDelta":
        out.push({ type: "reasoning.delta", itemId: n.params.itemId, delta: n.params.delta })
        break
      case "item/started":
        start(n.params.item, out)
        break
      case "item/completed": {
        const item = n.params.item
        if (item.type === "agentMessage") {
          const text = str((item as { text?: unknown }).text) ?? ""
          out.push({ type: "message", itemId: item.id, text })
          break
        }
        if (item.type === "reasoning") {
          const text = reasoningText(item)
          if (text !== "") out.push({ type: "reasoning", itemId: item.id, text })
          break
        }
        const fresh = liveTool(item, hostToolName)
        start(item, out, fresh)
        const tool = started.get(item.id)
        if (tool === undefined || fresh === undefined) break
        out.push({ type: "tool.completed", itemId: item.id, kind: tool.kind, name: tool.name, ...fresh.done() })
        break
      }
      case "turn/plan/updated":
        out.push({
          type: "plan",
          itemId: `plan-${n.params.turnId ?? n.params.threadId}`,
          steps: n.params.plan.map((s) => ({ text: s.step, done: s.status === "completed" }))
        })
        break
      case "warning":
        out.push({ type: "notice", level: "warn", message: n.params.message })
        break
      case "error":
        // A retried error is codex reporting progress; a final one arrives with turn/completed too.
        out.push({ type: "notice", level: n.params.willRetry === true ? "info" : "warn", message: n.params.error.message })
        break
      default:
        break
    }
    return out
  }

  return { push, toolCallIds: () => callIds }
}
