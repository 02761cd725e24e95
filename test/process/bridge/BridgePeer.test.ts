// The bridge's other checks and its leftovers (PROTOCOL.md §7): a peer must descend from the turn's
// codex when its pid is known, the token is compared in constant time, and socket directories go
// when their last turn does, without tripping a turn of the same profile that starts meanwhile.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { descendantsOf, peerAncestry, peerInodeFromSs, type RunCommand, ssSourcePattern } from "../../../src/core/bridge/PeerProcess.ts"
import { outputOf } from "../../../src/core/DetachedChild.ts"
import { startForkServer } from "../../../src/core/ForkServer.ts"
import { helperPath } from "../../../src/core/HelperCommands.ts"
import { socketDirFor, socketPathFor } from "../../../src/core/bridge/SocketPath.ts"
import { tokenMatches } from "../../../src/core/bridge/TurnToken.ts"
import { connectMcpHost, echoTurn, serveTurn, tempProfile, textOf } from "./BridgeKit.ts"


/** A process that is not an ancestor of anything the test starts. */
const bystander = Effect.acquireRelease(
  Effect.sync(() => spawn("sleep", ["60"], { stdio: "ignore" })),
  (p) => Effect.sync(() => p.kill("SIGKILL"))
)

const listTools = (path: string, agentId: string) =>
  Effect.flatMap(connectMcpHost({ args: ["--socket", path, "--agent-id", agentId] }), (host) =>
    Effect.promise(() => host.client.listTools())
  ).pipe(Effect.map((r) => r.tools.map((t) => t.name)))

/** A listener at a temp path; resolves each accepted socket in turn. */
const rawListener = Effect.acquireRelease(
  Effect.promise(async () => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "peer-"))
    const path = Path.join(dir, "s.sock")
    const accepted: Array<Net.Socket> = []
    const waiters: Array<(s: Net.Socket) => void> = []
    const server = Net.createServer((s) => {
      const w = waiters.shift()
      if (w) w(s)
      else accepted.push(s)
    })
    await new Promise<void>((r) => server.listen(path, r))
    const next = () => new Promise<Net.Socket>((r) => (accepted.length > 0 ? r(accepted.shift()!) : waiters.push(r)))
    return { dir, path, server, next }
  }),
  ({ dir, server }) =>
    Effect.promise(async () => {
      server.close()
      Fs.rmSync(dir, { recursive: true, force: true })
    })
)

/** `sh -c 'node -e <connect to path and wait>'`: the connecting node is the sh's child. */
const connectFromGrandchild = (path: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const script = `require("net").connect(${JSON.stringify(path)}); setInterval(() => {}, 1e6)`
      return spawn("sh", ["-c", `"${process.execPath}" -e '${script}'; :`], { stdio: "ignore", detached: true }) as ChildProcess
    }),
    (p) => Effect.sync(() => process.kill(-p.pid!, "SIGKILL"))
  )

describe("bridge peer process", () => {
  it.scopedLive("tells whether the connecting process descends from a given pid", () =>
    Effect.gen(function* () {
      const listener = yield* rawListener
      const shell = yield* connectFromGrandchild(listener.path)
      const socket = yield* Effect.promise(listener.next)
      const viaShell = yield* Effect.promise(() => peerAncestry(socket, shell.pid!, listener.path))
      expect(viaShell.kind).toBe("descends")
      const descendants = yield* Effect.promise(() => descendantsOf(shell.pid!))
      expect(viaShell.kind === "descends" && descendants.includes(viaShell.pid) && viaShell.pid !== shell.pid).toBe(true)
      expect((yield* Effect.promise(() => peerAncestry(socket, process.pid, listener.path))).kind).toBe("descends")
      const other = yield* bystander
      expect(yield* Effect.promise(() => peerAncestry(socket, other.pid!, listener.path))).toEqual({ kind: "foreign" })
      // The same answers with `ss` run by the fork server (as the plugin runs it), not by a fork of this process.
      const server = yield* Effect.acquireRelease(Effect.promise(() => startForkServer(helperPath("perl")!)), (s) => Effect.sync(() => s.close()))
      const viaServer: RunCommand = (file, args, limits) => outputOf(server, file, args, limits)
      expect(yield* Effect.promise(() => peerAncestry(socket, shell.pid!, listener.path, viaServer))).toEqual(viaShell)
      expect(yield* Effect.promise(() => peerAncestry(socket, other.pid!, listener.path, viaServer))).toEqual({ kind: "foreign" })
    })
  )

  it("reads the peer inode from ss's listing of the bridge's own socket, paths with spaces included", () => {
    const path = "/tmp/a b/s.sock"
    const out = ["u_str ESTAB 0      0      /tmp/a b/s.sock 4242 * 4343", "u_str ESTAB 0 0 /tmp/a b/s.sock 4250 * 4251"].join("\n") + "\n"
    expect(peerInodeFromSs(out, 4242, path)).toEqual({ kind: "peer", inode: 4343 })
    expect(peerInodeFromSs(out, 4250, path)).toEqual({ kind: "peer", inode: 4251 })
    expect(peerInodeFromSs(out, 1, path).kind).toBe("unreadable")
    // ss matches names case-insensitively: another case of our path is still a line of the right shape.
    expect(peerInodeFromSs("u_str ESTAB 0 0 /TMP/A B/S.SOCK 77 * 78\n", 77, path)).toEqual({ kind: "peer", inode: 78 })
    // Spaces cannot pass ss's filter parser: they become "any one character".
    expect(ssSourcePattern(path)).toBe("/tmp/a?b/s.sock")
    expect(ssSourcePattern("/p/[x]*.sock")).toBe("/p/?x??.sock")
  })

  it("believes nothing when a line of ss's output is not one of our socket's: a name cannot forge a peer", () => {
    const path = "/tmp/a b/s.sock"
    // A socket bound to "/tmp/a\nb/s.sock" passes the filter (same length, "?" where the space is):
    // its name breaks its record over two lines, so the listing is refused, not half believed.
    const forged = ["u_str ESTAB 0 0 /tmp/a b/s.sock 4242 * 4343", "u_str ESTAB 0 0 /tmp/a", "b/s.sock 4242 * 999"].join("\n")
    expect(peerInodeFromSs(forged, 4242, path).kind).toBe("unreadable")
    // A record listed twice, a peer of 0 (ss without sock_diag names none), or another shape: unreadable.
    expect(peerInodeFromSs("u_str ESTAB 0 0 /tmp/a b/s.sock 4242 * 1\nu_str ESTAB 0 0 /tmp/a b/s.sock 4242 * 2\n", 4242, path).kind).toBe("unreadable")
    expect(peerInodeFromSs("u_str ESTAB 0 0 /tmp/a b/s.sock 4242 * 0\n", 4242, path).kind).toBe("unreadable")
    expect(peerInodeFromSs("u_str ESTAB 0 0 /tmp/a b/s.sock 4242 /elsewhere 4343\n", 4242, path).kind).toBe("unreadable")
    expect(peerInodeFromSs("u_str ESTAB 0 0 /tmp/other.sock 4242 * 4343\n", 4242, path).kind).toBe("unreadable")
  })

  it.scopedLive("a socket elsewhere whose name holds a newline and a forged line does not stop the check", () =>
    Effect.gen(function* () {
      const listener = yield* rawListener
      // Another process (any local user may) listens on an abstract name that mimics a line of
      // ss's output and connects to itself, so its accepted socket is listed by every plain `ss -x`.
      const forged = `u_str ESTAB 0 0 ${listener.path} 1 * 2`
      const evil = `\0e\n${forged}`
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          const script = `const n=require("net");n.createServer(()=>{}).listen(${JSON.stringify(evil)},()=>{n.connect(${JSON.stringify(evil)});});setInterval(()=>{},1e6)`
          return spawn(process.execPath, ["-e", script], { stdio: "ignore" })
        }),
        (p) => Effect.sync(() => p.kill("SIGKILL"))
      )
      yield* Effect.promise(async () => {
        while (!execFileSync("ss", ["-xnH"], { encoding: "utf8" }).includes(forged)) await new Promise((r) => setTimeout(r, 20))
      })
      const shell = yield* connectFromGrandchild(listener.path)
      const socket = yield* Effect.promise(listener.next)
      expect((yield* Effect.promise(() => peerAncestry(socket, shell.pid!, listener.path))).kind).toBe("descends")
    })
  )

  it.scopedLive("serves an mcp-host below the turn's codex, refuses one that is not", () =>
    Effect.gen(function* () {
      const profile = yield* tempProfile
      const other = yield* bystander
      // The test process stands in for the turn's codex: the mcp-host it starts descends from it.
      const served = yield* Effect.scoped(
        Effect.zipRight(serveTurn(profile, { ...echoTurn("a"), expectedAncestorPid: () => process.pid }), listTools(socketPathFor(profile, "a")!, "a"))
      )
      expect(served).toEqual(["echo"])
      const refused = yield* Effect.scoped(
        Effect.zipRight(serveTurn(profile, { ...echoTurn("a"), expectedAncestorPid: () => other.pid! }), listTools(socketPathFor(profile, "a")!, "a"))
      )
      expect(refused).toEqual([])
    })
  )
})

describe("a peer whose process cannot be told", () => {
  it.scopedLive("may list the tools, but each of its calls fails with the reason and the way out; none reaches the host", () =>
    Effect.gen(function* () {
      const profile = yield* tempProfile
      const calls: Array<string> = []
      // No pid of the turn's codex to check against: what cannot be established is refused.
      yield* serveTurn(profile, {
        ...echoTurn("a"),
        callTool: (name) => Effect.sync(() => (calls.push(name), { content: [{ type: "text", text: "ran" }] })),
        expectedAncestorPid: () => undefined
      })
      const host = yield* connectMcpHost({ args: ["--socket", socketPathFor(profile, "a")!, "--agent-id", "a"] })
      expect((yield* Effect.promise(() => host.client.listTools())).tools.map((t) => t.name)).toEqual(["echo"])
      const result = yield* Effect.promise(() => host.client.callTool({ name: "echo", arguments: {} }))
      expect(result.isError).toBe(true)
      expect(textOf(result)).toMatch(/refused host tool echo: it cannot tell which process asked \(the turn's codex has no process id yet\)/)
      expect(textOf(result)).toContain('"bridge_peer_check": false')
      expect(calls).toEqual([])
    })
  )
})

describe("turn token", () => {
  it("matches only the very same token, whatever the length or type presented", () => {
    expect(tokenMatches("s3cret-token", "s3cret-token")).toBe(true)
    expect(tokenMatches("s3cret-token", "s3cret-tokeN")).toBe(false)
    expect(tokenMatches("s3cret-token", "s3cret")).toBe(false)
    expect(tokenMatches("s3cret-token", "s3cret-token-and-more")).toBe(false)
    expect(tokenMatches("s3cret-token", "")).toBe(false)
    expect(tokenMatches("s3cret-token", undefined)).toBe(false)
    expect(tokenMatches("s3cret-token", 42)).toBe(false)
  })
})

/** A profile too long for a socket path under it: each turn then makes its own directory in /tmp. */
const longProfile = Effect.acquireRelease(
  Effect.sync(() => {
    const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "bridge-long-"))
    const profile = Path.join(root, "p".repeat(120))
    Fs.mkdirSync(profile)
    return { root, profile }
  }),
  ({ root }) => Effect.sync(() => Fs.rmSync(root, { recursive: true, force: true }))
)

describe("bridge socket directories", () => {
  it.scopedLive("where the profile is too long, each turn listens in a /tmp directory of its own: random, 0700, gone with the turn", () =>
    Effect.gen(function* () {
      const { profile } = yield* longProfile
      expect(socketDirFor(profile)).toBeUndefined()
      const [a, b] = [yield* Scope.make(), yield* Scope.make()]
      const pathA = yield* serveTurn(profile, echoTurn("a")).pipe(Scope.extend(a))
      const pathB = yield* serveTurn(profile, echoTurn("b")).pipe(Scope.extend(b))
      const [dirA, dirB] = [Path.dirname(pathA), Path.dirname(pathB)]
      for (const dir of [dirA, dirB]) {
        expect(dir).toMatch(new RegExp(`^/tmp/plexum-mcp-${process.pid}-[A-Za-z0-9]{6}$`))
        expect(Fs.statSync(dir).mode & 0o777).toBe(0o700)
        expect(Fs.statSync(dir).uid).toBe(process.getuid!())
      }
      expect(dirA).not.toBe(dirB)
      yield* Scope.close(a, Exit.void)
      expect(Fs.existsSync(dirA)).toBe(false)
      // b's turn still runs, in its own directory.
      expect(yield* listTools(pathB, "b")).toEqual(["echo"])
      yield* Scope.close(b, Exit.void)
      expect(Fs.existsSync(dirB)).toBe(false)
    })
  )

  it.scopedLive("turns of one profile opening and closing at once never fail to bind, and leave nothing", () =>
    Effect.gen(function* () {
      const profile = yield* tempProfile
      const { profile: long } = yield* longProfile
      const dirs: Array<string> = []
      const oneTurn = (root: string, agentId: string) =>
        Effect.scoped(Effect.map(serveTurn(root, echoTurn(agentId)), (path) => void dirs.push(Path.dirname(path))))
      const results = yield* Effect.forEach(
        Array.from({ length: 60 }, (_, i) => [i % 2 === 0 ? profile : long, `agent-${i % 3}-${i}`] as const),
        ([root, id]) => Effect.exit(oneTurn(root, id)),
        { concurrency: 6 }
      )
      expect(results.filter(Exit.isFailure)).toEqual([])
      expect(dirs).toHaveLength(60)
      expect(dirs.filter((d) => Fs.existsSync(d))).toEqual([])
    })
  )
})
