/**
 * The person's view of a RolloutReport. Everything that came from the file is escaped first: a
 * rollout holds tool output, and tool output can hold terminal escape sequences.
 */
import type { RolloutReport, TokenUsage, ToolCallSummary } from "./RolloutReport.ts"

import { escapeForTerminal } from "../TerminalText.ts"

export { escapeForTerminal } from "../TerminalText.ts"

const hex = (c: number, width: number) => c.toString(16).padStart(width, "0")

/** JSON text with the same characters escaped as `\uXXXX`, so `--json` is safe on a terminal too. */
export const safeJson = (value: unknown): string =>
  JSON.stringify(value, null, 2).replace(
    /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (ch) => `\\u${hex(ch.charCodeAt(0), 4)}`
  )

export interface Style {
  readonly bold: (s: string) => string
  readonly dim: (s: string) => string
  readonly warn: (s: string) => string
  readonly ok: (s: string) => string
}

const sgr = (code: string) => (s: string) => `\u001b[${code}m${s}\u001b[0m`
export const colorStyle: Style = { bold: sgr("1"), dim: sgr("2"), warn: sgr("33"), ok: sgr("32") }
export const plainStyle: Style = { bold: (s) => s, dim: (s) => s, warn: (s) => s, ok: (s) => s }

/** Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
export const wantsColor = (isTTY: boolean | undefined, env: NodeJS.ProcessEnv): boolean =>
  isTTY === true && env.NO_COLOR === undefined

export const fmtBytes = (n: number): string =>
  n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`

const fmtUsage = (u: TokenUsage): string =>
  [
    `input ${u.inputTokens ?? "?"}`,
    `cached ${u.cachedInputTokens ?? "?"}`,
    `output ${u.outputTokens ?? "?"}`,
    `reasoning ${u.reasoningOutputTokens ?? "?"}`,
    ...(u.totalTokens === undefined ? [] : [`total ${u.totalTokens}`])
  ].join(", ")

const callLine = (c: ToolCallSummary, st: Style): string => {
  const e = escapeForTerminal
  const name = c.namespace === undefined ? e(c.name) : `${e(c.namespace)}/${e(c.name)}`
  const state = !c.paired
    ? st.warn("unpaired")
    : c.consumed
      ? st.ok(c.stubbed ? "consumed (heavy)" : "consumed")
      : "live"
  const out = c.outputBytes === undefined ? "-" : fmtBytes(c.outputBytes)
  const head = `  ${st.dim(`line ${c.line}`)}  ${e(c.callId)}  ${st.bold(name)} (${c.kind})  in ${fmtBytes(c.inputBytes)}  out ${out}  ${state}`
  const output = c.outputPreview === undefined ? st.dim("(no output yet)") : oneLine(c.outputPreview)
  return [head, `      ${st.dim("args")} ${oneLine(c.inputPreview)}`, `      ${st.dim("out ")} ${output}`].join("\n")
}

const ONE_LINE_CHARS = 120
/** A preview on one terminal line: escaped (newlines included), cut when escaping made it long. */
const oneLine = (text: string): string => {
  const escaped = escapeForTerminal(text)
  return escaped.length > ONE_LINE_CHARS ? `${escaped.slice(0, ONE_LINE_CHARS - 1)}…` : escaped
}

/** A complete value for a person: its text (JSON when not a string), every line escaped but kept a line. */
const fullText = (u: unknown): string =>
  (typeof u === "string" ? u : JSON.stringify(u, null, 2) ?? "")
    .split("\n")
    .map((l) => `  ${escapeForTerminal(l)}`)
    .join("\n")

/** `rollout inspect --call <id>`: one call with its complete arguments and output as recorded. */
export const renderCall = (r: RolloutReport, c: ToolCallSummary, st: Style): string => {
  const e = escapeForTerminal
  const field = (label: string, value: string) => `${st.bold(label.padEnd(10))} ${value}`
  const state = !c.paired ? "unpaired" : c.consumed ? (c.stubbed ? "consumed (heavy)" : "consumed") : "live"
  return [
    field("file", e(r.file)),
    field("call", e(c.callId)),
    field("name", `${c.namespace === undefined ? "" : `${e(c.namespace)}/`}${e(c.name)} (${c.kind})`),
    field("line", `${c.line}${c.turn === undefined ? "" : `, turn ${c.turn}`}`),
    field("state", state),
    "",
    st.bold(`arguments (${fmtBytes(c.inputBytes)})`),
    fullText(c.input),
    "",
    st.bold(c.outputBytes === undefined ? "output" : `output (${fmtBytes(c.outputBytes)})`),
    c.paired ? fullText(c.output) : `  ${st.dim("(no output recorded)")}`
  ].join("\n")
}

export const renderReport = (r: RolloutReport, st: Style): string => {
  const e = escapeForTerminal
  const out: Array<string> = []
  const field = (label: string, value: string | undefined) => out.push(`${st.bold(label.padEnd(10))} ${value === undefined ? st.dim("-") : e(value)}`)
  field("file", r.file)
  out.push(`${st.bold("size".padEnd(10))} ${fmtBytes(r.sizeBytes)}, ${r.lines} lines`)
  field("thread", r.threadId)
  field("cwd", r.cwd)
  field("codex", r.cliVersion)
  field("model", r.model)
  field("started", r.startedAt)
  out.push("", st.bold(`turns (${r.turns.length})`))
  for (const t of r.turns) {
    out.push(`  ${t.index}. ${st.dim(`line ${t.line}`)}  ${t.prompt === undefined ? st.dim("(no prompt)") : e(t.prompt)}  ${st.dim(`${t.toolCalls} tool call${t.toolCalls === 1 ? "" : "s"}`)}`)
  }
  const consumed = r.toolCalls.filter((c) => c.consumed).length
  out.push("", st.bold(`tool calls (${r.toolCalls.length}, ${consumed} consumed)`))
  for (const c of r.toolCalls) out.push(callLine(c, st))
  out.push("", st.bold("token usage"))
  if (r.tokenUsage?.total !== undefined) out.push(`  thread total: ${fmtUsage(r.tokenUsage.total)}`)
  if (r.tokenUsage?.last !== undefined) out.push(`  last request: ${fmtUsage(r.tokenUsage.last)}`)
  if (r.tokenUsage === undefined) out.push(`  ${st.dim("(no token_count event)")}`)
  const w = r.warnings
  const warnings: Array<string> = []
  if (w.noSessionMeta) warnings.push("line 1 is not a valid session_meta: codex cannot resume this file")
  for (const b of w.badLines.slice(0, 20)) warnings.push(`line ${b.line}: not valid JSON (${e(b.message)})`)
  if (w.badLines.length > 20) warnings.push(`… and ${w.badLines.length - 20} more bad lines`)
  for (const [t, n] of Object.entries(w.unknownLineTypes)) warnings.push(`unknown line type ${e(t)} ×${n} (kept)`)
  for (const [t, n] of Object.entries(w.unknownPayloadTypes)) warnings.push(`unknown response_item type ${e(t)} ×${n} (kept)`)
  if (w.incompleteLastLineBytes !== undefined) {
    warnings.push(`incomplete last line (${fmtBytes(w.incompleteLastLineBytes)}): codex may still be writing`)
  }
  if (w.blankLines > 0) warnings.push(`${w.blankLines} blank line${w.blankLines === 1 ? "" : "s"}`)
  if (w.orphanOutputs > 0) warnings.push(`${w.orphanOutputs} output${w.orphanOutputs === 1 ? "" : "s"} without a call before them`)
  out.push("", st.bold(`warnings (${warnings.length})`))
  for (const line of warnings) out.push(`  ${st.warn(line)}`)
  return out.join("\n")
}
