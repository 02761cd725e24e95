/**
 * During `serve`, the one Logger: every `Effect.log*` of every service reaches the host as
 * `host/log` (PROTOCOL.md §3), warnings and errors mirrored to stderr. Debug and trace stay out of
 * the host's log; annotations travel as `fields`. The line goes into stdout's outbox as the log
 * call runs, so it keeps its place among the `provider/event`s written before and after it.
 */
import { Effect, FiberRef, HashMap, HashSet, Layer, Logger, LogLevel } from "effect"
import { escapeForTerminal, escapeStringsDeep } from "../core/TerminalText.ts"
import type { LogLevel as HostLevel } from "../schemas/Protocol.ts"
import { jsonLine, StdioLines, type StdioLinesShape } from "../services/StdioLines.ts"

const hostLevel = (level: LogLevel.LogLevel): HostLevel | undefined => {
  if (LogLevel.greaterThanEqual(level, LogLevel.Error)) return "error"
  if (LogLevel.greaterThanEqual(level, LogLevel.Warning)) return "warn"
  if (LogLevel.greaterThanEqual(level, LogLevel.Info)) return "info"
  return undefined
}

const text = (message: unknown): string =>
  Array.isArray(message) ? message.map((m) => (typeof m === "string" ? m : JSON.stringify(m))).join(" ") : String(message)

export const makeHostLogger = (stdio: StdioLinesShape) =>
  Logger.make(({ logLevel, message, annotations, cause }) => {
    const level = hostLevel(logLevel)
    if (level === undefined) return
    const raw: Record<string, unknown> = Object.fromEntries(HashMap.toEntries(annotations))
    if (cause._tag !== "Empty") raw.cause = String(cause)
    // Host text reaches a terminal through stderr and the host's log view: control characters escaped.
    const escaped = escapeForTerminal(text(message))
    const fields = Object.keys(raw).length > 0 ? (escapeStringsDeep(raw) as Record<string, unknown>) : undefined
    if (level === "warn" || level === "error") {
      stdio.unsafeStderr(`plexum-openai-provider ${level}: ${escaped}${fields ? " " + JSON.stringify(fields) : ""}`)
    }
    // A logger is synchronous: the line is queued now, in order, without waiting for room.
    stdio.unsafeWriteNow(
      jsonLine({ jsonrpc: "2.0", method: "host/log", params: fields === undefined ? { level, message: escaped } : { level, message: escaped, fields } })
    )
  })

/** The only logger while serving: the command line's stderr logger (src/Main.ts) goes, or every warn would print twice. */
export const HostLoggerLive = Layer.unwrapEffect(
  Effect.map(StdioLines, (stdio) => Layer.locallyScoped(FiberRef.currentLoggers, HashSet.make<Array<Logger.Logger<unknown, any>>>(makeHostLogger(stdio))))
)
