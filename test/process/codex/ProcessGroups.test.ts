import { describe, expect, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { makeProcessGroups, processStartTime } from "../../../src/layers/ProcessGroupsLive.ts"
import { isRunning } from "../../support/Processes.ts"

const running = isRunning

const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "process-groups-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

/** A detached process group (as a codex left behind by a crashed plugin), killed at the end of the test whatever happens. */
const orphanGroup = Effect.acquireRelease(
  Effect.async<number>((resume) => {
    const c = ChildProcess.spawn("sleep", ["300"], { detached: true, stdio: "ignore" })
    c.once("spawn", () => {
      c.unref()
      resume(Effect.succeed(c.pid!))
    })
  }),
  (pgid) =>
    Effect.sync(() => {
      try {
        process.kill(-pgid, "SIGKILL")
      } catch {
        // already ended by the code under test
      }
    })
)

/** The pid of a process that has exited: a plugin that crashed. */
const deadPid = Effect.promise(
  () =>
    new Promise<number>((resolve) => {
      const c = ChildProcess.spawn("true", [], { stdio: "ignore" })
      c.once("exit", () => resolve(c.pid!))
    })
)

const writeRecord = (dir: string, record: Record<string, unknown>) =>
  Fs.writeFileSync(Path.join(dir, `${record.pgid}.json`), JSON.stringify(record))

describe("ProcessGroups.reapOrphans", () => {
  it.scopedLive("ends a group recorded by a plugin that is no longer running, and drops the record", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const pgid = yield* orphanGroup
      const plugin = yield* deadPid
      writeRecord(dir, { pgid, leaderStartTime: processStartTime(pgid), pluginPid: plugin, pluginStartTime: "1", startedAt: "" })
      const groups = makeProcessGroups({ runningDir: dir })
      expect(yield* groups.reapOrphans).toEqual([pgid])
      expect(running(pgid)).toBe(false)
      expect(Fs.readdirSync(dir)).toEqual([])
    }))

  it.scopedLive("treats a plugin pid now used by another process as dead (start time differs)", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const pgid = yield* orphanGroup
      // This test process stands in for the unrelated process that got the dead plugin's pid.
      writeRecord(dir, { pgid, leaderStartTime: processStartTime(pgid), pluginPid: process.pid, pluginStartTime: "1", startedAt: "" })
      expect(yield* makeProcessGroups({ runningDir: dir }).reapOrphans).toEqual([pgid])
      expect(running(pgid)).toBe(false)
    }))

  it.scopedLive("leaves alone the groups of a plugin that is still running", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const pgid = yield* orphanGroup
      const groups = makeProcessGroups({ runningDir: dir })
      yield* groups.track(pgid) // recorded by this live process
      expect(yield* makeProcessGroups({ runningDir: dir }).reapOrphans).toEqual([])
      expect(running(pgid)).toBe(true)
      expect(Fs.readdirSync(dir)).toEqual([`${pgid}.json`])
      yield* groups.untrack(pgid)
      expect(Fs.readdirSync(dir)).toEqual([])
    }))

  it.scopedLive("never kills a process that merely reuses the recorded group's pid", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const pgid = yield* orphanGroup
      const plugin = yield* deadPid
      writeRecord(dir, { pgid, leaderStartTime: "1", pluginPid: plugin, pluginStartTime: "1", startedAt: "" })
      expect(yield* makeProcessGroups({ runningDir: dir }).reapOrphans).toEqual([])
      expect(running(pgid)).toBe(true)
      expect(Fs.readdirSync(dir)).toEqual([])
    }))

  it.scopedLive("drops records that are unreadable or whose group is already gone", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const plugin = yield* deadPid
      Fs.writeFileSync(Path.join(dir, "123.json"), "{not json")
      writeRecord(dir, { pgid: plugin, leaderStartTime: null, pluginPid: plugin, pluginStartTime: null, startedAt: "" })
      expect(yield* makeProcessGroups({ runningDir: dir }).reapOrphans).toEqual([])
      expect(Fs.readdirSync(dir)).toEqual([])
    }))
})

/**
 * A shell leading its own group, with each command started in the background; every command here
 * ends in `sleep`, and this waits until each one runs it: a command that is still the shell's fork
 * does not carry its `CODEX_THREAD_ID` yet (on a busy machine the exec can lag the shell's echo).
 */
const ownerWithCommands = (commands: ReadonlyArray<string>) =>
  Effect.tap(ownerStarting(commands), ({ pids }) =>
    Effect.repeat(Effect.sync(() => pids.every(isSleep)), { schedule: Schedule.spaced("5 millis"), until: (all) => all }))

/** Whether `pid` has exec'd `sleep` (until then it is a forked shell, without the command's environment). */
const isSleep = (pid: number) => {
  try {
    return Path.basename(Fs.readlinkSync(`/proc/${pid}/exe`)) === "sleep"
  } catch {
    return false
  }
}

/**
 * A process group of its own (as codex) whose shell started `commands` (sh lines run in the background,
 * each printing nothing) and printed their pids; it exits when its stdin closes.
 */
const ownerStarting = (commands: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.async<{ readonly pgid: number; readonly pids: ReadonlyArray<number>; readonly exit: () => void }>((resume) => {
      const script = `${commands.map((c) => `${c} & echo $!`).join("\n")}\necho done\nread _`
      const c = ChildProcess.spawn("sh", ["-c", script], { detached: true, stdio: ["pipe", "pipe", "ignore"] })
      let out = ""
      c.stdout.on("data", (d: Buffer) => {
        out += d.toString()
        if (!out.includes("done")) return
        c.stdout.destroy()
        c.unref()
        const pids = out.trim().split("\n").slice(0, -1).map(Number)
        resume(Effect.succeed({ pgid: c.pid!, pids, exit: () => c.stdin.end() }))
      })
    }),
    ({ pgid, pids }) =>
      Effect.sync(() => {
        for (const target of [-pgid, ...pids.map((p) => -p), ...pids]) {
          try {
            process.kill(target, "SIGKILL")
          } catch {
            // ended
          }
        }
      })
  )

/** Waits (bounded) until `pid` leads a session of its own, as `setsid` makes it once forked. */
const awaitOwnSession = (pid: number) =>
  Effect.promise(async () => {
    for (let i = 0; i < 100 && !Fs.readFileSync(`/proc/${pid}/stat`, "latin1").includes(` ${pid} ${pid} `); i++) {
      await new Promise((r) => setTimeout(r, 20))
    }
  })

describe("ProcessGroups.end", () => {
  it.scopedLive("ends a group whose members ignore SIGTERM, within the grace period plus a little", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const pgid = yield* Effect.acquireRelease(
        Effect.async<number>((resume) => {
          const c = ChildProcess.spawn("sh", ["-c", "trap '' TERM; sleep 300 & sleep 300 & echo ready; wait"], {
            detached: true,
            stdio: ["ignore", "pipe", "ignore"]
          })
          c.stdout.once("data", () => {
            c.stdout.destroy()
            c.unref()
            resume(Effect.succeed(c.pid!))
          })
        }),
        (pgid) => Effect.sync(() => { try { process.kill(-pgid, "SIGKILL") } catch { /* ended */ } })
      )
      const groups = makeProcessGroups({ runningDir: dir, graceMs: 300 })
      expect(yield* groups.alive(pgid)).toBe(true)
      yield* groups.end(pgid)
      expect(yield* groups.alive(pgid)).toBe(false)
    }))

  it.scopedLive("also ends a command one of its members started in a session of its own (as codex's sandbox does)", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const owner = yield* ownerWithCommands(["setsid sleep 300"])
      const escaped = owner.pids[0]!
      yield* awaitOwnSession(escaped)
      const groups = makeProcessGroups({ runningDir: dir, graceMs: 300 })
      yield* groups.end(owner.pgid)
      expect(yield* groups.alive(owner.pgid)).toBe(false)
      expect(running(escaped)).toBe(false)
    }))
})

describe("ProcessGroups.endThreadCommands", () => {
  it.scopedLive("ends a thread's command that outlived its codex in a session of its own; another thread's command runs on", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const groups = makeProcessGroups({ runningDir: dir, graceMs: 300 })
      const owner = yield* ownerWithCommands(["CODEX_THREAD_ID=thread-a setsid sleep 300", "CODEX_THREAD_ID=thread-b setsid sleep 300"])
      const [mine, other] = owner.pids as [number, number]
      yield* groups.track(owner.pgid)
      yield* awaitOwnSession(mine)
      yield* awaitOwnSession(other)
      // codex gone: its group is empty, and the commands are re-parented, out of reach of end().
      owner.exit()
      yield* Effect.promise(async () => {
        for (let i = 0; i < 100 && running(owner.pgid); i++) await new Promise((r) => setTimeout(r, 20))
      })
      yield* groups.end(owner.pgid)
      expect(running(mine)).toBe(true)
      expect(yield* groups.endThreadCommands("thread-a", owner.pgid)).toBe(1)
      expect(running(mine)).toBe(false)
      expect(running(other)).toBe(true)
      yield* groups.untrack(owner.pgid)
    }))

  it.scopedLive("leaves a command of the thread older than its owner, and the group a command merely sits in", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const groups = makeProcessGroups({ runningDir: dir, graceMs: 300 })
      // Started before the owner (clock ticks are 10 ms): not a command of this owner's runs.
      const older = yield* ownerWithCommands(["CODEX_THREAD_ID=thread-a sleep 300"])
      yield* Effect.sleep("50 millis")
      const owner = yield* ownerWithCommands([])
      yield* groups.track(owner.pgid)
      yield* Effect.sleep("50 millis")
      // A group led by something else (a user's own shell or codex) with one of the thread's commands in it.
      const bystander = yield* ownerWithCommands(["CODEX_THREAD_ID=thread-a sleep 300"])
      expect(yield* groups.endThreadCommands("thread-a", owner.pgid)).toBe(1)
      expect(running(bystander.pids[0]!)).toBe(false)
      expect(running(bystander.pgid)).toBe(true)
      expect(running(older.pids[0]!)).toBe(true)
      yield* groups.untrack(owner.pgid)
    }))

  it.scopedLive("ends a thread's command inside the owner's own group, not the owner (an app-server) nor another thread's", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const groups = makeProcessGroups({ runningDir: dir, graceMs: 300 })
      // The second command's thread id only starts with the first's: it is not the same thread.
      const owner = yield* ownerWithCommands(["CODEX_THREAD_ID=thread-a sleep 300", "CODEX_THREAD_ID=thread-ab sleep 300"])
      yield* groups.track(owner.pgid)
      expect(yield* groups.endThreadCommands("thread-a", owner.pgid)).toBe(1)
      expect(running(owner.pids[0]!)).toBe(false)
      expect(running(owner.pids[1]!)).toBe(true)
      expect(running(owner.pgid)).toBe(true)
      yield* groups.untrack(owner.pgid)
    }))
})
