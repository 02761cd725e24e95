/**
 * What one `doctor` check reports and how the report is printed: one line per
 * check, symbols and colour on a terminal, plain words (ok/FAIL) when piped so
 * logs and CI output stay greppable and free of escape sequences.
 */

import { escapeForTerminal } from "../TerminalText.ts"

/** `warn` never fails the run (e.g. no codex login while a custom provider needs none). */
export type CheckStatus = "ok" | "warn" | "fail" | "skip"

export interface CheckResult {
  /** Short and stable, e.g. "codex binary". */
  readonly name: string
  readonly status: CheckStatus
  /** What was found, one line. Never a secret. */
  readonly detail: string
  /** What to do about it; shown only for warn/fail. */
  readonly fix?: string
}

export const check = (name: string, status: CheckStatus, detail: string, fix?: string): CheckResult =>
  fix === undefined ? { name, status, detail } : { name, status, detail, fix }

export interface RenderStyle {
  /** Symbols (✓ ✗ ! -) instead of words. */
  readonly symbols: boolean
  /** ANSI colour; only ever with `symbols`. */
  readonly colour: boolean
}

/** Symbols on a TTY, colour unless NO_COLOR is set (https://no-color.org). */
export const styleFor = (isTty: boolean, env: NodeJS.ProcessEnv): RenderStyle => ({
  symbols: isTty,
  colour: isTty && (env.NO_COLOR === undefined || env.NO_COLOR === "") && env.TERM !== "dumb"
})

const WORD: Record<CheckStatus, string> = { ok: "ok  ", warn: "warn", fail: "FAIL", skip: "skip" }
const SYMBOL: Record<CheckStatus, string> = { ok: "✓", warn: "!", fail: "✗", skip: "-" }
const COLOUR: Record<CheckStatus, string> = { ok: "32", warn: "33", fail: "31", skip: "2" }

const paint = (style: RenderStyle, code: string, text: string) => (style.colour ? `\x1b[${code}m${text}\x1b[0m` : text)

/** One line for the check, plus an indented "fix:" line when something needs doing. */
export const renderCheck = (result: CheckResult, style: RenderStyle): string => {
  // Details quote config files, registrations and codex's output: escaped, so they stay one line
  // and cannot drive the terminal.
  const [name, detail] = [escapeForTerminal(result.name), escapeForTerminal(result.detail)]
  const mark = paint(style, COLOUR[result.status], style.symbols ? SYMBOL[result.status] : WORD[result.status])
  const line = `${mark} ${style.colour ? paint(style, "1", name) : name}: ${detail}`
  if (result.fix === undefined || result.status === "ok" || result.status === "skip") return line
  const indent = style.symbols ? "  " : "     "
  return `${line}\n${indent}${paint(style, "2", "fix:")} ${escapeForTerminal(result.fix)}`
}

export const failedChecks = (results: ReadonlyArray<CheckResult>): ReadonlyArray<CheckResult> =>
  results.filter((r) => r.status === "fail")

export const summarise = (results: ReadonlyArray<CheckResult>): string => {
  const count = (s: CheckStatus) => results.filter((r) => r.status === s).length
  const parts = [`${count("ok")} ok`, `${count("warn")} warning(s)`, `${count("fail")} failed`]
  if (count("skip") > 0) parts.push(`${count("skip")} skipped`)
  return `${results.length} checks: ${parts.join(", ")}`
}
