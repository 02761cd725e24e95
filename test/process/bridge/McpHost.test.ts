// mcp-host as codex meets it (PROTOCOL.md §7): an MCP stdio server listing and calling the
// running turn's host tools through the agent's bridge socket, healthy with no turn running.
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Scope } from "effect"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"
import { socketPathFor } from "../../../src/core/bridge/SocketPath.ts"
import type { ToolResult, ToolSpec } from "../../../src/schemas/Protocol.ts"
import { connectMcpHost, mcpHostArgv, REPO, serveTurn, tempProfile, textOf } from "./BridgeKit.ts"

const tools: ReadonlyArray<ToolSpec> = [
  { name: "echo", description: "Echoes its input", inputSchema: { type: "object", properties: { text: { type: "string" } } } },
  { name: "fs.read file", inputSchema: { properties: { path: { type: "string" } } } }
]
const ok = (text: string): ToolResult => ({ content: [{ type: "text", text }] })

/**
 * A bare listener on `path` standing in for the plugin: welcomes every hello, lists one tool
 * (`echo`), answers every call with "ok", and records each message it receives.
 */
const recordingPlugin = (path: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      Fs.mkdirSync(Path.dirname(path), { recursive: true, mode: 0o700 })
      const received: Array<Record<string, any>> = []
      const server = Net.createServer((socket) => {
        let buf = ""
        socket.on("data", (d) => {
          buf += d.toString()
          const lines = buf.split("\n")
          buf = lines.pop()!
          for (const line of lines.filter(Boolean)) {
            const m = JSON.parse(line)
            received.push(m)
            const answer =
              m.type === "hello"
                ? { type: "welcome", turnId: "t" }
                : m.type === "list"
                  ? { type: "tools", id: m.id, tools: [{ name: "echo", inputSchema: { type: "object" } }] }
                  : { type: "result", id: m.id, result: ok("ok") }
            socket.write(JSON.stringify(answer) + "\n")
          }
        })
      })
      await new Promise<void>((resolve) => server.listen(path, resolve))
      return { server, received }
    }),
    ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
  ).pipe(Effect.map(({ received }) => received))

describe("mcp-host", () => {
  it.scopedLive("answers initialize and serves zero tools while no turn is listening", () =>
    Effect.gen(function* () {
      const profile = yield* tempProfile
      const host = yield* connectMcpHost({ args: ["--socket", socketPathFor(profile, "a")!, "--agent-id", "a"] })
      expect(host.client.getServerVersion()?.name).toBe("plexum-host")
      expect(host.client.getServerCapabilities()?.tools).toBeDefined()
      const listed = yield* Effect.promise(() => host.client.listTools())
      expect(listed.tools).toEqual([])
      const called = yield* Effect.promise(() => host.client.callTool({ name: "echo", arguments: {} }))
      expect(called.isError).toBe(true)
      expect(textOf(called)).toMatch(/no plexum turn is running/i)
      // Still healthy afterwards.
      yield* Effect.promise(() => host.client.ping())
    })
  )

  it.scopedLive("lists the turn's tools under valid names and routes a call to the host by its own name", () =>
    Effect.gen(function* () {
      const profile = yield* tempProfile
      const calls: Array<{ name: string; args: unknown }> = []
      yield* serveTurn(profile, {
        agentId: "agent-1",
        turnId: "t1",
        tools,
        callTool: (name, args) =>
          Effect.sync(() => {
            calls.push({ name, args })
            return ok(`${name}:${JSON.stringify(args)}`)
          })
      })
      // The env is what codex's registration sets; flags are absent here.
      const host = yield* connectMcpHost({
        env: { PLEXUM_MCP_SOCKET: socketPathFor(profile, "agent-1")!, PLEXUM_MCP_AGENT_ID: "agent-1" }
      })
      const listed = yield* Effect.promise(() => host.client.listTools())
      const names = listed.tools.map((t) => t.name)
      expect(names[0]).toBe("echo")
      expect(names[1]).toMatch(/^[a-zA-Z0-9_-]{1,64}$/)
      expect(listed.tools[0]!.description).toBe("Echoes its input")
      expect(listed.tools[1]!.inputSchema).toEqual({ type: "object", properties: { path: { type: "string" } } })

      const result = yield* Effect.promise(() =>
        host.client.callTool({ name: names[1]!, arguments: { path: "/x" }, _meta: { callId: "call_abc" } })
      )
      expect(result.isError).toBeFalsy()
      expect(textOf(result)).toBe('fs.read file:{"path":"/x"}')
      expect(calls).toEqual([{ name: "fs.read file", args: { path: "/x" } }])
    })
  )

  it.scopedLive("passes codex's call id (_meta.callId) on to the plugin with the call", () =>
    Effect.gen(function* () {
      const profile = yield* tempProfile
      const path = socketPathFor(profile, "a")!
      // A plugin stand-in that records what mcp-host sends it.
      const received = yield* recordingPlugin(path)
      const host = yield* connectMcpHost({ args: ["--socket", path, "--agent-id", "a"] })
      const result = yield* Effect.promise(() => host.client.callTool({ name: "echo", arguments: { q: 1 }, _meta: { callId: "call_abc" } }))
      expect(textOf(result)).toBe("ok")
      expect(received.filter((m) => m.type === "call")).toEqual([
        { type: "call", id: expect.anything(), name: "echo", arguments: { q: 1 }, callId: "call_abc" }
      ])
    })
  )

  it.scopedLive("follows turns: tools appear while a turn listens and disappear after it", () =>
    Effect.gen(function* () {
      const profile = yield* tempProfile
      const socket = socketPathFor(profile, "agent-1")!
      const host = yield* connectMcpHost({ args: ["--socket", socket, "--agent-id", "agent-1"] })
      expect((yield* Effect.promise(() => host.client.listTools())).tools).toEqual([])

      const turn = yield* Scope.make()
      yield* serveTurn(profile, { agentId: "agent-1", turnId: "t1", tools, callTool: () => Effect.succeed(ok("x")) }).pipe(
        Scope.extend(turn)
      )
      expect((yield* Effect.promise(() => host.client.listTools())).tools.length).toBe(2)
      yield* Scope.close(turn, Exit.void)

      expect(Fs.existsSync(socket)).toBe(false)
      expect((yield* Effect.promise(() => host.client.listTools())).tools).toEqual([])
    })
  )

  it.scopedLive("flags override the environment", () =>
    Effect.gen(function* () {
      const profile = yield* tempProfile
      yield* serveTurn(profile, { agentId: "b", turnId: "t", tools, callTool: () => Effect.succeed(ok("x")) })
      const host = yield* connectMcpHost({
        args: ["--socket", socketPathFor(profile, "b")!, "--agent-id=b"],
        env: { PLEXUM_MCP_SOCKET: socketPathFor(profile, "a")!, PLEXUM_MCP_AGENT_ID: "a" }
      })
      expect((yield* Effect.promise(() => host.client.listTools())).tools.length).toBe(2)
    })
  )

  it.scopedLive("is refused by a listener of another agent and serves nothing from it", () =>
    Effect.gen(function* () {
      const profile = yield* tempProfile
      let called = false
      yield* serveTurn(profile, {
        agentId: "victim",
        turnId: "t",
        tools,
        callTool: () => Effect.sync(() => ((called = true), ok("secret")))
      })
      const host = yield* connectMcpHost({ args: ["--socket", socketPathFor(profile, "victim")!, "--agent-id", "intruder"] })
      expect((yield* Effect.promise(() => host.client.listTools())).tools).toEqual([])
      const result = yield* Effect.promise(() => host.client.callTool({ name: "echo", arguments: {} }))
      expect(result.isError).toBe(true)
      expect(textOf(result)).toMatch(/another agent/)
      expect(called).toBe(false)
    })
  )

  it.scopedLive("answers a failing or interrupted host call with an isError result, never hangs", () =>
    Effect.gen(function* () {
      const profile = yield* tempProfile
      const started = yield* Deferred.make<void>()
      const turn = yield* Scope.make()
      yield* serveTurn(profile, {
        agentId: "a",
        turnId: "t",
        tools: [
          { name: "boom", inputSchema: {} },
          { name: "hang", inputSchema: {} },
          { name: "fails", inputSchema: {} }
        ],
        callTool: (name) =>
          name === "boom"
            ? Effect.die(new Error("kaboom"))
            : name === "fails"
              ? Effect.succeed({ content: [{ type: "text", text: "host said no" }], isError: true })
              : Effect.zipRight(Deferred.succeed(started, undefined), Effect.never)
      }).pipe(Scope.extend(turn))
      const host = yield* connectMcpHost({ args: ["--socket", socketPathFor(profile, "a")!, "--agent-id", "a"] })

      const boom = yield* Effect.promise(() => host.client.callTool({ name: "boom", arguments: {} }))
      expect(boom.isError).toBe(true)
      expect(textOf(boom)).toMatch(/boom failed/)

      const fails = yield* Effect.promise(() => host.client.callTool({ name: "fails", arguments: {} }))
      expect(fails).toMatchObject({ isError: true, content: [{ type: "text", text: "host said no" }] })

      const hanging = yield* Effect.promise(() => host.client.callTool({ name: "hang", arguments: {} })).pipe(Effect.fork)
      yield* Deferred.await(started)
      yield* Scope.close(turn, Exit.void)
      const hang = yield* Fiber.join(hanging)
      expect(hang.isError).toBe(true)
      expect(textOf(hang)).toMatch(/turn ended/)
    })
  )

  it.scopedLive("answers an unknown tool name with isError", () =>
    Effect.gen(function* () {
      const profile = yield* tempProfile
      yield* serveTurn(profile, { agentId: "a", turnId: "t", tools, callTool: () => Effect.succeed(ok("x")) })
      const host = yield* connectMcpHost({ args: ["--socket", socketPathFor(profile, "a")!, "--agent-id", "a"] })
      const result = yield* Effect.promise(() => host.client.callTool({ name: "nope", arguments: {} }))
      expect(result.isError).toBe(true)
      expect(textOf(result)).toMatch(/unknown tool: nope/)
    })
  )
})

describe("mcp-host lifetime", () => {
  const runRaw = (args: ReadonlyArray<string>) => {
    const child = spawn(process.execPath, mcpHostArgv(args), { cwd: REPO, stdio: ["pipe", "pipe", "pipe"] })
    let stdout = ""
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
    return { child, exited, stdout: () => stdout }
  }

  it.live("answers what it was sent, writes nothing but MCP to stdout, and exits 0 when stdin closes", () =>
    Effect.promise(async () => {
      const run = runRaw(["--socket", "/nonexistent/x.sock", "--agent-id", "a"])
      try {
        run.child.stdin.write(
          [
            { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "c", version: "1" } } },
            { jsonrpc: "2.0", method: "notifications/initialized" },
            { jsonrpc: "2.0", id: 2, method: "tools/list" }
          ]
            .map((m) => JSON.stringify(m) + "\n")
            .join("")
        )
        run.child.stdin.end()
        expect(await run.exited).toBe(0)
        const lines = run.stdout().split("\n").filter(Boolean).map((l) => JSON.parse(l))
        expect(lines.map((l) => l.id)).toEqual([1, 2])
        expect(lines[1].result).toEqual({ tools: [] })
      } finally {
        run.child.kill("SIGKILL")
      }
    })
  )

  it.live("exits when its parent dies even though its stdin stays open", () =>
    Effect.promise(async () => {
      // A shell starts mcp-host with the test's stdin pipe, prints its pid and dies.
      const entry = mcpHostArgv(["--socket", "/nonexistent/x.sock"]).map((a) => `'${a}'`).join(" ")
      const shell = spawn("sh", ["-c", `'${process.execPath}' ${entry} <&0 >/dev/null & echo $!; sleep 0.3`], {
        cwd: REPO,
        stdio: ["pipe", "pipe", "inherit"]
      })
      let out = ""
      shell.stdout.on("data", (d: Buffer) => (out += d.toString()))
      await new Promise((r) => shell.once("exit", r))
      const pid = Number(out.trim())
      expect(pid).toBeGreaterThan(0)
      const alive = () => {
        try {
          process.kill(pid, 0)
          return true
        } catch {
          return false
        }
      }
      try {
        const deadline = Date.now() + 15_000
        while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
        expect(alive()).toBe(false)
      } finally {
        if (alive()) process.kill(pid, "SIGKILL")
        shell.stdin.end()
      }
    })
  )

  it.live("rejects an unknown flag with status 2", () =>
    Effect.promise(async () => {
      const run = runRaw(["--bogus"])
      run.child.stdin.end()
      expect(await run.exited).toBe(2)
      expect(run.stdout()).toBe("")
    })
  )
})
