// The plugin's listener (PROTOCOL.md §7): a private socket per agent, recovered after a crash,
// never stolen from a live plugin, speaking only to the agent it serves.
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Scope } from "effect"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"
import { socketDirFor, socketPathFor } from "../../../src/core/bridge/SocketPath.ts"
import { connectMcpHost, echoTurn, serveTurn, tempProfile, textOf } from "./BridgeKit.ts"


/** Sends raw lines over the socket and collects the answers until the plugin hangs up or `count` arrive. */
const exchange = (path: string, lines: ReadonlyArray<unknown>, count: number) =>
  Effect.promise(
    () =>
      new Promise<Array<Record<string, unknown>>>((resolve) => {
        const answers: Array<Record<string, unknown>> = []
        let buf = ""
        const socket = Net.connect(path, () => socket.write(lines.map((l) => JSON.stringify(l) + "\n").join("")))
        const done = () => {
          socket.destroy()
          resolve(answers)
        }
        socket.on("data", (d) => {
          buf += d.toString()
          const parts = buf.split("\n")
          buf = parts.pop()!
          for (const p of parts) answers.push(JSON.parse(p))
          if (answers.length >= count) done()
        })
        socket.on("close", done)
        socket.on("error", done)
      })
  )

describe("ToolBridge.serve", () => {
  it.scopedLive("listens in a 0700 directory on a 0600 socket and unlinks it when the turn ends", () =>
    Effect.gen(function* () {
      const profile = yield* tempProfile
      const path = socketPathFor(profile, "agent-1")!
      const turn = yield* Scope.make()
      yield* serveTurn(profile, echoTurn("agent-1")).pipe(Scope.extend(turn))
      expect(Fs.statSync(Path.dirname(path)).mode & 0o777).toBe(0o700)
      const st = Fs.statSync(path)
      expect(st.isSocket()).toBe(true)
      expect(st.mode & 0o777).toBe(0o600)
      yield* Scope.close(turn, Exit.void)
      expect(Fs.existsSync(path)).toBe(false)
    })
  )

  it.scopedLive("repairs a socket directory left readable by others", () =>
    Effect.gen(function* () {
      const profile = yield* tempProfile
      const dir = socketDirFor(profile)!
      Fs.mkdirSync(dir, { recursive: true })
      Fs.chmodSync(dir, 0o755)
      yield* serveTurn(profile, echoTurn("a"))
      expect(Fs.statSync(dir).mode & 0o777).toBe(0o700)
    })
  )

  it.scopedLive("takes over a stale socket file left by a crashed plugin", () =>
    Effect.gen(function* () {
      const profile = yield* tempProfile
      const path = socketPathFor(profile, "agent-1")!
      Fs.mkdirSync(Path.dirname(path), { recursive: true, mode: 0o700 })
      // A process that listens and is killed without cleaning up leaves the socket file behind.
      yield* Effect.promise(
        () =>
          new Promise<void>((resolve) => {
            const child = spawn(process.execPath, [
              "-e",
              `require("net").createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, "SIGKILL"))`
            ])
            child.once("exit", () => resolve())
          })
      )
      expect(Fs.statSync(path).isSocket()).toBe(true)
      yield* serveTurn(profile, echoTurn("agent-1"))
      const host = yield* connectMcpHost({ args: ["--socket", path, "--agent-id", "agent-1"] })
      const result = yield* Effect.promise(() => host.client.callTool({ name: "echo", arguments: { x: 1 } }))
      expect(textOf(result)).toBe('{"x":1}')
    })
  )

  it.scopedLive("does not steal the socket of a live listener", () =>
    Effect.gen(function* () {
      const profile = yield* tempProfile
      yield* serveTurn(profile, echoTurn("agent-1"))
      const second = yield* serveTurn(profile, echoTurn("agent-1")).pipe(Effect.scoped, Effect.flip)
      expect(second._tag).toBe("BridgeError")
      expect(second.message).toMatch(/another live plugin/)
      // The first listener still answers.
      const host = yield* connectMcpHost({ args: ["--socket", socketPathFor(profile, "agent-1")!, "--agent-id", "agent-1"] })
      expect((yield* Effect.promise(() => host.client.listTools())).tools.map((t) => t.name)).toEqual(["echo"])
    })
  )

  it.scopedLive("keeps ids with ../ and / inside the socket directory and serves them", () =>
    Effect.gen(function* () {
      const profile = yield* tempProfile
      for (const id of ["../../escape", "/etc/passwd", "a/b/../c"]) {
        const path = socketPathFor(profile, id)!
        expect(Path.dirname(path)).toBe(socketDirFor(profile)!)
        yield* serveTurn(profile, echoTurn(id))
        const host = yield* connectMcpHost({ args: ["--socket", path, "--agent-id", id] })
        expect((yield* Effect.promise(() => host.client.listTools())).tools.map((t) => t.name)).toEqual(["echo"])
      }
      expect(Fs.readdirSync(socketDirFor(profile)!).length).toBe(3)
    })
  )

  it.scopedLive("wants a hello with this agent's id before anything else", () =>
    Effect.gen(function* () {
      const profile = yield* tempProfile
      const path = socketPathFor(profile, "a")!
      yield* serveTurn(profile, echoTurn("a"))
      expect(yield* exchange(path, [{ type: "list", id: 1 }], 1)).toEqual([{ type: "refused", message: "say hello first" }])
      expect(yield* exchange(path, [{ type: "hello", version: 1, agentId: "b" }, { type: "list", id: 1 }], 2)).toEqual([
        { type: "refused", message: "this socket serves another agent" }
      ])
      expect(yield* exchange(path, [{ type: "hello", version: 99, agentId: "a" }], 1)).toMatchObject([{ type: "refused" }])
      const answers = yield* exchange(
        path,
        [{ type: "hello", version: 1, agentId: "a" }, "garbage", { type: "frobnicate", id: 7 }, { type: "list", id: 8 }],
        4
      )
      expect(answers[0]).toEqual({ type: "welcome", turnId: "t" })
      expect(answers[1]).toMatchObject({ type: "error" })
      expect(answers[2]).toMatchObject({ type: "error", id: 7 })
      expect(answers[3]).toEqual({ type: "tools", id: 8, tools: [{ name: "echo", inputSchema: { type: "object" } }] })
    })
  )

  it.scopedLive("with a turn token, serves only the mcp-host that presents it", () =>
    Effect.gen(function* () {
      const profile = yield* tempProfile
      const path = socketPathFor(profile, "a")!
      yield* serveTurn(profile, { ...echoTurn("a"), turnToken: "s3cret" })
      const list = (env: Record<string, string>) =>
        Effect.flatMap(connectMcpHost({ args: ["--socket", path, "--agent-id", "a"], env }), (host) =>
          Effect.promise(() => host.client.listTools())
        ).pipe(Effect.map((r) => r.tools.map((t) => t.name)))
      // Another agent's codex starts this agent's mcp-host without the running turn's token.
      expect(yield* list({})).toEqual([])
      expect(yield* list({ PLEXUM_MCP_TURN_TOKEN: "guess" })).toEqual([])
      expect(yield* list({ PLEXUM_MCP_TURN_TOKEN: "s3cret" })).toEqual(["echo"])
    })
  )

  it.scopedLive("holds little for a peer not let in yet: a long hello ends its connection", () =>
    Effect.gen(function* () {
      const profile = yield* tempProfile
      const path = socketPathFor(profile, "a")!
      yield* serveTurn(profile, echoTurn("a"))
      // 100 KiB where a hello goes: refused as it arrives, not buffered up to the 64 MiB line limit.
      const answers = yield* exchange(path, [{ type: "hello", version: 1, agentId: "a", padding: "x".repeat(100 * 1024) }], 1)
      expect(answers).toEqual([{ type: "refused", message: expect.stringMatching(/longer than 65536 bytes/) }])
      // After a valid hello, a long line is a call's arguments and is fine.
      const big = yield* exchange(path, [{ type: "hello", version: 1, agentId: "a" }, { type: "list", id: 1, padding: "y".repeat(200 * 1024) }], 2)
      expect(big.map((a) => a.type)).toEqual(["welcome", "tools"])
    })
  )

  it.scopedLive("holds at most 32 connections waiting for their hello; one that says it is let in and frees its place", () =>
    Effect.gen(function* () {
      const profile = yield* tempProfile
      const path = socketPathFor(profile, "a")!
      yield* serveTurn(profile, echoTurn("a"))
      const silent = yield* Effect.acquireRelease(
        Effect.promise(() =>
          Promise.all(
            Array.from({ length: 32 }, () => new Promise<Net.Socket>((resolve) => {
              const s = Net.connect(path, () => resolve(s))
            }))
          )
        ),
        (sockets) => Effect.sync(() => sockets.forEach((s) => s.destroy()))
      )
      expect(silent).toHaveLength(32)
      // The listener takes connections in the order they came: the 33rd finds 32 waiting and is turned away.
      const turnedAway = yield* exchange(path, [{ type: "hello", version: 1, agentId: "a" }], 1)
      expect(turnedAway).toEqual([{ type: "refused", message: "too many connections are waiting to be let in (32)" }])
      // One of the silent ones says hello and is let in; its place goes to the next peer.
      const first = silent[0]!
      const welcomed = new Promise<string>((resolve) => first.once("data", (d) => resolve(d.toString())))
      first.write(JSON.stringify({ type: "hello", version: 1, agentId: "a" }) + "\n")
      expect(JSON.parse(yield* Effect.promise(() => welcomed))).toEqual({ type: "welcome", turnId: "t" })
      const next = yield* exchange(path, [{ type: "hello", version: 1, agentId: "a" }, { type: "list", id: 1 }], 2)
      expect(next.map((a) => a.type)).toEqual(["welcome", "tools"])
    })
  )

  it.scopedLive("when the turn ends, answers a call still running with isError, then hangs up", () =>
    Effect.gen(function* () {
      const profile = yield* tempProfile
      const path = socketPathFor(profile, "a")!
      const started = yield* Deferred.make<void>()
      const turn = yield* Scope.make()
      yield* serveTurn(profile, { ...echoTurn("a"), callTool: () => Effect.zipRight(Deferred.succeed(started, undefined), Effect.never) }).pipe(
        Scope.extend(turn)
      )
      const answers = yield* exchange(path, [{ type: "hello", version: 1, agentId: "a" }, { type: "call", id: 3, name: "echo", arguments: {} }], 3).pipe(
        Effect.fork
      )
      yield* Deferred.await(started)
      yield* Scope.close(turn, Exit.void)
      // Two answers, then the plugin hung up (a third never comes).
      expect(yield* Fiber.join(answers)).toEqual([
        { type: "welcome", turnId: "t" },
        { type: "result", id: 3, result: { content: [{ type: "text", text: "the turn ended before tool echo finished" }], isError: true } }
      ])
      expect(Fs.existsSync(path)).toBe(false)
    })
  )

  it.scopedLive("when the turn ends, cuts off every peer: one let in, one still silent, even if they keep their ends open", () =>
    Effect.gen(function* () {
      const profile = yield* tempProfile
      const path = socketPathFor(profile, "a")!
      const turn = yield* Scope.make()
      yield* serveTurn(profile, echoTurn("a")).pipe(Scope.extend(turn))
      // allowHalfOpen: these peers do not end their side when the plugin ends its own, so the plugin
      // waits for them no longer than its grace and then destroys its side.
      const connect = (hello: boolean) =>
        Effect.promise(
          () =>
            new Promise<{ closed: Promise<void> }>((resolve) => {
              const socket = Net.connect({ path, allowHalfOpen: true })
              // The plugin's side gone: this side reads the end of input.
              const closed = new Promise<void>((r) => (socket.once("end", () => r()), socket.once("close", () => r())))
              socket.on("error", () => {})
              if (!hello) return socket.once("connect", () => resolve({ closed }))
              socket.once("data", () => resolve({ closed }))
              socket.once("connect", () => socket.write(JSON.stringify({ type: "hello", version: 1, agentId: "a" }) + "\n"))
            })
        )
      const [welcomed, silent] = [yield* connect(true), yield* connect(false)]
      yield* Scope.close(turn, Exit.void)
      yield* Effect.promise(() => Promise.all([welcomed.closed, silent.closed]))
      expect(Fs.existsSync(path)).toBe(false)
    })
  )
})
