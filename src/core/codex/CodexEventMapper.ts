/**
 * codex JSONL events → canonical TurnEvents (PROTOCOL.md §4), one mapper per turn, and how the
 * turn ended by codex's account (`outcome`, `failedRun`): the exec engine makes that its
 * `TurnEnded` or TurnFailure, and the TurnRunner makes the terminal event from it.
 */
import type { CodexEvent, CodexExited, CodexItem, CodexUsage } from "../../schemas/CodexEvent.ts"
import type { FailureCode, LiveToolKind, TurnEvent, Usage } from "../../schemas/Protocol.ts"
import type { CodexRunError } from "../../services/CodexProcess.ts"

export interface CodexEventMapperOptions {
  /** Whether the turn asked codex to resume a thread (reported in `turn.started`). */
  readonly resumed: boolean
  /** The thread asked for: if codex starts another one instead, the turn says so. */
  readonly resumeThreadId?: string | undefined
  /** This agent's own MCP server name (`plexum-host-…`): its calls are `dynamic` tools. */
  readonly ownServerName?: string | undefined
  /** Maps a tool name as exposed to codex back to the host's name. */
  readonly hostToolName?: ((exposed: string) => string) | undefined
  /** The thread's cumulative usage after its previous turn, if known. */
  readonly previousUsageTotal?: Usage | undefined
}

export interface TurnFailed {
  readonly _tag: "failed"
  readonly code: FailureCode
  readonly message: string
}

export type TurnOutcome =
  | {
    readonly _tag: "completed"
    /** The last agent message. */
    readonly finalMessage: string | undefined
    /** This turn's usage (the difference of codex's cumulative totals). */
    readonly usage: Usage | undefined
  }
  | TurnFailed

export interface CodexEventMapper {
  readonly onEvent: (event: CodexEvent) => ReadonlyArray<TurnEvent>
  /** How the turn ended, once codex's stream has ended without an error. */
  readonly outcome: () => TurnOutcome
  /**
   * How the turn ended when codex's stream failed: codex's own `turn.failed` message wins over
   * the exit status that follows it.
   */
  readonly failedRun: (error: CodexRunError) => TurnFailed
  /** From `thread.started`. */
  readonly threadId: () => string | undefined
  /** Whether codex has reported the turn's end (`turn.completed` or `turn.failed`). */
  readonly turnEnded: () => boolean
}

/** A turn codex never finished, with what is known of how codex ended (PROTOCOL §4: the cause, for the host). */
const unfinished = (exited: CodexExited | undefined): string => {
  if (exited === undefined) return "codex ended without finishing the turn"
  return `codex exited with status ${exited.status} without finishing the turn: ${exited.stderrTail === "" ? "nothing on stderr" : `stderr: ${exited.stderrTail}`}`
}

/** How many unreadable stdout lines are shown before the rest are only counted. */
const UNPARSED_SHOWN = 5

const toUsage = (u: CodexUsage): Usage => ({
  inputTokens: u.input_tokens,
  cachedInputTokens: u.cached_input_tokens,
  outputTokens: u.output_tokens,
  reasoningOutputTokens: u.reasoning_output_tokens
})

/** This turn's share of a cumulative total. A total below the previous one means codex restarted counting. */
export const usageDifference = (total: Usage, previous: Usage | undefined): Usage => {
  if (previous === undefined) return total
  const d = {
    inputTokens: total.inputTokens - previous.inputTokens,
    cachedInputTokens: total.cachedInputTokens - previous.cachedInputTokens,
    outputTokens: total.outputTokens - previous.outputTokens,
    reasoningOutputTokens: total.reasoningOutputTokens - previous.reasoningOutputTokens
  }
  return Object.values(d).some((n) => n < 0) ? total : d
}

const toolStatus = (status: string): "completed" | "failed" | "declined" =>
  status === "failed" || status === "declined" ? status : "completed"

const errorText = (e: unknown): string | undefined => {
  if (e === null || e === undefined) return undefined
  if (typeof e === "string") return e
  if (typeof e === "object" && typeof (e as { message?: unknown }).message === "string") {
    return (e as { message: string }).message
  }
  return JSON.stringify(e)
}

interface LiveTool {
  readonly kind: LiveToolKind
  readonly name: string
  readonly input: unknown
  /** Completion fields beyond itemId/kind/name. */
  readonly done: () => Omit<Extract<TurnEvent, { type: "tool.completed" }>, "type" | "itemId" | "kind" | "name">
}

interface PlanStep {
  readonly text: string
  readonly done: boolean
}

const sameSteps = (a: ReadonlyArray<PlanStep> | undefined, b: ReadonlyArray<PlanStep>): boolean =>
  a !== undefined && a.length === b.length && a.every((s, i) => s.text === b[i]!.text && s.done === b[i]!.done)

const failed = (code: FailureCode, message: string): TurnFailed => ({ _tag: "failed", code, message })

/** The turn's failure code for each way codex's run can fail (PROTOCOL.md §4). */
const RUN_FAILURE_CODE = {
  CodexNotFound: "codex_not_found",
  CodexExit: "codex_exit",
  CodexOutputError: "codex_output"
} as const satisfies Record<CodexRunError["_tag"], FailureCode>

export const makeCodexEventMapper = (options: CodexEventMapperOptions): CodexEventMapper => {
  let threadId: string | undefined
  let lastMessage: string | undefined
  let turnUsage: Usage | undefined
  let completed = false
  let failure: string | undefined
  let unparsedLines = 0
  let exited: CodexExited | undefined
  const started = new Set<string>()
  const plans = new Map<string, ReadonlyArray<PlanStep>>()
  const noticed = new Set<string>()

  /** The live-tool view of an item, or undefined for items that are not tools. */
  const liveTool = (item: CodexItem): LiveTool | undefined => {
    switch (item.type) {
      case "command_execution":
        return {
          kind: "command",
          name: "command",
          input: { command: item.command },
          done: () => ({
            status: toolStatus(item.status),
            output: item.aggregated_output,
            ...(typeof item.exit_code === "number" ? { exitCode: item.exit_code } : {})
          })
        }
      case "file_change":
        return {
          kind: "file_change",
          name: "file_change",
          input: { changes: item.changes },
          done: () => ({ status: toolStatus(item.status), output: item.changes })
        }
      case "mcp_tool_call": {
        const dynamic = options.ownServerName !== undefined && item.server === options.ownServerName
        const error = errorText(item.error)
        return {
          kind: dynamic ? "dynamic" : "mcp",
          name: dynamic ? (options.hostToolName?.(item.tool) ?? item.tool) : `${item.server}/${item.tool}`,
          input: item.arguments ?? {},
          done: () => ({
            status: toolStatus(item.status),
            ...(item.result !== null && item.result !== undefined ? { output: item.result } : {}),
            ...(error !== undefined ? { error } : {})
          })
        }
      }
      case "web_search":
        return {
          kind: "web_search",
          name: "web_search",
          input: { query: item.query },
          done: () => ({ status: "completed", ...(item.action !== undefined ? { output: item.action } : {}) })
        }
      case "collab_tool_call":
        return {
          kind: "other",
          name: item.tool,
          input: {
            ...(item.prompt ? { prompt: item.prompt } : {}),
            ...(item.receiver_thread_ids ? { receiverThreadIds: item.receiver_thread_ids } : {})
          },
          done: () => ({ status: toolStatus(item.status) })
        }
      case "<unknown>": {
        // An item kind this version does not know: tool-like if it has an id and a status.
        const { id, status } = item.raw
        if (typeof id !== "string" || typeof status !== "string") return undefined
        return { kind: "other", name: item.itemType, input: item.raw, done: () => ({ status: toolStatus(status) }) }
      }
      default:
        return undefined
    }
  }

  const itemId = (item: CodexItem): string | undefined =>
    item.type === "<unknown>" ? (typeof item.raw.id === "string" ? item.raw.id : undefined) : item.id

  const plan = (item: Extract<CodexItem, { type: "todo_list" }>): ReadonlyArray<TurnEvent> => {
    const steps = item.items.map((s) => ({ text: s.text, done: s.completed }))
    if (sameSteps(plans.get(item.id), steps)) return [] // started/updated/completed often repeat the same list
    plans.set(item.id, steps)
    return [{ type: "plan", itemId: item.id, steps }]
  }

  const onItem = (phase: "started" | "updated" | "completed", item: CodexItem): ReadonlyArray<TurnEvent> => {
    if (item.type === "todo_list") return plan(item)
    if (phase === "completed") {
      if (item.type === "agent_message") {
        lastMessage = item.text
        return [{ type: "message", itemId: item.id, text: item.text }]
      }
      if (item.type === "reasoning") return [{ type: "reasoning", itemId: item.id, text: item.text }]
      if (item.type === "error") {
        if (noticed.has(item.id)) return []
        noticed.add(item.id)
        return [{ type: "notice", level: "warn", message: item.message }]
      }
    }
    const tool = liveTool(item)
    const id = itemId(item)
    if (tool === undefined || id === undefined) return []
    const out: Array<TurnEvent> = []
    if (!started.has(id)) {
      // A tool can appear first as completed (e.g. a declined command): still announce it.
      started.add(id)
      out.push({ type: "tool.started", itemId: id, kind: tool.kind, name: tool.name, input: tool.input })
    }
    if (phase === "completed") {
      out.push({ type: "tool.completed", itemId: id, kind: tool.kind, name: tool.name, ...tool.done() })
    }
    return out
  }

  const onEvent = (event: CodexEvent): ReadonlyArray<TurnEvent> => {
    switch (event.type) {
      case "thread.started":
        if (threadId !== undefined) return []
        threadId = event.thread_id
        if (options.resumeThreadId !== undefined && event.thread_id !== options.resumeThreadId) {
          // codex 0.169 quietly starts a new thread for some ids it cannot resume.
          return [
            { type: "turn.started", threadId: event.thread_id, resumed: false },
            {
              type: "notice",
              level: "warn",
              message: `codex started a new thread ${event.thread_id} instead of resuming ${options.resumeThreadId}`
            }
          ]
        }
        return [{ type: "turn.started", threadId: event.thread_id, resumed: options.resumed }]
      case "item.started":
        return onItem("started", event.item)
      case "item.updated":
        return onItem("updated", event.item)
      case "item.completed":
        return onItem("completed", event.item)
      case "turn.completed": {
        completed = true
        // A thread codex switched to has its own total: the old thread's is no baseline for it.
        const sameThread = options.resumeThreadId === undefined || threadId === options.resumeThreadId
        turnUsage = usageDifference(toUsage(event.usage), sameThread ? options.previousUsageTotal : undefined)
        return []
      }
      case "turn.failed":
        failure = event.error.message
        return []
      case "error":
        return [{ type: "notice", level: "warn", message: event.message }]
      case "<unparsed>": {
        unparsedLines++
        if (unparsedLines > UNPARSED_SHOWN) return []
        const more = unparsedLines === UNPARSED_SHOWN ? " (further unreadable lines are not shown)" : ""
        return [{ type: "notice", level: "warn", message: `codex printed an unreadable line: ${event.line}${more}` }]
      }
      case "<exited>":
        exited = event
        return []
      case "turn.started":
      case "<unknown>":
        return []
    }
  }

  // codex's own account of a failed turn says more than the exit status that follows it.
  const failedRun = (error: CodexRunError): TurnFailed =>
    failure !== undefined ? failed("turn_failed", failure) : failed(RUN_FAILURE_CODE[error._tag], error.message)

  const outcome = (): TurnOutcome => {
    if (failure !== undefined) return failed("turn_failed", failure)
    if (!completed) return failed("codex_output", unfinished(exited))
    return { _tag: "completed", finalMessage: lastMessage, usage: turnUsage }
  }

  return { onEvent, outcome, failedRun, threadId: () => threadId, turnEnded: () => completed || failure !== undefined }
}
