// The fork server (src/core/ForkServer.ts) with the real perl: what it starts is exactly what node's
// spawn would have started, and it never outlives the plugin.
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Logger } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { launchDetached, outputOf } from "../../../src/core/DetachedChild.ts"
import { startForkServer } from "../../../src/core/ForkServer.ts"
import { helperPath } from "../../../src/core/HelperCommands.ts"
import { isRunning, processesMatching } from "../../support/Processes.ts"

const perl = helperPath("perl")!
const temp = Fs.mkdtempSync(Path.join(Os.tmpdir(), "fork-server-test-"))
afterAll(() => Fs.rmSync(temp, { recursive: true, force: true }))

const readAll = (s: NodeJS.ReadableStream) =>
  new Promise<string>((resolve) => {
    let text = ""
    s.on("data", (d) => (text += d))
    s.on("end", () => resolve(text))
    s.resume()
  })

/** What the program saw, as it prints it: argv, environment, working directory, stdin, its ids and open descriptors. */
const SEE = `
const fs = require("node:fs")
const stat = fs.readFileSync("/proc/self/stat", "utf8").slice(fs.readFileSync("/proc/self/stat", "utf8").lastIndexOf(")") + 2).split(" ")
const stdin = fs.readFileSync(0, "utf8")
process.stdout.write(JSON.stringify({ argv: process.argv.slice(1), env: process.env, cwd: process.cwd(), stdin, pgid: Number(stat[2]), sid: Number(stat[3]), pid: process.pid }))
process.stderr.write("to stderr")
process.exitCode = 7
`

const launchSee = (server: Awaited<ReturnType<typeof startForkServer>>, args: Array<string>, env: Record<string, string>) =>
  server.launch({ binary: process.execPath, args: ["-e", SEE, ...args], cwd: temp, env })

describe("the fork server", () => {
  it("starts a program with exactly the argv, environment and working directory given, leading a session of its own", async () => {
    const server = await startForkServer(perl)
    try {
      const args = ["", "two words", "it's \"quoted\"", "a\nnewline", "ünïcödé", "--flag=$HOME"]
      // Names a shell could not export, and values with newlines and '=' in them, pass as they are.
      const env = { "a.b": "1", "BASH_FUNC_f%%": "() { echo; }", MULTI: "line1\nline2", EQ: "x=y=z", EMPTY: "" }
      const child = await launchSee(server, args, env)
      child.stdin.end("the prompt ✓")
      const [out, err, exit] = await Promise.all([readAll(child.stdout), readAll(child.stderr), child.exit])
      const seen = JSON.parse(out)
      expect(seen.argv).toEqual(args)
      expect(seen.env).toEqual(env)
      expect(seen.cwd).toBe(Fs.realpathSync(temp))
      expect(seen.stdin).toBe("the prompt ✓")
      expect(err).toBe("to stderr")
      expect(exit).toEqual({ code: 7, signal: null })
      expect(child.exitCode).toBe(7)
      // As `detached: true`: its own session and process group, so one signal reaches all it starts.
      expect(seen.pid).toBe(child.pid)
      expect(seen.pgid).toBe(child.pid)
      expect(seen.sid).toBe(child.pid)
    } finally {
      server.close()
    }
  })

  it("starts the program with no signal ignored or blocked, as node's spawn does (codex waits for its own children)", async () => {
    const server = await startForkServer(perl)
    try {
      const child = await server.launch({ binary: "/bin/grep", args: ["-E", "^Sig(Ign|Blk)", "/proc/self/status"], cwd: "/", env: {} })
      child.stdin.end()
      expect((await readAll(child.stdout)).trim().split("\n").map((l) => l.split(/\s+/)[1])).toEqual(["0000000000000000", "0000000000000000"])
    } finally {
      server.close()
    }
  })

  it("hands the program stdin, stdout and stderr only: no descriptor of the server or the plugin leaks into it", async () => {
    const server = await startForkServer(perl)
    try {
      const child = await server.launch({ binary: "/bin/sh", args: ["-c", "exec ls /proc/self/fd"], cwd: "/", env: {} })
      child.stdin.end()
      // ls itself opens one directory to list.
      const fds = (await readAll(child.stdout)).trim().split("\n").map(Number)
      expect(fds.slice(0, 3)).toEqual([0, 1, 2])
      expect(fds.filter((fd) => fd > 2)).toHaveLength(1)
      expect(await child.exit).toEqual({ code: 0, signal: null })
    } finally {
      server.close()
    }
  })

  it("reports a start that failed with the errno node's spawn would give, and a signal by its name", async () => {
    const server = await startForkServer(perl)
    try {
      const notExecutable = Path.join(temp, "not-executable")
      Fs.writeFileSync(notExecutable, "#!/bin/sh\n", { mode: 0o644 })
      await expect(server.launch({ binary: "/no/such/codex", args: [], cwd: "/", env: {} })).rejects.toMatchObject({ code: "ENOENT", message: "spawn /no/such/codex ENOENT" })
      await expect(server.launch({ binary: notExecutable, args: [], cwd: "/", env: {} })).rejects.toMatchObject({ code: "EACCES" })
      await expect(server.launch({ binary: "/bin/true", args: [], cwd: Path.join(temp, "gone"), env: {} })).rejects.toMatchObject({ code: "ENOENT" })
      await expect(server.launch({ binary: "/bin/true", args: ["x".repeat(200 * 1024)], cwd: "/", env: {} })).rejects.toMatchObject({ code: "E2BIG" })
      const sleeper = await server.launch({ binary: "/bin/sleep", args: ["30"], cwd: "/", env: {} })
      process.kill(-sleeper.pid, "SIGTERM")
      expect(await sleeper.exit).toEqual({ code: null, signal: "SIGTERM" })
      expect(sleeper.signalCode).toBe("SIGTERM")
    } finally {
      server.close()
    }
  })

  it("runs a short command as execFile would: its whole output, a failing exit and a hung one (killed at the bound) as errors", async () => {
    const server = await startForkServer(perl)
    try {
      const limits = { timeoutMs: 2000, maxBytes: 1 << 20 }
      // More than one read's worth, so the output is read to its end, not to the first chunk.
      expect(await outputOf(server, "/bin/sh", ["-c", "head -c 300000 /dev/zero | tr '\\0' x; echo"], limits)).toBe(`${"x".repeat(300000)}\n`)
      await expect(outputOf(server, "/bin/sh", ["-c", "echo partial; exit 3"], limits)).rejects.toThrow("exited with status 3")
      await expect(outputOf(server, "/bin/sh", ["-c", "head -c 2000 /dev/zero"], { timeoutMs: 2000, maxBytes: 1000 })).rejects.toThrow("more than 1000 bytes")
      const marker = `hung-${process.pid}-${Date.now()}`
      await expect(outputOf(server, "/bin/sh", ["-c", `sleep 30; : ${marker}`], { timeoutMs: 300, maxBytes: 1000 })).rejects.toThrow("did not finish within 0.3 s")
      await waitUntil(() => processesMatching(new RegExp(marker)).length === 0)
    } finally {
      server.close()
    }
  })

  it("bounds a short command's start too: a server that never starts it is not waited for past the time limit", async () => {
    const real = await startForkServer(perl)
    try {
      // The real server, with launches that never settle (a server stuck before the hand-over).
      const stuck = { ...real, launch: () => new Promise<never>(() => {}) }
      await expect(outputOf(stuck, "/bin/true", [], { timeoutMs: 200, maxBytes: 1000 })).rejects.toThrow("did not finish within 0.2 s")
    } finally {
      real.close()
    }
  })

  it("is started again after it was killed, and a request it never read goes to the new one", async () => {
    const restarts: Array<string> = []
    const server = await startForkServer(perl, (why) => restarts.push(why))
    try {
      // Earlier tests' servers may still be on their way out: this one's is the one that is new.
      const before = new Set(ownServers())
      const first = await server.launch({ binary: "/bin/true", args: [], cwd: "/", env: {} })
      first.stdin.end()
      await first.exit
      const [perlServer] = ownServers().filter((p) => !before.has(p))
      expect(perlServer).toBeDefined()
      // Stopped, it reads nothing: the request waits in its pipe, and is lost with it.
      process.kill(perlServer!, "SIGSTOP")
      const second = server.launch({ binary: "/bin/echo", args: ["again"], cwd: "/", env: {} })
      process.kill(perlServer!, "SIGKILL")
      const child = await second
      child.stdin.end()
      expect((await readAll(child.stdout)).trim()).toBe("again")
      expect(await child.exit).toEqual({ code: 0, signal: null })
      expect(restarts).toEqual(["ended (SIGKILL)"])
      expect(server.unsettled()).toBe(0)
    } finally {
      server.close()
    }
  })

  it.live("where the server cannot make a launch (perl broken), the program is started by node's spawn, with a warn", () =>
    Effect.gen(function* () {
      // "perl" that exits at once: every server dies before it reads a request.
      let restarts = 0
      const server = yield* Effect.promise(() => startForkServer("/bin/false", () => void restarts++))
      const logs: Array<string> = []
      const logger = Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => void logs.push(String(message))))
      for (let i = 0; i < 4; i++) {
        const started = yield* launchDetached(server, { binary: "/bin/echo", args: [`via node ${i}`], cwd: "/", env: {} }, {
          stderrTailBytes: 1024,
          failure: (e) => e
        }).pipe(Effect.provide(logger))
        started.child.stdin.end()
        expect((yield* Effect.promise(() => readAll(started.child.stdout))).trim()).toBe(`via node ${i}`)
      }
      expect(logs.some((l) => l.includes("the fork server ended") && l.includes("started by forking the plugin this time"))).toBe(true)
      // Three servers died without a word: perl is not started again for the launches after.
      expect(restarts).toBe(2)
      expect(logs.some((l) => l.includes("times in a row without starting anything; it is not started again"))).toBe(true)
      server.close()
    }))

  it("ends when closed, and when the plugin dies without closing it; a program already running still reports its exit", async () => {
    const server = await startForkServer(perl)
    const before = new Set(ownServers())
    const running = await server.launch({ binary: "/bin/sh", args: ["-c", "read line; exit 4"], cwd: "/", env: {} })
    const [perlServer] = ownServers().filter((p) => !before.has(p))
    server.close()
    await waitGone(perlServer!)
    running.stdin.end("go\n")
    expect(await running.exit).toEqual({ code: 4, signal: null })

    // A plugin SIGKILLed: its server reads the end of its stdin and exits.
    const plugin = ChildProcess.spawn(process.execPath, ["--import", "tsx", "-e", `
      const { startForkServer } = await import(${JSON.stringify(Path.resolve(import.meta.dirname, "../../../src/core/ForkServer.ts"))})
      const server = await startForkServer(${JSON.stringify(perl)})
      const child = await server.launch({ binary: "/bin/true", args: [], cwd: "/", env: {} })
      await child.exit
      console.log("ready")
      setInterval(() => {}, 1000)
    `], { stdio: ["ignore", "pipe", "inherit"] })
    await new Promise<void>((resolve) => plugin.stdout.on("data", (d) => String(d).includes("ready") && resolve()))
    const [orphanable] = serversOf(plugin.pid!)
    expect(orphanable).toBeDefined()
    plugin.kill("SIGKILL")
    await waitGone(orphanable!)
  }, 30_000)

  it.live("a launch interrupted before the program is handed over kills the program once it runs", () =>
    Effect.gen(function* () {
      const server = yield* Effect.promise(() => startForkServer(perl))
      const marker = `fork-server-test-${process.pid}-${Date.now()}`
      const fiber = yield* Effect.fork(launchDetached(server, { binary: "/bin/sleep", args: ["30"], cwd: "/", env: { MARK: marker } }, {
        stderrTailBytes: 1024,
        failure: (e) => e
      }))
      // The launch has sent its request before it waits for the program.
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(fiber)
      expect(server.unsettled()).toBe(1)
      // The program started, was killed, and its waiter has reported its end.
      const deadline = Date.now() + 10_000
      while (Date.now() < deadline && server.unsettled() > 0) yield* Effect.sleep("10 millis")
      expect(server.unsettled()).toBe(0)
      expect(withMarker(marker)).toEqual([])
      server.close()
    }))
})

/** The perl servers this test process started. */
const ownServers = () => serversOf(process.pid)
const serversOf = (parent: number) =>
  processesMatching(/perl -e/).filter((p) => Fs.readFileSync(`/proc/${p.pid}/stat`, "utf8").split(") ")[1]!.split(" ")[1] === String(parent)).map((p) => p.pid)

const withMarker = (marker: string) =>
  processesMatching(/sleep 30/).filter((p) => {
    try {
      return Fs.readFileSync(`/proc/${p.pid}/environ`, "utf8").includes(`MARK=${marker}`)
    } catch {
      return false
    }
  })

/** Waits until `pid` has exited: the server's own end, which the test is about, with a bound so a failure shows. */
const waitGone = async (pid: number) => {
  const deadline = Date.now() + 10_000
  while (isRunning(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  expect(isRunning(pid)).toBe(false)
}



/** Waits until `done` holds (what the test waits for is the cause; the bound only makes a failure show). */
const waitUntil = async (done: () => boolean) => {
  const deadline = Date.now() + 10_000
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  expect(done()).toBe(true)
}
