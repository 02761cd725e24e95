/**
 * The RPC peer (PROTOCOL.md §1–§3) on the stdio lines: encodes what the plugin sends, and keeps
 * the plugin→host calls in flight in one Ref, each answered exactly once (by the host, or by
 * `hostGone` when stdin ends).
 */
import { Deferred, Effect, HashMap, Layer, Option, Ref } from "effect"
import type { IncomingResponse } from "../schemas/JsonRpc.ts"
import { HostCallError, PluginTransport, type PluginTransportShape } from "../services/PluginTransport.ts"
import { jsonLine, StdioLines } from "../services/StdioLines.ts"

interface InFlight {
  readonly method: string
  readonly answer: Deferred.Deferred<unknown, HostCallError>
}

/** Calls waiting for the host; `open` is false once stdin has ended. */
interface Calls {
  readonly open: boolean
  readonly lastId: number
  readonly pending: HashMap.HashMap<string, InFlight>
}

const hostClosed = (method: string) => new HostCallError({ method, message: "the host closed the connection" })

export const makePluginTransport = Effect.gen(function* () {
  const lines = yield* StdioLines
  const calls = yield* Ref.make<Calls>({ open: true, lastId: 0, pending: HashMap.empty() })

  const send = (message: unknown) => lines.write(jsonLine(message))
  const notify: PluginTransportShape["notify"] = (method, params) => send({ jsonrpc: "2.0", method, params })

  const notifyTurnEvents: PluginTransportShape["notifyTurnEvents"] = (turnId, firstSeq, events) => {
    if (events.length === 0) return Effect.void
    const head = `{"jsonrpc":"2.0","method":"provider/event","params":{"turnId":${JSON.stringify(turnId)},"seq":`
    // Each line is encoded into one Buffer sized for them all, not joined into one string first:
    // a joined string is a rope that must be flattened (and turns two-byte as a whole when one
    // event holds a character above U+00FF), which cost twice as much (docs/benchmarks.md).
    const encoded = new Array<string>(events.length)
    let bytes = 0
    for (let i = 0; i < events.length; i++) {
      const line = `${head}${firstSeq + i},"event":${JSON.stringify(events[i])}}}\n`
      encoded[i] = line
      bytes += Buffer.byteLength(line)
    }
    const batch = Buffer.allocUnsafe(bytes)
    let offset = 0
    for (const line of encoded) offset += batch.write(line, offset)
    return lines.write(batch)
  }

  /** The call's id, or none once the host has gone. */
  const register = (call: InFlight) =>
    Ref.modify(calls, (c): [Option.Option<string>, Calls] => {
      if (!c.open) return [Option.none(), c]
      const id = `plugin-${c.lastId + 1}`
      return [Option.some(id), { ...c, lastId: c.lastId + 1, pending: HashMap.set(c.pending, id, call) }]
    })
  /** Takes the call out: whoever takes it answers it, so it is answered once. */
  const take = (id: string) =>
    Ref.modify(calls, (c): [Option.Option<InFlight>, Calls] => {
      const call = HashMap.get(c.pending, id)
      return [call, Option.isSome(call) ? { ...c, pending: HashMap.remove(c.pending, id) } : c]
    })

  const request: PluginTransportShape["request"] = (method, params) =>
    Effect.flatMap(Deferred.make<unknown, HostCallError>(), (answer) =>
      Effect.acquireUseRelease(
        register({ method, answer }),
        (id) =>
          Option.match(id, {
            onNone: () => Effect.fail(hostClosed(method)),
            onSome: (id) => Effect.zipRight(send({ jsonrpc: "2.0", id, method, params }), Deferred.await(answer))
          }),
        // An interrupted caller leaves nothing behind.
        (id) => Option.match(id, { onNone: () => Effect.void, onSome: take })
      )
    )

  const settle = (response: IncomingResponse) =>
    response.id === null
      ? Effect.void
      : Effect.flatMap(take(String(response.id)), (call) =>
        Option.match(call, {
          onNone: () => Effect.void,
          onSome: ({ method, answer }) =>
            "error" in response
              ? Deferred.fail(
                answer,
                new HostCallError({
                  method,
                  code: response.error.code,
                  message: response.error.message,
                  ...(response.error.data === undefined ? {} : { data: response.error.data })
                })
              )
              : Deferred.succeed(answer, response.result)
        })
      )

  const hostGone = Effect.flatMap(
    Ref.modify(calls, (c): [ReadonlyArray<InFlight>, Calls] => [Array.from(HashMap.values(c.pending)), { ...c, open: false, pending: HashMap.empty() }]),
    (gone) => Effect.forEach(gone, ({ method, answer }) => Deferred.fail(answer, hostClosed(method)), { discard: true })
  )

  return {
    notify,
    notifyTurnEvents,
    request,
    reply: (id, result) => send({ jsonrpc: "2.0", id, result: result ?? null }),
    replyError: (id, code, message, data) =>
      send({ jsonrpc: "2.0", id, error: data === undefined ? { code, message } : { code, message, data } }),
    settle,
    hostGone
  } satisfies PluginTransportShape
})

/** The RPC peer; needs StdioLines (src/layers/StdioLinesLive.ts). */
export const PluginTransportLive = Layer.effect(PluginTransport, makePluginTransport)
