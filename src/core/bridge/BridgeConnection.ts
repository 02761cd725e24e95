/**
 * One peer of the bridge, served by one fiber (PROTOCOL.md §7): its socket's lines read as a
 * stream (src/core/LineStream.ts), a `hello` first, then `list` answered in order and `call`s run
 * side by side, each answered exactly once: with the host's result, or with an `isError` result on
 * a defect or the end of the turn. The fiber owns the socket: when it ends or is interrupted (the
 * turn's end) its running calls are answered first, then the socket is ended and destroyed.
 *
 * A peer not let in yet costs little (docs/security.md "The bridge"): its hello must fit in
 * HELLO_MAX_BYTES and come within HELLO_TIMEOUT_MS, its socket is not read while its process is
 * being checked, and at most MAX_WAITING_PEERS such connections are held at once.
 */
import { Cause, Chunk, Effect, FiberSet, Option, Ref, Schema, Stream } from "effect"
import type * as Net from "node:net"
import { isOverlong, type Line, lineText, type ReadFailed, readableLines } from "../LineStream.ts"
import { BRIDGE_WIRE_VERSION, MAX_BRIDGE_LINE_CHARS } from "../../schemas/BridgeEnv.ts"
import { type CallRequest, type ExposedToolSpec, type Hello, PeerMessage, type PluginMessage } from "../../schemas/BridgeWire.ts"
import type { ToolResult } from "../../schemas/Protocol.ts"
import { execFileOutput, type PeerAncestry, peerAncestry, type RunCommand } from "./PeerProcess.ts"
import { tokenMatches } from "./TurnToken.ts"

/** A hello is a few hundred bytes; more before it is not a peer worth reading for. */
const HELLO_MAX_BYTES = 64 * 1024
/** mcp-host says hello as it connects; a connection silent this long is dropped. */
const HELLO_TIMEOUT_MS = 10_000
/** Connections not let in yet (no hello, or their process being checked) held at once; more are dropped. */
const MAX_WAITING_PEERS = 32
/** How long a connection gets to flush its last answers when it ends. */
const CLOSE_GRACE_MS = 1_000

/** What every connection of one turn's listener shares. */
export interface BridgeTurn {
  readonly agentId: string
  readonly turnId: string
  readonly turnToken?: string
  readonly socketPath: string
  readonly tools: ReadonlyArray<ExposedToolSpec>
  /** Exposed (codex-facing) name → the host's own name. */
  readonly hostName: ReadonlyMap<string, string>
  readonly callTool: (name: string, args: Record<string, unknown>) => Effect.Effect<ToolResult>
  readonly expectedAncestorPid?: () => number | undefined
  /** Connections of this listener not let in yet. */
  readonly waitingPeers: Ref.Ref<number>
  /** How the peer check runs `ss` (src/core/bridge/PeerProcess.ts); `execFile` when not given. */
  readonly runCommand?: Effect.Effect<RunCommand>
}

const errorResult = (text: string): ToolResult => ({ content: [{ type: "text", text }], isError: true })

const NOT_THIS_TURN = "this connection does not come from the running turn's codex"
/** What a peer's call gets when its process could not be told (and the check is on). */
const unverifiedCall = (tool: string, reason: string) =>
  `the plugin refused host tool ${tool}: it cannot tell which process asked (${reason}), and it serves only processes of the running turn's codex. ` +
  `Where that cannot be checked (no /proc, no \`ss\`), the operator can set "bridge_peer_check": false in the plugin's config.json (docs/security.md)`

const decodePeer = Schema.decodeUnknown(Schema.parseJson(PeerMessage))

/** Never throws: a message that cannot be serialised (a hostile value) ends that connection only. */
const write = (socket: Net.Socket, message: PluginMessage) =>
  Effect.sync(() => {
    if (!socket.writable) return
    let line: string
    try {
      line = `${JSON.stringify(message)}\n`
    } catch {
      socket.destroy()
      return
    }
    socket.write(line)
  })

/**
 * Ends the socket (flushing what was written), and destroys it if the peer does not close in time.
 * What the peer sent that was not read is let flow away: the socket closes only once its input ended.
 */
const hangUp = (socket: Net.Socket) =>
  Effect.async<void>((resume) => {
    if (socket.destroyed) return resume(Effect.void)
    socket.once("close", () => resume(Effect.void))
    socket.end()
    socket.resume()
  }).pipe(
    // Runs as a finalizer: the wait must stay interruptible for the timeout to end it.
    Effect.interruptible,
    Effect.timeout(CLOSE_GRACE_MS),
    Effect.ignore,
    Effect.ensuring(Effect.sync(() => socket.destroy()))
  )

/** How a connection came out of its hello: let in (its process perhaps not told), or refused. */
type Admission =
  | { readonly _tag: "LetIn"; readonly unverified: string | undefined }
  | { readonly _tag: "Refused"; readonly message: string | undefined }

const letIn = (unverified?: string): Admission => ({ _tag: "LetIn", unverified })
/** `message` undefined: the peer is gone, there is no one to tell. */
const refused = (message?: string): Admission => ({ _tag: "Refused", message })

const tooLong = (limit: number) => `a bridge line is longer than ${limit} bytes`

/** Serves one accepted socket until the peer hangs up, is refused, or the fiber is interrupted. */
export const serveConnection = (socket: Net.Socket, turn: BridgeTurn): Effect.Effect<void> =>
  Effect.scoped(
    Effect.gen(function* () {
      // Acquired first, released last: the answers below are written before the socket ends.
      yield* Effect.acquireRelease(
        // Nothing on a socket may throw past it: a bad peer costs its connection, never the plugin.
        Effect.sync(() => socket.on("error", () => socket.destroy())),
        () => hangUp(socket)
      )
      const send = (message: PluginMessage) => write(socket, message)
      const warn = (message: string, reason?: string) =>
        Effect.logWarning(message).pipe(
          Effect.annotateLogs({ agentId: turn.agentId, turnId: turn.turnId, ...(reason === undefined ? {} : { reason }) })
        )

      // One line per pull: what a pull has not asked for stays in the socket (nothing is read
      // while the peer's process is checked).
      const pull = yield* Stream.toPull(
        Stream.rechunk(readableLines(socket, { maxLineBytes: MAX_BRIDGE_LINE_CHARS, firstLineMaxBytes: HELLO_MAX_BYTES }, { closeOnDone: false }), 1)
      )
      /** The next line; none at the end of input (a read error ends it too: the socket is gone). */
      const pullLine: Effect.Effect<Option.Option<Line>, Option.Option<ReadFailed>> = Effect.flatMap(pull, (chunk) =>
        Chunk.isEmpty(chunk) ? pullLine : Effect.succeed(Chunk.head(chunk))
      )
      const nextLine = Effect.catchAll(pullLine, () => Effect.succeed(Option.none<Line>()))

      /** Lines up to the first message read; an unreadable line is answered and skipped. */
      const nextMessage: Effect.Effect<Option.Option<PeerMessage> | { readonly overlong: number }> = Effect.flatMap(
        nextLine,
        Option.match({
          onNone: () => Effect.succeed(Option.none()),
          onSome: (line) =>
            isOverlong(line)
              ? Effect.succeed({ overlong: line.limit })
              : decodePeer(lineText(line)).pipe(
                  Effect.map(Option.some),
                  Effect.catchAll((e) =>
                    Effect.zipRight(send({ type: "error", message: `unreadable bridge message: ${e.message}` }), nextMessage)
                  )
                )
        })
      )

      const checkHello = (message: PeerMessage): Admission | undefined => {
        if (message.type !== "hello" || !("agentId" in message)) return refused("say hello first")
        const hello = message as Hello
        if (hello.version !== BRIDGE_WIRE_VERSION) {
          return refused(`bridge version ${hello.version} is not supported (want ${BRIDGE_WIRE_VERSION})`)
        }
        if (hello.agentId !== turn.agentId) return refused("this socket serves another agent")
        if (turn.turnToken !== undefined && !tokenMatches(turn.turnToken, hello.token)) return refused(NOT_THIS_TURN)
        return undefined
      }

      /** The peer's process against the turn's codex; what cannot be told is `unknown`. */
      const ancestry = (expected: () => number | undefined): Effect.Effect<PeerAncestry> =>
        Effect.suspend(() => {
          const ancestor = expected()
          if (ancestor === undefined) return Effect.succeed({ kind: "unknown", reason: "the turn's codex has no process id yet" } as const)
          return Effect.flatMap(turn.runCommand ?? Effect.succeed(execFileOutput), (run) => Effect.tryPromise(() => peerAncestry(socket, ancestor, turn.socketPath, run))).pipe(
            Effect.catchAll((e) => Effect.succeed({ kind: "unknown", reason: String(e.error) } as const))
          )
        })

      const admit: Effect.Effect<Admission> = Effect.gen(function* () {
        const message = yield* nextMessage.pipe(
          Effect.timeoutTo({
            duration: HELLO_TIMEOUT_MS,
            onSuccess: (m) => m,
            onTimeout: () => ({ timedOut: true }) as const
          })
        )
        if ("timedOut" in message) return refused(`no hello within ${HELLO_TIMEOUT_MS} ms`)
        if ("overlong" in message) return refused(tooLong(message.overlong))
        if (Option.isNone(message)) return refused()
        const wrong = checkHello(message.value)
        if (wrong !== undefined) return wrong
        if (turn.expectedAncestorPid === undefined) return letIn()
        const peer = yield* ancestry(turn.expectedAncestorPid)
        if (peer.kind === "foreign") {
          yield* warn(`refused a bridge connection for agent ${turn.agentId}: it presented the turn's token but does not come from the turn's codex`)
          return refused(NOT_THIS_TURN)
        }
        return letIn(peer.kind === "unknown" ? peer.reason : undefined)
      })

      // Counted until the peer is let in (or gone): what has not said a valid hello yet is bounded.
      const admission = yield* Effect.scoped(
        Effect.gen(function* () {
          const waiting = yield* Effect.acquireRelease(
            Ref.modify(turn.waitingPeers, (n) => (n >= MAX_WAITING_PEERS ? [false, n] : [true, n + 1])),
            (taken) => (taken ? Ref.update(turn.waitingPeers, (n) => n - 1) : Effect.void)
          )
          if (!waiting) return refused(`too many connections are waiting to be let in (${MAX_WAITING_PEERS})`)
          return yield* admit
        })
      )
      if (admission._tag === "Refused") {
        if (admission.message !== undefined) yield* send({ type: "refused", message: admission.message })
        return
      }
      yield* send({ type: "welcome", turnId: turn.turnId })
      const { unverified } = admission

      // Created after the socket: closed before it, so every running call answers first.
      const calls = yield* FiberSet.make<void>()
      const answer = (request: CallRequest) => {
        const reply = (result: ToolResult) => send({ type: "result", id: request.id, result })
        if (unverified !== undefined) {
          // Fails closed: a call from a process that cannot be told apart is not run.
          return Effect.zipRight(
            warn(`refused host tool call ${request.name} of agent ${turn.agentId}: cannot tell which process asked`, unverified),
            reply(errorResult(unverifiedCall(request.name, unverified)))
          )
        }
        const hostName = turn.hostName.get(request.name)
        if (hostName === undefined) return reply(errorResult(`unknown tool: ${request.name}`))
        // Forked uninterruptible, so even a call interrupted before it starts is answered; only
        // the host call itself is interruptible.
        return Effect.uninterruptibleMask((restore) =>
          FiberSet.run(
            calls,
            restore(turn.callTool(hostName, request.arguments ?? {})).pipe(
              Effect.catchAllCause((cause) =>
                Effect.succeed(
                  Cause.isInterruptedOnly(cause)
                    ? errorResult(`the turn ended before tool ${hostName} finished`)
                    : errorResult(`tool ${hostName} failed: ${Cause.pretty(cause).split("\n")[0]}`)
                )
              ),
              Effect.flatMap(reply)
            )
          )
        )
      }

      const onMessage = (message: PeerMessage): Effect.Effect<unknown> => {
        if (message.type === "list" && "id" in message && message.id !== undefined) {
          return send({ type: "tools", id: message.id, tools: turn.tools })
        }
        if (message.type === "call" && "name" in message) return answer(message)
        return send({
          type: "error",
          ...("id" in message && message.id !== undefined ? { id: message.id } : {}),
          message: `unexpected bridge message: ${message.type}`
        })
      }

      // Messages in order until the peer hangs up or sends a line past the limit.
      const serveMessages: Effect.Effect<void> = Effect.flatMap(nextMessage, (next) => {
        if ("overlong" in next) return send({ type: "refused", message: tooLong(next.overlong) })
        if (Option.isNone(next)) return Effect.void
        return Effect.zipRight(onMessage(next.value), serveMessages)
      })
      yield* serveMessages
      // A peer that hung up gets no answers, but the host calls it asked for still run to their end.
      yield* FiberSet.awaitEmpty(calls)
    })
  )
