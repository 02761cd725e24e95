// How the demo prints what happens: one line per event, a fixed-width label column, colour only
// on a terminal. Piped output (or NO_COLOR) carries no escape sequences at all, not even ones
// that arrive inside model text or command output.

export interface Style {
  readonly colour: boolean
}

export const styleFor = (stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv): Style => ({
  colour: stream.isTTY === true && (env.NO_COLOR ?? "") === "" && env.TERM !== "dumb"
})

const CODES = { dim: "2", bold: "1", red: "31", green: "32", yellow: "33", blue: "34", magenta: "35", cyan: "36" } as const
export type Colour = keyof typeof CODES

export const paint = (style: Style, colour: Colour, text: string): string =>
  style.colour ? `\x1b[${CODES[colour]}m${text}\x1b[0m` : text

/** One printable line: control characters (ESC included) removed, newlines shown as ⏎, length capped. */
export const oneLine = (text: string, max = 110): string => {
  const flat = text
    .trim()
    .replace(/\r?\n/g, " ⏎ ")
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, "")
    .trim()
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat
}

const bytes = (text: string): string => `${Buffer.byteLength(text)} B`

const show = (value: unknown): string => (typeof value === "string" ? value : JSON.stringify(value) ?? "")

/** A tool's output as text: MCP results (`{content: [{type: "text", text}]}`) by their text parts. */
const outputText = (output: unknown): string => {
  const content = (output as { content?: unknown } | null)?.content
  if (Array.isArray(content)) return content.map((c) => (typeof c?.text === "string" ? c.text : `[${c?.type}]`)).join(" ")
  return show(output)
}

/** `label` padded so the messages line up. */
export const line = (style: Style, label: string, colour: Colour, message: string): string =>
  `${paint(style, colour, label.padEnd(17))} ${message}`

/** The line for one `provider/event`, or undefined for events not worth a line. */
export const renderEvent = (style: Style, turn: string, event: any): string | undefined => {
  const at = (what: string, colour: Colour, message: string) => line(style, `${turn} ${what}`, colour, message)
  switch (event?.type) {
    case "turn.started":
      return at("started", "bold", `thread ${event.threadId} (${event.resumed ? "resumed" : "new thread"})`)
    case "message.delta":
      return at("writing", "dim", JSON.stringify(String(event.delta ?? "")))
    case "reasoning.delta":
      return undefined
    case "message":
      return at("assistant", "green", oneLine(String(event.text ?? "")))
    case "reasoning":
      return at("thinking", "dim", oneLine(String(event.text ?? "")))
    case "plan":
      return at("plan", "dim", oneLine((event.steps ?? []).map((s: any) => `${s.done ? "[x]" : "[ ]"} ${s.text}`).join("  ")))
    case "tool.started":
      return event.kind === "command"
        ? at("shell", "cyan", `$ ${oneLine(show(event.input?.command ?? event.input ?? event.name))}`)
        : at(event.kind === "dynamic" ? "host tool" : String(event.kind), "magenta", `${event.name} ${oneLine(show(event.input ?? {}), 80)}`)
    case "tool.completed": {
      const status = event.exitCode !== undefined && event.exitCode !== null ? `${event.status}, exit ${event.exitCode}` : String(event.status)
      const output = event.output !== undefined ? `: ${oneLine(outputText(event.output), 80)}` : event.error ? `: ${oneLine(show(event.error), 80)}` : ""
      return at("  done", event.status === "completed" ? "dim" : "red", `${event.name} ${status}${output}`)
    }
    case "notice":
      return at("notice", "yellow", `${event.level}: ${oneLine(String(event.message ?? ""))}`)
    case "tool.block":
      return at(
        "tool.block",
        "blue",
        `${event.blockId}  ${event.namespace ? `${event.namespace}.` : ""}${event.name}  input ${bytes(show(event.input))}, output ${bytes(show(event.output))}`
      )
    case "usage":
      return at("usage", "dim", `in ${event.inputTokens} (cached ${event.cachedInputTokens}), out ${event.outputTokens} tokens`)
    case "turn.completed":
      return at("completed", "green", event.finalMessage ? `final: ${oneLine(String(event.finalMessage), 90)}` : "")
    case "turn.failed":
      return at("FAILED", "red", `[${event.code}] ${oneLine(String(event.message ?? ""), 200)}`)
    default:
      return at(String(event?.type ?? "event"), "dim", oneLine(JSON.stringify(event)))
  }
}
