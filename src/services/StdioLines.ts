/**
 * The plugin's stdin and stdout as lines (PROTOCOL.md §1): what the host wrote, read as it is
 * handled, and one ordered outbox that is the only way to stdout. Knows bytes and lines, not
 * JSON-RPC: the RPC peer (PluginTransport) and the dispatcher (src/protocol/RpcDispatcher.ts)
 * sit on it, and the host logger (src/protocol/HostLogger.ts) writes into the same outbox.
 */
import { Context } from "effect"
import type { Effect, Stream } from "effect"
import type { Line } from "../core/LineStream.ts"

export interface StdioLinesShape {
  /**
   * The host's lines, pulled: a line is read when the previous one has been handled, so a host
   * that writes faster waits on the pipe. Ends when stdin ends. Read it once.
   */
  readonly incoming: Stream.Stream<Line>
  /** Queues whole lines for stdout; waits while the outbox is full (the host reads slower than we write). */
  readonly write: (lines: Buffer) => Effect.Effect<void>
  /**
   * Queues whole lines now, in order with `write`, without waiting for room: for the logger, which
   * is synchronous. Not counted against the outbox's bound; logs are few.
   */
  readonly unsafeWriteNow: (lines: Buffer) => void
  /** One line to stderr, never stdout. */
  readonly unsafeStderr: (line: string) => void
  /** Completes once everything queued before it has been written. */
  readonly flush: Effect.Effect<void>
}

export class StdioLines extends Context.Tag("StdioLines")<StdioLines, StdioLinesShape>() {}

/** A JSON-RPC message as one stdout line. */
export const jsonLine = (message: unknown): Buffer => Buffer.from(JSON.stringify(message) + "\n")
