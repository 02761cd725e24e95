/**
 * Serves the host's lines with an `RpcRouter` until stdin ends (PROTOCOL.md §1–§2): every request
 * answered exactly once, whatever its handler does (success, RpcFailure, defect or interruption);
 * notifications run and are not answered; answers to our own calls go to the RPC peer; a line that
 * is no message gets -32700 or -32600 and the next line is served.
 */
import { Cause, Effect, FiberSet, Option, Schema, Stream } from "effect"
import { isOverlong, lineText, type Line } from "../core/LineStream.ts"
import { ErrorCode, IncomingCall, IncomingResponse, type RpcId } from "../schemas/JsonRpc.ts"
import { PluginTransport } from "../services/PluginTransport.ts"
import { StdioLines } from "../services/StdioLines.ts"
import type { RequestHandler, RpcRouter } from "./RpcRouter.ts"

/** How long running requests get to finish after stdin ended before they are interrupted. */
const SHUTDOWN_GRACE_MS = 8_000

const decodeCall = Schema.decodeUnknownOption(IncomingCall)
const decodeResponse = Schema.decodeUnknownOption(IncomingResponse)

export const serveRequests = (router: RpcRouter) =>
  Effect.scoped(
    Effect.gen(function* () {
      const stdio = yield* StdioLines
      const peer = yield* PluginTransport
      const running = yield* FiberSet.make<void>()

      // Answers once, whatever happens to the handler (the finaliser runs on interruption too).
      // (onExit without re-raising the handler's result, which nobody reads: fewer steps per request.)
      const answer = (id: RpcId, handler: RequestHandler, params: unknown) =>
        Effect.uninterruptibleMask((restore) =>
          Effect.matchCauseEffect(restore(Effect.suspend(() => handler(params, { id }))), {
            onSuccess: (result) => peer.reply(id, result),
            onFailure: (cause) => {
              const failure = Cause.failureOption(cause)
              if (Option.isSome(failure)) {
                const e = failure.value
                return peer.replyError(id, e.code, e.message, e.data)
              }
              if (Cause.isInterruptedOnly(cause)) {
                return peer.replyError(id, ErrorCode.Internal, "the plugin is shutting down")
              }
              return Effect.zipRight(
                Effect.logError("internal error while handling a request").pipe(Effect.annotateLogs({ cause: Cause.pretty(cause) })),
                peer.replyError(id, ErrorCode.Internal, "internal error: " + String(Cause.squash(cause)))
              )
            }
          }).pipe(
            // An answer that could not be written (a result that is no JSON) is said, not left to
            // fail the request's fiber unseen.
            Effect.catchAllCause((cause) =>
              Effect.logError(`cannot answer request ${String(id)}`).pipe(Effect.annotateLogs({ cause: Cause.pretty(cause) })))
          )
        )

      const handleMessage = (text: string): Effect.Effect<void> => {
        let value: unknown
        try {
          value = JSON.parse(text)
        } catch {
          return peer.replyError(null, ErrorCode.ParseError, "parse error: the line is not valid JSON")
        }
        const call = decodeCall(value)
        if (Option.isSome(call)) {
          const { id, method: name, params } = call.value
          if (id === undefined) {
            const handler = router.notifications.get(name)
            return handler ? FiberSet.run(running, handler(params)).pipe(Effect.asVoid) : Effect.void
          }
          const handler = router.requests.get(name)
          if (!handler) return peer.replyError(id, ErrorCode.MethodNotFound, `method not found: ${name}`)
          if (router.inline.has(name)) return answer(id, handler, params)
          return FiberSet.run(running, answer(id, handler, params)).pipe(Effect.asVoid)
        }
        // Decoded by the presence of `error`: a response's `result` may itself be anything.
        const response = decodeResponse(value)
        if (Option.isSome(response)) return peer.settle(response.value)
        return peer.replyError(validId(value), ErrorCode.InvalidRequest, "invalid request: " + whyInvalid(value))
      }

      const handleLine = (line: Line): Effect.Effect<void> => {
        if (isOverlong(line)) {
          return peer.replyError(null, ErrorCode.InvalidRequest, `invalid request: a line longer than ${line.limit} bytes was dropped`)
        }
        const text = lineText(line)
        return text.trim() === "" ? Effect.void : handleMessage(text)
      }

      yield* Stream.runForEach(stdio.incoming, handleLine)

      // stdin ended: end what we own, answer what still runs, then let the caller exit.
      yield* peer.hostGone
      yield* router.onShutdown
      yield* FiberSet.awaitEmpty(running).pipe(Effect.timeoutOption(SHUTDOWN_GRACE_MS))
      yield* FiberSet.clear(running)
      yield* stdio.flush
    })
  )

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
