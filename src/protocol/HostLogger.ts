/**
 * During `serve`, the one Logger: every `Effect.log*` of every service reaches the host as
 * `host/log` (PROTOCOL.md §3), warnings and errors mirrored to stderr by the transport. Debug and
 * trace stay out of the host's log; annotations travel as `fields`.
 */
import { Effect, HashMap, Layer, Logger, LogLevel, Runtime } from "effect"
import type { LogLevel as HostLevel } from "../schemas/Protocol.ts"
import { PluginTransport } from "../services/PluginTransport.ts"

const hostLevel = (level: LogLevel.LogLevel): HostLevel | undefined => {
  if (LogLevel.greaterThanEqual(level, LogLevel.Error)) return "error"
  if (LogLevel.greaterThanEqual(level, LogLevel.Warning)) return "warn"
  if (LogLevel.greaterThanEqual(level, LogLevel.Info)) return "info"
  return undefined
}

const text = (message: unknown): string =>
  Array.isArray(message) ? message.map((m) => (typeof m === "string" ? m : JSON.stringify(m))).join(" ") : String(message)

export const HostLoggerLive = Layer.unwrapEffect(
  Effect.gen(function* () {
    const transport = yield* PluginTransport
    const runtime = yield* Effect.runtime<never>()
    const logger = Logger.make(({ logLevel, message, annotations, cause }) => {
      const level = hostLevel(logLevel)
      if (level === undefined) return
      const fields: Record<string, unknown> = Object.fromEntries(HashMap.toEntries(annotations))
      if (cause._tag !== "Empty") fields.cause = String(cause)
      // A logger is synchronous; the host write is queued on the transport's writer.
      Runtime.runFork(runtime)(transport.log(level, text(message), Object.keys(fields).length > 0 ? fields : undefined))
    })
    return Logger.replace(Logger.defaultLogger, logger)
  })
)

