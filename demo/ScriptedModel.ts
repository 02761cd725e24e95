// The demo's built-in model: a script over test/support/ScriptedModelServer.ts that plays the
// story's two turns by looking at what codex sends, never at how many requests came before.
//   turn 1: run `wc -l notes.md` → call the host tool lookup_ticket → answer with both results
//   turn 2: answer from what it can still see of those two calls (after the consume step: markers)
import {
  assistantMessage,
  functionCall,
  type ModelRequest,
  type ScriptedResponse
} from "../test/support/ScriptedModelServer.ts"

export const SHELL_CALL_ID = "call_demo_shell"
export const TICKET_CALL_ID = "call_demo_ticket"
export const SHELL_COMMAND = "wc -l notes.md"
export const TICKET_ID = "PLX-42"
export const TURN_2_PROMPT = "What did the line count and ticket PLX-42 say? Answer from this conversation, without tools."

const inputOf = (req: ModelRequest): ReadonlyArray<any> => (Array.isArray(req.body?.input) ? req.body.input : [])

/** The text of a function_call_output (a string, or content items with text). */
export const outputText = (output: unknown): string =>
  typeof output === "string"
    ? output
    : Array.isArray(output)
      ? output.map((c: any) => (typeof c?.text === "string" ? c.text : "")).join("\n")
      : JSON.stringify(output ?? null)

const outputOf = (req: ModelRequest, callId: string): string | undefined => {
  const item = inputOf(req).find((i) => i?.type === "function_call_output" && i.call_id === callId)
  return item === undefined ? undefined : outputText(item.output)
}

/**
 * Where codex offers the host's lookup_ticket: its MCP namespace and the tool's name there (exec
 * engine), or the thread's dynamic tool of that name, with no namespace (app-server engine).
 */
export const findHostTool = (req: ModelRequest): { namespace?: string; name: string } | undefined => {
  for (const tool of Array.isArray(req.body?.tools) ? req.body.tools : []) {
    if (tool?.type === "function" && tool.name === "lookup_ticket") return { name: tool.name }
    if (tool?.type !== "namespace" || typeof tool.name !== "string" || !tool.name.startsWith("mcp__plexum_host_")) continue
    const found = (tool.tools ?? []).find((t: any) => typeof t?.name === "string" && t.name.includes("lookup_ticket"))
    if (found) return { namespace: tool.name, name: found.name }
  }
  return undefined
}

const isTurn2 = (req: ModelRequest): boolean => {
  const last = inputOf(req).at(-1)
  return last?.type === "message" && last.role === "user" && JSON.stringify(last.content).includes("PLX-42 say?")
}

/** The model writes its answers word by word, a little at a time (deltas with the app-server engine). */
const WRITING = { delayMs: 15 }

export const demoModelScript = (req: ModelRequest): ScriptedResponse => {
  const last = inputOf(req).at(-1)
  if (isTurn2(req)) {
    const shell = outputOf(req, SHELL_CALL_ID)
    const ticket = outputOf(req, TICKET_CALL_ID)
    return {
      items: [
        assistantMessage(
          `In my context the shell output now reads ${JSON.stringify(shell ?? "(gone)")} and the ticket output ${JSON.stringify(ticket ?? "(gone)")}.`
        )
      ],
      stream: WRITING
    }
  }
  if (last?.type === "function_call_output" && last.call_id === SHELL_CALL_ID) {
    const tool = findHostTool(req)
    if (tool === undefined) return { items: [assistantMessage("The host tool lookup_ticket was not offered to me.")] }
    return { items: [functionCall(tool.name, { id: TICKET_ID }, { callId: TICKET_CALL_ID, ...(tool.namespace ? { namespace: tool.namespace } : {}) })] }
  }
  if (last?.type === "function_call_output" && last.call_id === TICKET_CALL_ID) {
    const count = (outputOf(req, SHELL_CALL_ID) ?? "").match(/(\d+)\s+notes\.md/)?.[1] ?? "?"
    // codex may wrap the tool's text (e.g. "Wall time: …\nOutput:\n…"): pick the ticket's own line.
    const ticket = outputText(last.output).split("\n").find((l) => l.includes(TICKET_ID)) ?? "(no ticket text)"
    return { items: [assistantMessage(`notes.md has ${count} lines. Ticket: ${ticket}`)], stream: WRITING }
  }
  return { items: [functionCall("exec_command", { cmd: SHELL_COMMAND }, { callId: SHELL_CALL_ID })] }
}
