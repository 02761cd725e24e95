/**
 * ToolBridge on a unix socket. Every peer must say `hello` with this agent's id;
 * `list` answers the turn's tools under their exposed names, `call` maps the name
 * back and runs the host call. Every call is answered exactly once: with the
 * host's result, or with an `isError` result on a defect, a timeout or the end of
 * the turn.
 *
 * A peer that has not been let in yet costs little: its hello must fit in MAX_HELLO_CHARS and come
 * within HELLO_TIMEOUT_MS, its socket is not read while its process is being checked, and at most
 * MAX_WAITING_PEERS such connections are held at once (docs/security.md "The bridge").
 */
import { Cause, Effect, Either, FiberSet, Layer, Schema } from "effect"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"
import { peerAncestry } from "../core/bridge/PeerProcess.ts"
import { ensurePrivateDir, makeTempSocketDir, removeDirIfEmpty, socketDirFor, socketFileName } from "../core/bridge/SocketPath.ts"
import { tokenMatches } from "../core/bridge/TurnToken.ts"
import { exposeToolNames } from "../core/bridge/ToolNames.ts"
import { BRIDGE_WIRE_VERSION } from "../schemas/BridgeEnv.ts"
import { makeLineFramer } from "../mcphost/LineFramer.ts"
import {
  type CallRequest,
  type ExposedToolSpec,
  PeerMessage,
  type PluginMessage
} from "../schemas/BridgeWire.ts"
import type { ToolResult, ToolSpec } from "../schemas/Protocol.ts"
import { BridgeError, ToolBridge, type ToolBridgeShape, type ServeOptions } from "../services/ToolBridge.ts"
import { PluginPaths } from "../services/PluginPaths.ts"

/** How long the connections get to flush their last answers when the turn ends. */
const CLOSE_GRACE_MS = 1_000
/** A hello is a few hundred characters; more before it is not a peer worth buffering for. */
const MAX_HELLO_CHARS = 64 * 1024
/** mcp-host says hello as it connects; a connection silent this long is dropped. */
const HELLO_TIMEOUT_MS = 10_000
/** Connections not let in yet (no hello, or their process being checked) held at once; more are dropped. */
const MAX_WAITING_PEERS = 32

const decodePeer = Schema.decodeUnknownEither(Schema.parseJson(PeerMessage))

const NOT_THIS_TURN = "this connection does not come from the running turn's codex"
/** What a peer's call gets when its process could not be told (and the check is on). */
const unverifiedCall = (tool: string, reason: string) =>
  `the plugin refused host tool ${tool}: it cannot tell which process asked (${reason}), and it serves only processes of the running turn's codex. ` +
  `Where that cannot be checked (no /proc, no \`ss\`), the operator can set "bridge_peer_check": false in the plugin's config.json (docs/security.md)`

export const errorResult = (text: string): ToolResult => ({ content: [{ type: "text", text }], isError: true })

/** MCP requires an object schema; a host schema without a `type` gets one. */
const objectSchema = (schema: Record<string, unknown>): Record<string, unknown> =>
  schema.type === undefined ? { type: "object", ...schema } : schema

/** Whether something accepts connections at `path` (a live plugin), or the file is a leftover. */
const isLive = (path: string) =>
  new Promise<boolean>((resolve) => {
    const probe = Net.connect(path)
    probe.once("connect", () => {
      probe.destroy()
      resolve(true)
    })
    probe.once("error", () => resolve(false))
  })

const listen = (server: Net.Server, path: string) =>
  new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => reject(e)
    server.once("error", onError)
    server.listen(path, () => {
      server.off("error", onError)
      resolve()
    })
  })

/** Binds the socket; a leftover file from a crashed run is removed, a live listener is not. */
const bind = async (server: Net.Server, path: string): Promise<void> => {
  try {
    return await listen(server, path)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EADDRINUSE") throw e
  }
  if (await isLive(path)) throw new Error(`another live plugin is already listening on ${path}`)
  const st = Fs.lstatSync(path)
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket`)
  Fs.unlinkSync(path)
  await listen(server, path)
}

/** How often a bind is retried when another turn's cleanup removed the (empty) directory meanwhile. */
const BIND_ATTEMPTS = 5

class SocketDirError extends Error {}

/**
 * Prepares the private directory and binds in it. The directory goes when its last socket does
 * (the finalizer below), so another turn of this profile may remove it between the two steps:
 * then both are simply done again.
 */
const bindInPrivateDir = async (server: Net.Server, path: string): Promise<void> => {
  for (let attempt = 1; ; attempt++) {
    try {
      ensurePrivateDir(Path.dirname(path))
    } catch (e) {
      throw new SocketDirError((e as Error).message)
    }
    try {
      return await bind(server, path)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT" || attempt >= BIND_ATTEMPTS) throw e
    }
  }
}

export const makeToolBridge = Effect.gen(function* () {
  const paths = yield* PluginPaths

  const serve = Effect.fn("ToolBridge.serve")(function* (options: ServeOptions) {
    // The profile's fixed private directory, or, where none fits, one of this turn's own in /tmp.
    const fixedDir = socketDirFor(paths.profileRoot, paths.runtimeDir)
    const dir =
      fixedDir ??
      (yield* Effect.try({
        try: makeTempSocketDir,
        catch: (e) => new BridgeError({ socketPath: "/tmp", message: `cannot make a private socket directory in /tmp: ${(e as Error).message}` })
      }))
    const socketPath = Path.join(dir, socketFileName(options.agentId))
    const bridgeError = (message: string) => new BridgeError({ socketPath, message })

    const exposed = exposeToolNames(options.tools.map((t) => t.name))
    const byExposedName = new Map(exposed.map((e) => [e.exposed, e.original]))
    // A name offered twice is served by its first spec, as the app-server engine's dynamic tools are.
    const specByName = new Map<string, ToolSpec>()
    for (const t of options.tools) if (!specByName.has(t.name)) specByName.set(t.name, t)
    const toolList: ReadonlyArray<ExposedToolSpec> = exposed.map(({ exposed: name, original }) => {
      const spec = specByName.get(original)!
      return {
        name,
        ...(spec.description === undefined ? {} : { description: spec.description }),
        inputSchema: objectSchema(spec.inputSchema)
      }
    })

    const server = Net.createServer()
    const connections = new Set<Net.Socket>()
    let waitingPeers = 0
    // Only a socket we bound is ours to unlink: a failed bind may have met a live plugin's.
    let bound = false

    // Added first so it runs last: the call fibers (below) answer their peers before the sockets close.
    yield* Effect.addFinalizer(() =>
      Effect.promise(async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()))
        for (const socket of connections) socket.end()
        await Promise.race([
          Promise.all([...connections].map((s) => new Promise((r) => s.once("close", r)))),
          new Promise((r) => setTimeout(r, CLOSE_GRACE_MS))
        ])
        for (const socket of connections) socket.destroy()
        await closed
        // server.close() unlinks the socket; make sure even if it did not.
        if (bound) Fs.rmSync(socketPath, { force: true })
      }).pipe(
        // The last socket out removes the directory (the turn's own one in /tmp always goes);
        // rmdir fails on a directory holding another turn's socket, which keeps it.
        Effect.zipRight(
          Effect.suspend(() =>
            bound || fixedDir === undefined
              ? Effect.try(() => removeDirIfEmpty(dir)).pipe(
                  Effect.catchAll((e) =>
                    Effect.logWarning("cannot remove the bridge socket directory").pipe(Effect.annotateLogs({ error: String(e.error) }))
                  )
                )
              : Effect.void
          )
        )
      )
    )
    const run = yield* FiberSet.makeRuntime<never>()

    const answerCall = (socket: Net.Socket, request: CallRequest) => {
      const send = (message: PluginMessage) => write(socket, message)
      let answered = false
      const reply = (result: ToolResult) => {
        if (answered) return
        answered = true
        send({ type: "result", id: request.id, result })
      }
      const original = byExposedName.get(request.name)
      if (original === undefined) {
        return Effect.sync(() => reply(errorResult(`unknown tool: ${request.name}`)))
      }
      const call = options.callTool(original, request.arguments ?? {})
      return Effect.gen(function* () {
        const result = yield* call.pipe(
          Effect.catchAllCause((cause) =>
            Effect.succeed(errorResult(`tool ${original} failed: ${Cause.pretty(cause).split("\n")[0]}`))
          )
        )
        reply(result)
      }).pipe(
        Effect.onInterrupt(() =>
          Effect.sync(() => reply(errorResult(`the turn ended before tool ${original} finished`)))
        )
      )
    }

    const warn = (message: string, reason?: string) =>
      run(
        Effect.logWarning(message).pipe(
          Effect.annotateLogs({ agentId: options.agentId, turnId: options.turnId, ...(reason === undefined ? {} : { reason }) })
        )
      )

    const onConnection = (socket: Net.Socket) => {
      connections.add(socket)
      socket.on("error", () => socket.destroy())
      const refuse = (message: string) => {
        write(socket, { type: "refused", message })
        socket.end()
      }
      if (waitingPeers >= MAX_WAITING_PEERS) {
        refuse(`too many connections are waiting to be let in (${MAX_WAITING_PEERS})`)
        socket.destroy()
        return
      }
      // Counted until the peer is let in (or gone): what has not said a valid hello yet is bounded.
      waitingPeers++
      let waiting = true
      const letIn = () => {
        if (!waiting) return
        waiting = false
        waitingPeers--
        clearTimeout(helloTimer)
      }
      const helloTimer = setTimeout(() => {
        if (!greeted) refuse(`no hello within ${HELLO_TIMEOUT_MS} ms`)
        socket.destroy()
      }, HELLO_TIMEOUT_MS)
      socket.once("close", () => {
        connections.delete(socket)
        letIn()
      })
      socket.setEncoding("utf8")
      const frame = makeLineFramer(undefined, MAX_HELLO_CHARS)
      let greeted = false
      // Why this peer's calls are refused: its process could not be told (the check is on).
      let unverified: string | undefined
      // Messages after the hello run in order behind the peer check (resolved at once without one).
      let checked: Promise<void> = Promise.resolve()
      // Nothing in a socket handler may throw past it: a bad peer costs its connection, never the plugin.
      socket.on("data", (chunk: string) => {
        try {
          onData(chunk)
        } catch (e) {
          refuse(`bridge error: ${(e as Error).message}`)
        }
      })
      const onData = (chunk: string) => {
        let lines: Array<string>
        try {
          lines = frame(chunk)
        } catch (e) {
          return refuse((e as Error).message)
        }
        for (const line of lines) {
          const decoded = decodePeer(line)
          if (Either.isLeft(decoded)) {
            write(socket, { type: "error", message: `unreadable bridge message: ${decoded.left.message}` })
            continue
          }
          const message = decoded.right
          if (!greeted) {
            if (message.type !== "hello" || !("agentId" in message)) return refuse("say hello first")
            if (message.version !== BRIDGE_WIRE_VERSION) {
              return refuse(`bridge version ${message.version} is not supported (want ${BRIDGE_WIRE_VERSION})`)
            }
            if (message.agentId !== options.agentId) return refuse("this socket serves another agent")
            if (options.turnToken !== undefined && !tokenMatches(options.turnToken, message.token)) {
              return refuse(NOT_THIS_TURN)
            }
            greeted = true
            clearTimeout(helloTimer)
            const expectedAncestor = options.expectedAncestorPid
            if (expectedAncestor !== undefined) {
              // Nothing more is read from this peer until its process is known; the lines already
              // read wait behind the check.
              socket.pause()
              const ancestor = expectedAncestor()
              const found =
                ancestor === undefined
                  ? Promise.resolve({ kind: "unknown", reason: "the turn's codex has no process id yet" } as const)
                  : peerAncestry(socket, ancestor, socketPath).catch((e: unknown) => ({ kind: "unknown", reason: String(e) }) as const)
              checked = checked.then(() =>
                found.then((peer) => {
                  if (peer.kind === "foreign") {
                    warn(`refused a bridge connection for agent ${options.agentId}: it presented the turn's token but does not come from the turn's codex`)
                    return refuse(NOT_THIS_TURN)
                  }
                  if (peer.kind === "unknown") unverified = peer.reason
                  letIn()
                  write(socket, { type: "welcome", turnId: options.turnId })
                  socket.resume()
                })
              )
              continue
            }
            letIn()
            write(socket, { type: "welcome", turnId: options.turnId })
            continue
          }
          checked = checked.then(() => {
            if (socket.destroyed || !socket.writable) return
            if (message.type === "list" && "id" in message && message.id !== undefined) {
              write(socket, { type: "tools", id: message.id, tools: toolList })
            } else if (message.type === "call" && "name" in message) {
              if (unverified === undefined) return void run(answerCall(socket, message))
              // Fails closed: a call from a process that cannot be told apart is not run.
              warn(`refused host tool call ${message.name} of agent ${options.agentId}: cannot tell which process asked`, unverified)
              write(socket, { type: "result", id: message.id, result: errorResult(unverifiedCall(message.name, unverified)) })
            } else {
              write(socket, {
                type: "error",
                ...("id" in message && message.id !== undefined ? { id: message.id } : {}),
                message: `unexpected bridge message: ${message.type}`
              })
            }
          })
        }
      }
    }
    server.on("connection", onConnection)

    yield* Effect.tryPromise({
      // The turn's own /tmp directory is fresh and empty: nothing to prepare or to take over.
      try: () => (fixedDir === undefined ? listen(server, socketPath) : bindInPrivateDir(server, socketPath)),
      catch: (e) =>
        bridgeError(
          e instanceof SocketDirError
            ? `cannot prepare the socket directory: ${e.message}`
            : `cannot listen on ${socketPath}: ${(e as Error).message}`
        )
    })
    bound = true
    yield* Effect.try({
      try: () => Fs.chmodSync(socketPath, 0o600),
      catch: (e) => bridgeError(`cannot restrict ${socketPath}: ${(e as Error).message}`)
    })
    return socketPath
  })

  return { serve } satisfies ToolBridgeShape
})

/** Never throws: a message that cannot be serialised (a hostile value) ends that connection only. */
const write = (socket: Net.Socket, message: PluginMessage) => {
  if (!socket.writable) return
  let line: string
  try {
    line = `${JSON.stringify(message)}\n`
  } catch {
    socket.destroy()
    return
  }
  socket.write(line)
}

/** Requires PluginPaths. */
export const ToolBridgeLive = Layer.effect(ToolBridge, makeToolBridge)
