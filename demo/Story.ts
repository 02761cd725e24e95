// The demo's story, told through a reference host: turn 1 runs a shell command and a host tool,
// session/mutate consumes both calls, turn 2 resumes the thread and shows what the model sees now.
import { readFile } from "node:fs/promises"
import { locateRollout } from "../src/core/rollout/RolloutLocate.ts"
import type { ReferenceHost, ToolCallParams } from "../test/support/ReferenceHost.ts"
import type { ModelRequest } from "../test/support/ScriptedModelServer.ts"
import { line, oneLine, paint, renderEvent, type Style } from "./Renderer.ts"
import { outputText, SHELL_CALL_ID, SHELL_COMMAND, TICKET_CALL_ID, TICKET_ID, TURN_2_PROMPT } from "./ScriptedModel.ts"

export const MARKER = "...(tool called)"
export const TURN_1_PROMPT = `Count the lines of notes.md with the shell command \`${SHELL_COMMAND}\`, then look up ticket ${TICKET_ID} with the lookup_ticket tool, and tell me both in one sentence.`
export const TICKET_TEXT = `${TICKET_ID}: "Login times out after 30 s on Safari" (status: open, owner: dana)`

/** A step of the story went wrong; the message says which and what to try. */
export class DemoFailure extends Error {}

export interface StoryContext {
  readonly host: ReferenceHost
  readonly style: Style
  readonly out: (text: string) => void
  readonly workspace: string
  readonly codexHome: string
  readonly agentId: string
  /** The scripted model's requests; undefined with --live (the real model's are not visible). */
  readonly modelRequests: ReadonlyArray<ModelRequest> | undefined
  readonly turnTimeoutMs: number
}

export interface StoryResult {
  readonly threadId: string
  readonly consumed: ReadonlyArray<string>
}

const lookupTicketSpec = {
  name: "lookup_ticket",
  description: "Look up a ticket in the team's tracker by its id (e.g. PLX-42).",
  inputSchema: { type: "object", properties: { id: { type: "string", description: "ticket id" } }, required: ["id"] }
}

/** The host's side of lookup_ticket: answered here, in the host, reached by codex through mcp-host. */
export const answerToolCall = (ctx: Pick<StoryContext, "out" | "style">, flush: () => void) => (params: ToolCallParams) => {
  flush() // the tool.started line belongs before the host's answer
  if (params.name !== "lookup_ticket") throw { code: -32601, message: `no such tool: ${params.name}` }
  const id = String(params.arguments?.id ?? "")
  const text = id === TICKET_ID ? TICKET_TEXT : `${id}: no such ticket`
  ctx.out(line(ctx.style, "host", "magenta", `answers host/tools/call ${params.name}(${JSON.stringify(params.arguments)}) → ${oneLine(text, 80)}`))
  return { content: [{ type: "text", text }] }
}

/** Prints a turn's events as they arrive (the reference host records them; we follow its list). */
const follow = (ctx: StoryContext, turnId: string, label: string) => {
  let printed = 0
  let logsPrinted = ctx.host.logs.length
  const flush = () => {
    const events = ctx.host.eventsOf(turnId)
    // Only print a gap-free prefix: seq order is the protocol's promise.
    while (printed < events.length) {
      const rendered = renderEvent(ctx.style, label, events[printed])
      if (rendered !== undefined) ctx.out(rendered)
      printed++
    }
    for (; logsPrinted < ctx.host.logs.length; logsPrinted++) {
      const log = ctx.host.logs[logsPrinted]
      if (log?.level === "warn" || log?.level === "error") {
        ctx.out(line(ctx.style, `plugin ${log.level}`, "yellow", oneLine(String(log.message ?? ""), 120)))
      }
    }
  }
  const timer = setInterval(flush, 20)
  return { flush, stop: () => (clearInterval(timer), flush()) }
}

let flushCurrent: () => void = () => {}
/** Lets the tool-call handler print pending event lines first. */
export const flushEvents = () => flushCurrent()

const runTurn = async (ctx: StoryContext, turnId: string, label: string, request: unknown) => {
  const view = follow(ctx, turnId, label)
  flushCurrent = view.flush
  try {
    const response = await ctx.host.request("provider/stream", {
      turnId,
      modelId: "codex",
      agent: { agentId: ctx.agentId, workspace: ctx.workspace },
      request
    })
    view.stop()
    if (response.error) throw new DemoFailure(`provider/stream ${turnId} was refused: ${response.error.code} ${response.error.message}`)
    const events = ctx.host.eventsOf(turnId)
    if (response.result?.status !== "completed") {
      const failed = events.find((e) => e.type === "turn.failed")
      throw new DemoFailure(
        `${label} ended ${response.result?.status}: ${failed ? `[${failed.code}] ${failed.message}` : "no turn.failed event"}`
      )
    }
    return { result: response.result, events }
  } finally {
    view.stop()
    flushCurrent = () => {}
  }
}

const finalMessageOf = (events: ReadonlyArray<any>): string =>
  events.find((e) => e.type === "turn.completed")?.finalMessage ?? events.filter((e) => e.type === "message").at(-1)?.text ?? ""

/** Every rollout line of `callId`'s call and output, as the consume step left them. */
const rolloutEvidence = async (codexHome: string, threadId: string, callIds: ReadonlyArray<string>) => {
  const path = await locateRollout(codexHome, threadId)
  if (path === undefined) return { path, items: [] as Array<any> }
  const items = (await readFile(path, "utf8"))
    .split("\n")
    .flatMap((l) => {
      try {
        return [JSON.parse(l)]
      } catch {
        return []
      }
    })
    .filter((l) => l?.type === "response_item" && callIds.includes(l.payload?.call_id))
    .map((l) => l.payload)
  return { path, items }
}

const describeItem = (item: any): string =>
  item.type === "function_call"
    ? `${item.namespace ? `${item.namespace}.` : ""}${item.name} arguments ${JSON.stringify(item.arguments)}`
    : item.type === "custom_tool_call"
      ? `${item.name} input ${JSON.stringify(item.input)}`
      : `${item.type} ${JSON.stringify(oneLine(outputText(item.output), 60))}`

export const tellStory = async (ctx: StoryContext): Promise<StoryResult> => {
  const { out, style } = ctx
  const heading = (text: string) => out(`\n${paint(style, "bold", text)}`)
  const scripted = ctx.modelRequests !== undefined

  heading(`Turn 1: a shell command and a host tool (agent ${ctx.agentId}, workspace ${ctx.workspace})`)
  const turn1 = await runTurn(ctx, "turn-1", "turn 1", {
    messages: [{ role: "user", content: TURN_1_PROMPT }],
    tools: [lookupTicketSpec],
    session: { fresh: true },
    options: { timeoutMs: ctx.turnTimeoutMs }
  })
  const threadId: string | undefined = turn1.result.threadId ?? turn1.events.find((e) => e.type === "turn.started")?.threadId
  if (threadId === undefined) throw new DemoFailure("turn 1 completed without a thread id")
  const commandRan = turn1.events.some((e) => e.type === "tool.completed" && e.kind === "command")
  const hostCalled = ctx.host.toolCalls.some((c) => c.name === "lookup_ticket")
  const modelDeclined = scripted ? "" : " (a real model may decline; run the demo again)"
  if (!commandRan) throw new DemoFailure(`turn 1 ran no shell command (no tool.completed of kind command)${modelDeclined}`)
  if (!hostCalled) {
    const attempted = turn1.events.some((e) => e.type === "tool.started" && e.kind === "dynamic")
    throw new DemoFailure(
      attempted
        ? "codex called lookup_ticket but the call never reached the host: the MCP bridge failed (see the tool.completed line above, and `bin/plexum-openai-provider-plugin doctor` with the same CODEX_HOME)"
        : scripted
          ? "codex did not offer the host tool lookup_ticket to the model: the MCP server did not start (run `bin/plexum-openai-provider-plugin doctor` with the same CODEX_HOME)"
          : `the model did not call lookup_ticket${modelDeclined}`
    )
  }
  const blocks = turn1.events.filter((e) => e.type === "tool.block")
  if (scripted) {
    for (const id of [SHELL_CALL_ID, TICKET_CALL_ID]) {
      if (!blocks.some((b) => b.blockId === id)) throw new DemoFailure(`turn 1 reported no tool.block for ${id}`)
    }
  } else if (blocks.length === 0) {
    throw new DemoFailure("turn 1 reported no tool.block events")
  }

  heading("Consume: session/mutate shrinks both calls in codex's rollout (op heavy)")
  const blockIds = blocks.map((b) => b.blockId as string)
  const mutate = await ctx.host.request("session/mutate", {
    agent: { agentId: ctx.agentId, workspace: ctx.workspace },
    threadId,
    mutations: blockIds.map((blockId) => ({ blockId, op: "heavy" }))
  })
  if (mutate.error) throw new DemoFailure(`session/mutate failed: ${mutate.error.code} ${mutate.error.message}`)
  out(
    line(
      style,
      "consume",
      "yellow",
      `session/mutate heavy on ${blockIds.join(", ")} → touched ${mutate.result.touched} line(s), missing ${JSON.stringify(mutate.result.missing)}`
    )
  )
  if (mutate.result.missing.length > 0) throw new DemoFailure(`session/mutate did not find ${mutate.result.missing.join(", ")}`)
  const evidence = await rolloutEvidence(ctx.codexHome, threadId, blockIds)
  for (const item of evidence.items) out(line(style, "rollout", "dim", describeItem(item)))

  heading("Turn 2: resume the thread; the model now sees markers instead of the outputs")
  const before = ctx.modelRequests?.length ?? 0
  const turn2 = await runTurn(ctx, "turn-2", "turn 2", {
    messages: [
      { role: "user", content: TURN_1_PROMPT },
      { role: "assistant", content: finalMessageOf(turn1.events) },
      { role: "user", content: TURN_2_PROMPT }
    ],
    // The same tools as turn 1: a host offers an agent its tool set every turn (and the app-server
    // engine keeps a thread only while its tools stay the same).
    tools: [lookupTicketSpec],
    session: { threadId },
    options: { timeoutMs: ctx.turnTimeoutMs }
  })
  const started = turn2.events.find((e) => e.type === "turn.started")
  if (started?.threadId !== threadId || started?.resumed !== true) {
    throw new DemoFailure(`turn 2 did not resume thread ${threadId} (turn.started: ${JSON.stringify(started)})`)
  }
  if (ctx.modelRequests !== undefined) {
    const requests = ctx.modelRequests.slice(before)
    const first = requests[0]
    if (first === undefined) throw new DemoFailure("turn 2 never reached the model")
    const input: ReadonlyArray<any> = Array.isArray(first.body?.input) ? first.body.input : []
    for (const item of input.filter((i) => blockIds.includes(i?.call_id))) {
      out(line(style, "model sees", "cyan", describeItem(item)))
    }
    const outputs = input.filter((i) => i?.type === "function_call_output" && blockIds.includes(i.call_id))
    if (outputs.length !== blockIds.length || outputs.some((o) => outputText(o.output) !== MARKER)) {
      throw new DemoFailure(`turn 2's model request does not carry the marker ${JSON.stringify(MARKER)} for every consumed call`)
    }
    out(line(style, "model sees", "green", `${MARKER} in place of both outputs, "{}" in place of both arguments`))
  }
  return { threadId, consumed: blockIds }
}
