/**
 * ProcessGroups on Linux: group membership and identity come from /proc, signals
 * go to the negative pgid. Records are small JSON files written atomically.
 */
import { Duration, Effect, HashMap, Layer, Option, Ref } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { writeFileAtomicSync } from "../core/AtomicFile.ts"
import { ensurePrivateDirSync } from "../core/PrivateFiles.ts"
import { PluginPaths } from "../services/PluginPaths.ts"
import { ProcessGroups, type ProcessGroupsShape } from "../services/ProcessGroups.ts"

export interface ProcessGroupsOptions {
  /** `<stateDir>/running` */
  readonly runningDir: string
  /** Time between SIGTERM and SIGKILL. */
  readonly graceMs?: number
}

/** The fields of /proc/<pid>/stat this module needs, or undefined when the process is gone. */
interface ProcStat {
  readonly state: string
  readonly ppid: number
  readonly pgrp: number
  /** Clock ticks after boot: with the pid, identifies one process for good. */
  readonly startTime: string
}

const readStat = (pid: number): ProcStat | undefined => {
  let text: string
  try {
    text = Fs.readFileSync(`/proc/${pid}/stat`, "latin1")
  } catch {
    return undefined
  }
  // The command name (field 2) is in parentheses and may itself contain ") ": split after the last one.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ")
  return { state: fields[0]!, ppid: Number(fields[1]), pgrp: Number(fields[2]), startTime: fields[19]! }
}

export const processStartTime = (pid: number): string | undefined => readStat(pid)?.startTime

const isLive = (stat: ProcStat | undefined) => stat !== undefined && stat.state !== "Z" && stat.state !== "X"

/** Whether `target` (a pid, or a negative pgid) may still exist: only ESRCH proves it gone (EPERM: exists, not ours). */
const mayExist = (target: number): boolean => {
  try {
    process.kill(target, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "ESRCH"
  }
}

/** Live (non-zombie) pids whose process group is `pgid`. */
export const groupMembers = (pgid: number): ReadonlyArray<number> => {
  if (!mayExist(-pgid)) return []
  if (process.platform !== "linux") return [pgid]
  return liveProcesses().filter((p) => p.pgrp === pgid).map((p) => p.pid)
}

interface LiveProcess {
  readonly pid: number
  readonly ppid: number
  readonly pgrp: number
  /** Clock ticks after boot. */
  readonly started: number
}

/** Every live (non-zombie) process in /proc. */
const liveProcesses = (): ReadonlyArray<LiveProcess> => {
  const out: Array<LiveProcess> = []
  for (const name of Fs.readdirSync("/proc")) {
    const c = name.charCodeAt(0)
    if (c < 48 || c > 57) continue
    const pid = Number(name)
    const stat = readStat(pid)
    if (isLive(stat)) out.push({ pid, ppid: stat!.ppid, pgrp: stat!.pgrp, started: Number(stat!.startTime) })
  }
  return out
}

/** Whether the environment of `pid` holds `entry` ("NAME=value") as a whole variable; false when unreadable (gone, or not ours). */
const environHas = (pid: number, entry: Buffer): boolean => {
  let env: Buffer
  try {
    env = Fs.readFileSync(`/proc/${pid}/environ`)
  } catch {
    return false
  }
  for (let at = env.indexOf(entry); at !== -1; at = env.indexOf(entry, at + 1)) {
    const end = at + entry.length
    if ((at === 0 || env[at - 1] === 0) && (end === env.length || env[end] === 0)) return true
  }
  return false
}

/**
 * The other process groups that descendants of `pgid`'s members are in. A sandboxed command runs in
 * a session of its own (codex-linux-sandbox), so ending `pgid` alone would leave it behind; and once
 * its parent is gone it is re-parented, so these are found before any signal is sent.
 */
const descendantGroups = (pgid: number, live: ReadonlyArray<LiveProcess>): ReadonlyArray<number> => {
  const tree = new Set(live.filter((p) => p.pgrp === pgid).map((p) => p.pid))
  for (let grew = true; grew;) {
    grew = false
    for (const p of live) {
      if (!tree.has(p.pid) && tree.has(p.ppid)) {
        tree.add(p.pid)
        grew = true
      }
    }
  }
  const own = readStat(process.pid)?.pgrp
  const groups = new Set<number>()
  for (const p of live) if (tree.has(p.pid) && p.pgrp !== pgid && p.pgrp !== own && p.pgrp > 1) groups.add(p.pgrp)
  return [...groups]
}

/** `target` as process.kill takes it: a pid, or a negative pgid for the whole group. */
const signal = (target: number, sig: NodeJS.Signals) => {
  try {
    process.kill(target, sig)
  } catch {
    // ESRCH: already gone, which is what we want.
  }
}

const POLL = Duration.millis(25)

/** What one ending signals: whole groups, and single processes whose group must live on. */
interface Targets {
  readonly groups: ReadonlyArray<number>
  readonly pids: ReadonlyArray<number>
}

/** Whether anything of `t` is still alive: one /proc scan for all of it (a scan costs milliseconds). */
const anyLeft = (t: Targets): boolean => {
  const groups = new Set(t.groups.filter((g) => mayExist(-g)))
  const pids = new Set(t.pids.filter(mayExist))
  if (groups.size === 0 && pids.size === 0) return false
  if (process.platform !== "linux") return true
  return liveProcesses().some((p) => groups.has(p.pgrp) || pids.has(p.pid))
}

/** Polls until nothing of `t` is alive or `ms` have passed; true when nothing is. */
const awaitAllEnded = (t: Targets, ms: number) =>
  Effect.gen(function* () {
    const deadline = Date.now() + ms
    while (anyLeft(t)) {
      if (Date.now() >= deadline) return false
      yield* Effect.sleep(POLL)
    }
    return true
  })

/** SIGTERM, then SIGKILL after `graceMs` to whatever is left; bounded, and never cut short. */
const endTargets = (t: Targets, graceMs: number) =>
  Effect.gen(function* () {
    for (const g of t.groups) signal(-g, "SIGTERM")
    for (const p of t.pids) signal(p, "SIGTERM")
    if (yield* awaitAllEnded(t, graceMs)) return
    for (const g of t.groups) signal(-g, "SIGKILL")
    for (const p of t.pids) signal(p, "SIGKILL")
    // SIGKILL cannot be ignored; the short wait only lets the kernel finish. Never wait forever.
    yield* awaitAllEnded(t, 1000)
  }).pipe(Effect.uninterruptible)

interface RunningRecord {
  readonly pgid: number
  readonly leaderStartTime: string | null
  readonly pluginPid: number
  readonly pluginStartTime: string | null
  readonly startedAt: string
}

const isRecord = (u: unknown): u is RunningRecord =>
  typeof u === "object" && u !== null && typeof (u as RunningRecord).pgid === "number" &&
  typeof (u as RunningRecord).pluginPid === "number"


/** Whether the process that wrote a record is still the same running process. */
const pluginAlive = (record: RunningRecord): boolean => {
  const start = processStartTime(record.pluginPid)
  if (start === undefined) {
    if (process.platform === "linux") return false
    try {
      process.kill(record.pluginPid, 0)
      return true
    } catch (e) {
      return (e as NodeJS.ErrnoException).code !== "ESRCH"
    }
  }
  return record.pluginStartTime === null || record.pluginStartTime === start
}

export const makeProcessGroups = (options: ProcessGroupsOptions): ProcessGroupsShape => {
  const graceMs = options.graceMs ?? 2000
  const recordPath = (pgid: number) => Path.join(options.runningDir, `${pgid}.json`)
  const selfStart = processStartTime(process.pid) ?? null

  // When each tracked group's leader started: what endThreadCommands looks after, even once the leader is gone.
  const leaderStarts = Ref.unsafeMake(HashMap.empty<number, number>())

  const end = (pgid: number) =>
    Effect.gen(function* () {
      if (!mayExist(-pgid)) return false
      if (process.platform !== "linux") {
        yield* endTargets({ groups: [pgid], pids: [] }, graceMs)
        return true
      }
      // One scan for both: whether the group still has a live member, and the groups its descendants started.
      const live = liveProcesses()
      if (!live.some((p) => p.pgrp === pgid)) return false
      yield* endTargets({ groups: [pgid, ...descendantGroups(pgid, live)], pids: [] }, graceMs)
      return true
    }).pipe(Effect.uninterruptible, Effect.withSpan("ProcessGroups.end"))

  const endThreadCommands = (threadId: string, ownerPgid: number) =>
    Effect.gen(function* () {
      if (process.platform !== "linux") return 0
      const tracked = Option.getOrUndefined(HashMap.get(yield* Ref.get(leaderStarts), ownerPgid))
      const alive = processStartTime(ownerPgid)
      const since = tracked ?? (alive === undefined ? undefined : Number(alive))
      if (since === undefined) {
        // Without the owner's start every process on the machine would be a candidate.
        yield* Effect.logWarning(`cannot look for the commands of thread ${threadId}: codex group ${ownerPgid} is neither tracked nor running`)
        return 0
      }
      const entry = Buffer.from(`CODEX_THREAD_ID=${threadId}`)
      // Only what started after the owner can be its command: the environments of older processes are never read.
      const found = liveProcesses().filter((p) => p.started >= since && p.pid !== process.pid && environHas(p.pid, entry))
      if (found.length === 0) return 0
      // A group is ended whole only when its leader is one of the thread's commands (a sandboxed
      // command leads its own session); anything else is ended process by process, so a group the
      // command merely sits in (the app-server's, or a user's own codex) lives on.
      const commands = new Set(found.map((p) => p.pid))
      const own = readStat(process.pid)?.pgrp
      const groups = [...new Set(found.map((p) => p.pgrp).filter((g) => commands.has(g) && g !== ownerPgid && g !== own && g > 1))]
      const inGroups = new Set(groups)
      const pids = found.filter((p) => !inGroups.has(p.pgrp)).map((p) => p.pid)
      yield* endTargets({ groups, pids }, graceMs)
      return found.length
    }).pipe(Effect.uninterruptible, Effect.withSpan("ProcessGroups.endThreadCommands"))

  const track = Effect.fn("ProcessGroups.track")(function* (pgid: number) {
    const leaderStartTime = processStartTime(pgid)
    if (leaderStartTime !== undefined) yield* Ref.update(leaderStarts, HashMap.set(pgid, Number(leaderStartTime)))
    const record: RunningRecord = {
      pgid,
      leaderStartTime: leaderStartTime ?? null,
      pluginPid: process.pid,
      pluginStartTime: selfStart,
      startedAt: new Date().toISOString()
    }
    yield* Effect.try(() => {
      ensurePrivateDirSync(options.runningDir)
      writeFileAtomicSync(recordPath(pgid), JSON.stringify(record))
    }).pipe(
      // Losing the record only loses crash recovery for this group; the turn itself goes on.
      Effect.catchAll((e) => Effect.logWarning(`could not record running codex group ${pgid}: ${String(e.error)}`))
    )
  })

  const untrack = Effect.fn("ProcessGroups.untrack")(function* (pgid: number) {
    yield* Ref.update(leaderStarts, HashMap.remove(pgid))
    yield* Effect.try(() => Fs.rmSync(recordPath(pgid), { force: true })).pipe(
      Effect.catchAll((e) => Effect.logWarning(`could not remove record of codex group ${pgid}: ${String(e.error)}`))
    )
  })

  const reapOne = (file: string) =>
    Effect.gen(function* () {
      const path = Path.join(options.runningDir, file)
      let record: unknown
      try {
        record = JSON.parse(Fs.readFileSync(path, "utf8"))
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined
        yield* Effect.logWarning(`dropping unreadable running-group record ${path}`)
        Fs.rmSync(path, { force: true })
        return undefined
      }
      if (!isRecord(record)) {
        yield* Effect.logWarning(`dropping malformed running-group record ${path}`)
        Fs.rmSync(path, { force: true })
        return undefined
      }
      if (pluginAlive(record)) return undefined
      // A leader pid that now names a different process means the group is long gone and the
      // pid reused (Linux never reuses a pid while a group of that id still has members).
      const leaderStart = processStartTime(record.pgid)
      const reused = leaderStart !== undefined && record.leaderStartTime !== null && leaderStart !== record.leaderStartTime
      let ended: number | undefined
      if (!reused && groupMembers(record.pgid).length > 0) {
        yield* end(record.pgid)
        ended = record.pgid
      }
      Fs.rmSync(path, { force: true })
      return ended
    })

  const reapOrphans = Effect.gen(function* () {
    let files: Array<string>
    try {
      files = Fs.readdirSync(options.runningDir).filter((f) => f.endsWith(".json"))
    } catch {
      return [] // no directory: nothing was ever recorded
    }
    const ended = yield* Effect.forEach(files, reapOne, { concurrency: "unbounded" })
    return ended.filter((p): p is number => p !== undefined)
  }).pipe(Effect.withSpan("ProcessGroups.reapOrphans"))

  return {
    track,
    untrack,
    alive: (pgid) => Effect.sync(() => groupMembers(pgid).length > 0),
    end,
    endThreadCommands,
    reapOrphans
  }
}

export const ProcessGroupsLive = Layer.effect(
  ProcessGroups,
  Effect.map(PluginPaths, (paths) => makeProcessGroups({ runningDir: Path.join(paths.stateDir, "running") }))
)
