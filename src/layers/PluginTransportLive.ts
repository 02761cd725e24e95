/**
 * JSON-RPC over newline-delimited stdin/stdout. One writer fiber owns stdout so
 * lines never interleave; every request is answered exactly once, whatever
 * its handler does (success, RpcFailure, defect or interruption).
 */
import { Cause, Deferred, Effect, Exit, FiberSet, Layer, Option, Queue, Schema } from "effect"
import type { Readable, Writable } from "node:stream"
import type { RequestHandler, RpcRouter } from "../protocol/RpcRouter.ts"
import { escapeForTerminal, escapeStringsDeep } from "../core/TerminalText.ts"
import { ErrorCode, IncomingCall, IncomingResponse, type RpcId } from "../schemas/JsonRpc.ts"
import type { LogLevel } from "../schemas/Protocol.ts"
import { HostCallError, PluginTransport, type PluginTransportShape } from "../services/PluginTransport.ts"

export interface StdioStreams {
  readonly input: Readable
  readonly output: Writable
  readonly stderr: Writable
}

/** How long running requests get to finish after stdin ended before they are interrupted. */
const SHUTDOWN_GRACE_MS = 8_000
/** Pending stdout writes (each a line or a batch of event lines), also the most joined into one write. */
const OUTBOX_CAPACITY = 16
/** A line longer than this is refused rather than buffered without bound. */
const MAX_LINE_BYTES = 256 * 1024 * 1024

const decodeCall = Schema.decodeUnknownOption(IncomingCall)
const decodeResponse = Schema.decodeUnknownOption(IncomingResponse)

/**
 * Lines wait as bytes: a Buffer's contents live outside V8's heap, so a batch waiting for a slow
 * host costs the garbage collector nothing and its strings die young.
 */
type Outgoing = Buffer | Deferred.Deferred<void>

export const makePluginTransport = (io: StdioStreams) =>
  Effect.gen(function* () {
    // Bounded: when the host reads slower than codex writes, offering waits, the codex stream
    // stops pulling, and the pipe pushes back on codex; memory stays flat instead of queueing a turn.
    const outbox = yield* Queue.bounded<Outgoing>(OUTBOX_CAPACITY)
    let stdoutOpen = true
    io.output.on("error", () => {
      stdoutOpen = false
    })

    // The only code that writes to stdout: one write call per batch, each Buffer as it is (no copy
    // into one big Buffer); corked, so the stream hands them to the pipe together.
    const writeLines = (lines: ReadonlyArray<Buffer>) =>
      Effect.async<void>((resume) => {
        if (!stdoutOpen) return resume(Effect.void)
        io.output.cork()
        for (let i = 0; i < lines.length - 1; i++) io.output.write(lines[i]!)
        io.output.write(lines[lines.length - 1]!, (err) => {
          if (err) stdoutOpen = false
          resume(Effect.void)
        })
        io.output.uncork()
      })
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.gen(function* () {
          const batch = yield* Queue.takeBetween(outbox, 1, OUTBOX_CAPACITY)
          let lines: Array<Buffer> = []
          for (const item of batch) {
            if (Buffer.isBuffer(item)) {
              lines.push(item)
              continue
            }
            if (lines.length > 0) yield* writeLines(lines)
            lines = []
            yield* Deferred.succeed(item, undefined)
          }
          if (lines.length > 0) yield* writeLines(lines)
        })
      )
    )
    const send = (message: unknown) => Queue.offer(outbox, Buffer.from(JSON.stringify(message) + "\n"))
    const flush = Effect.gen(function* () {
      const done = yield* Deferred.make<void>()
      yield* Queue.offer(outbox, done)
      yield* Deferred.await(done)
    })
    const sendError = (id: RpcId | null, code: number, message: string, data?: unknown) =>
      send({ jsonrpc: "2.0", id, error: data === undefined ? { code, message } : { code, message, data } })

    const stderrLine = (line: string) => Effect.sync(() => void io.stderr.write(line + "\n"))

    const notify = (method: string, params: unknown) => send({ jsonrpc: "2.0", method, params })
    const notifyTurnEvents = (turnId: string, firstSeq: number, events: ReadonlyArray<unknown>) => {
      if (events.length === 0) return Effect.void
      const head = `{"jsonrpc":"2.0","method":"provider/event","params":{"turnId":${JSON.stringify(turnId)},"seq":`
      // Each line is encoded into one Buffer sized for them all, not joined into one string first:
      // a joined string is a rope that must be flattened (and turns two-byte as a whole when one
      // event holds a character above U+00FF), which cost twice as much (docs/benchmarks.md).
      const lines = new Array<string>(events.length)
      let bytes = 0
      for (let i = 0; i < events.length; i++) {
        const line = `${head}${firstSeq + i},"event":${JSON.stringify(events[i])}}}\n`
        lines[i] = line
        bytes += Buffer.byteLength(line)
      }
      const batch = Buffer.allocUnsafe(bytes)
      let offset = 0
      for (const line of lines) offset += batch.write(line, offset)
      return Queue.offer(outbox, batch)
    }

    const log: PluginTransportShape["log"] = (level: LogLevel, rawMessage, rawFields) => {
      const message = escapeForTerminal(rawMessage)
      const fields = rawFields === undefined ? undefined : (escapeStringsDeep(rawFields) as Record<string, unknown>)
      return Effect.zipRight(
        level === "warn" || level === "error"
          ? stderrLine(`plexum-openai-provider ${level}: ${message}${fields ? " " + JSON.stringify(fields) : ""}`)
          : Effect.void,
        notify("host/log", fields === undefined ? { level, message } : { level, message, fields })
      )
    }

    // Plugin → host requests waiting for their answer.
    const pending = new Map<string, Deferred.Deferred<unknown, HostCallError>>()
    let nextId = 0
    let hostGone = false
    const request: PluginTransportShape["request"] = (method, params) =>
      Effect.gen(function* () {
        if (hostGone) return yield* new HostCallError({ method, message: "the host closed the connection" })
        const id = `plugin-${++nextId}`
        const answer = yield* Deferred.make<unknown, HostCallError>()
        pending.set(id, answer)
        yield* send({ jsonrpc: "2.0", id, method, params })
        return yield* Deferred.await(answer).pipe(
          Effect.mapError((e) =>
            new HostCallError({
              method,
              message: e.message,
              ...(e.code === undefined ? {} : { code: e.code }),
              ...(e.data === undefined ? {} : { data: e.data })
            })
          ),
          Effect.ensuring(Effect.sync(() => pending.delete(id)))
        )
      })

    const settleResponse = (response: IncomingResponse) => {
      const answer = response.id === null ? undefined : pending.get(String(response.id))
      if (!answer) return Effect.void
      return "error" in response
        ? Deferred.fail(
            answer,
            new HostCallError({
              method: "",
              code: response.error.code,
              message: response.error.message,
              data: response.error.data
            })
          )
        : Deferred.succeed(answer, response.result)
    }

    const serve = (router: RpcRouter) =>
      Effect.scoped(
        Effect.gen(function* () {
          const running = yield* FiberSet.make<void>()
          const shuttingDown = { value: false }

          // Answers once, whatever happens to the handler (the finaliser runs on interruption too).
          const answer = (id: RpcId, handler: RequestHandler, params: unknown) =>
            Effect.suspend(() => handler(params, { id })).pipe(
              Effect.onExit((exit) => {
                if (Exit.isSuccess(exit)) return send({ jsonrpc: "2.0", id, result: exit.value ?? null })
                const failure = Cause.failureOption(exit.cause)
                if (Option.isSome(failure)) {
                  const e = failure.value
                  return sendError(id, e.code, e.message, e.data)
                }
                if (Cause.isInterruptedOnly(exit.cause)) {
                  return sendError(id, ErrorCode.Internal, "the plugin is shutting down")
                }
                return Effect.zipRight(
                  log("error", "internal error while handling a request", { cause: Cause.pretty(exit.cause) }),
                  sendError(id, ErrorCode.Internal, "internal error: " + String(Cause.squash(exit.cause)))
                )
              }),
              Effect.asVoid,
              Effect.catchAllCause(() => Effect.void)
            )

          const handleLine = (line: string): Effect.Effect<void> => {
            if (line.trim() === "") return Effect.void
            let value: unknown
            try {
              value = JSON.parse(line)
            } catch {
              return sendError(null, ErrorCode.ParseError, "parse error: the line is not valid JSON")
            }
            const call = decodeCall(value)
            if (Option.isSome(call)) {
              const { id, method: name, params } = call.value
              if (id === undefined) {
                const handler = router.notifications.get(name)
                return handler ? FiberSet.run(running, handler(params)).pipe(Effect.asVoid) : Effect.void
              }
              const handler = router.requests.get(name)
              if (!handler) return sendError(id, ErrorCode.MethodNotFound, `method not found: ${name}`)
              if (shuttingDown.value) return sendError(id, ErrorCode.Internal, "the plugin is shutting down")
              if (router.inline.has(name)) return answer(id, handler, params)
              return FiberSet.run(running, answer(id, handler, params)).pipe(Effect.asVoid)
            }
            // Decoded by the presence of `error`: a response's `result` may itself be anything.
            const response = decodeResponse(value)
            if (Option.isSome(response)) return settleResponse(response.value)
            const id = validId(value)
            return sendError(id, ErrorCode.InvalidRequest, "invalid request: " + whyInvalid(value))
          }

          const lines = yield* Queue.unbounded<string | typeof TOO_LONG | null>()
          yield* readLines(io.input, (line) => Queue.unsafeOffer(lines, line), () => Queue.unsafeOffer(lines, null))
          while (true) {
            const line = yield* Queue.take(lines)
            if (line === null) break
            yield* line === TOO_LONG
              ? sendError(null, ErrorCode.InvalidRequest, `invalid request: a line longer than ${MAX_LINE_BYTES} bytes was dropped`)
              : handleLine(line)
          }

          // stdin ended: end what we own, answer what still runs, then let the caller exit.
          shuttingDown.value = true
          hostGone = true
          for (const answer of pending.values()) {
            yield* Deferred.fail(answer, new HostCallError({ method: "", message: "the host closed the connection" }))
          }
          yield* router.onShutdown
          yield* FiberSet.awaitEmpty(running).pipe(Effect.timeoutOption(SHUTDOWN_GRACE_MS))
          yield* FiberSet.clear(running)
          yield* flush
        })
      )

    return { notify, notifyTurnEvents, request, log, serve } satisfies PluginTransportShape
  })

/** Splits `input` into UTF-8 lines without assuming chunk boundaries fall on characters or lines. */
/** Stands for a line that was too long to hold; it is dropped, and answered once. */
const TOO_LONG = Symbol("line too long")

const readLines = (input: Readable, onLine: (line: string | typeof TOO_LONG) => void, onEnd: () => void) =>
  Effect.sync(() => {
    let parts: Array<Buffer> = []
    let size = 0
    let skipping = false
    const emit = (buf: Buffer) => onLine(buf.toString("utf8"))
    input.on("data", (chunk: Buffer) => {
      let start = 0
      let nl = chunk.indexOf(0x0a, start)
      while (nl !== -1) {
        if (skipping) {
          skipping = false
        } else if (parts.length === 0) {
          emit(chunk.subarray(start, nl))
        } else {
          parts.push(chunk.subarray(start, nl))
          emit(Buffer.concat(parts))
        }
        parts = []
        size = 0
        start = nl + 1
        nl = chunk.indexOf(0x0a, start)
      }
      if (start < chunk.length && !skipping) {
        parts.push(chunk.subarray(start))
        size += chunk.length - start
        if (size > MAX_LINE_BYTES) {
          // Too long to hold: drop the rest of it and say so once.
          parts = []
          size = 0
          skipping = true
          onLine(TOO_LONG)
        }
      }
    })
    let ended = false
    const end = () => {
      if (ended) return
      ended = true
      if (parts.length > 0 && !skipping) emit(Buffer.concat(parts))
      onEnd()
    }
    input.on("end", end)
    input.on("close", end)
    input.on("error", end)
    input.resume()
  })

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)

const validId = (value: unknown): RpcId | null => {
  if (!isRecord(value)) return null
  const id = value.id
  return typeof id === "string" || (typeof id === "number" && Number.isFinite(id)) ? id : null
}

const whyInvalid = (value: unknown): string => {
  if (!isRecord(value)) return "a request must be a JSON object"
  if (value.jsonrpc !== "2.0") return 'jsonrpc must be "2.0"'
  if (typeof value.method !== "string") return "method must be a string"
  if ("id" in value && validId(value) === null) return "id must be a string or a number"
  return "params must be an object or an array"
}

export const PluginTransportLive = Layer.scoped(
  PluginTransport,
  makePluginTransport({ input: process.stdin, output: process.stdout, stderr: process.stderr })
)
