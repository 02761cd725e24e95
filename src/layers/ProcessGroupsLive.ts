/**
 * ProcessGroups on Linux: group membership and identity come from /proc, signals
 * go to the negative pgid. Records are small JSON files written atomically.
 */
import { Duration, Effect, HashMap, Layer, Option, Ref } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { writeFileAtomicSync } from "../core/AtomicFile.ts"
import { ensurePrivateDirSync } from "../core/PrivateFiles.ts"
import { ENV_RUN_MARK } from "../core/RunMark.ts"
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
 * The live processes other than this one whose environment holds `entry` ("NAME=value"). Only what
 * started at or after `since` (clock ticks after boot) can have inherited it from the process that
 * started then: the environments of older processes are never read.
 */
const processesWithEnv = (live: ReadonlyArray<LiveProcess>, entry: string, since: number): ReadonlyArray<LiveProcess> => {
  const bytes = Buffer.from(entry)
  return live.filter((p) => p.started >= since && p.pid !== process.pid && environHas(p.pid, bytes))
}

/** Up to how many pids handed out since a run's leader are tried one by one instead of listing /proc. */
const PID_RANGE_TRIED = 64

const readNumber = (file: string, pattern: RegExp): number | undefined => {
  try {
    const m = pattern.exec(Fs.readFileSync(file, "latin1"))
    return m === null ? undefined : Number(m[1])
  } catch {
    return undefined
  }
}

/** The last pid the kernel handed out in this namespace, if it says. */
const lastPid = () => readNumber("/proc/sys/kernel/ns_last_pid", /(\d+)/)
/** How many processes and threads were created since boot: each took a pid. */
export const forkCount = () => readNumber("/proc/stat", /^processes (\d+)$/m)
const FORK_MARGIN = 1024
const pidMax = () => readNumber("/proc/sys/kernel/pid_max", /(\d+)/)

/**
 * Where a run's processes can be among the pids: after `leader`'s, while fewer processes were
 * created since it started than there are pids above it (no wrap-around can have happened).
 * Undefined: anywhere (the counts are unknown, or the counter may have wrapped).
 */
const pidsAfter = (leader: number | undefined, forksAtStart: number | undefined): number | undefined => {
  if (leader === undefined || forksAtStart === undefined) return undefined
  const forks = forkCount()
  const max = pidMax()
  // The count is taken just after the leader started: the margin covers what started in between.
  return forks !== undefined && max !== undefined && forks - forksAtStart + FORK_MARGIN < max - leader ? leader : undefined
}

/**
 * The live processes carrying a run's mark (src/core/RunMark.ts), started at or after `since`.
 * Reading every process costs some 0.3 ms each on a busy machine, so when `after` is known (no
 * wrap-around since the run's leader started: `pidsAfter`) only the later pids are read: anything
 * the run started got one. Otherwise every process is read.
 */
const markedProcesses = (mark: string, since: number, after: number | undefined): ReadonlyArray<LiveProcess> => {
  const entry = Buffer.from(`${ENV_RUN_MARK}=${mark}`)
  const last = lastPid()
  // Few pids handed out since: each is tried directly (listing /proc took 4 ms on a busy machine).
  const pids = after !== undefined && last !== undefined && last >= after && last - after <= PID_RANGE_TRIED
    ? Array.from({ length: last - after }, (_, i) => after + 1 + i)
    : Fs.readdirSync("/proc").filter((n) => n.charCodeAt(0) >= 48 && n.charCodeAt(0) <= 57).map(Number)
        .filter((pid) => after === undefined || pid > after)
  const found: Array<LiveProcess> = []
  for (const pid of pids) {
    if (pid === process.pid) continue
    // The environment first: for most processes it is all that is read.
    if (!environHas(pid, entry)) continue
    const stat = readStat(pid)
    if (!isLive(stat) || Number(stat!.startTime) < since) continue
    found.push({ pid, ppid: stat!.ppid, pgrp: stat!.pgrp, started: Number(stat!.startTime) })
  }
  return found
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
    // Each single process by its start too: after the grace its pid may name another process.
    const started = new Map(t.pids.map((p) => [p, readStat(p)?.startTime]))
    for (const g of t.groups) signal(-g, "SIGTERM")
    for (const p of t.pids) signal(p, "SIGTERM")
    if (yield* awaitAllEnded(t, graceMs)) return
    for (const g of t.groups) signal(-g, "SIGKILL")
    for (const p of t.pids) if (readStat(p)?.startTime === started.get(p)) signal(p, "SIGKILL")
    // SIGKILL cannot be ignored; the short wait only lets the kernel finish. Never wait forever.
    yield* awaitAllEnded(t, 1000)
  }).pipe(Effect.uninterruptible)

interface RunningRecord {
  readonly pgid: number
  /** The run's mark, when it has one: what codex started outside the group carries it. */
  readonly mark?: string
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
  // With the fork count then, which tells whether the pid counter can have wrapped since.
  const leaderStarts = Ref.unsafeMake(HashMap.empty<number, { readonly start: number; readonly forks: number | undefined }>())

  /** When the leader of a tracked group started, or now if it still runs; undefined when neither is known. */
  const leaderStartIn = (starts: HashMap.HashMap<number, { readonly start: number }>, pgid: number) => {
    const tracked = Option.getOrUndefined(HashMap.get(starts, pgid))?.start
    if (tracked !== undefined) return tracked
    const alive = processStartTime(pgid)
    return alive === undefined ? undefined : Number(alive)
  }
  const leaderStart = (pgid: number) => Effect.map(Ref.get(leaderStarts), (starts) => leaderStartIn(starts, pgid))

  /**
   * Ends `pgid` (when given) and every process carrying `mark` (when given); true when anything ran.
   * One read of the state, then plain code (no generator, no span): this runs at the end of every
   * exec turn, mostly to find that nothing is left.
   */
  const endRun = (pgid: number | undefined, mark?: string, since?: number): Effect.Effect<boolean> =>
    Effect.uninterruptible(Effect.flatMap(Ref.get(leaderStarts), (starts) => {
      if (process.platform !== "linux") {
        if (pgid === undefined || !mayExist(-pgid)) return Effect.succeed(false)
        return Effect.as(endTargets({ groups: [pgid], pids: [] }, graceMs), true)
      }
      // A group with no member left needs no scan of its own (the common end of a turn).
      const live = pgid !== undefined && mayExist(-pgid) ? liveProcesses() : []
      const members = live.some((p) => p.pgrp === pgid)
      const from = since ?? (pgid === undefined ? undefined : leaderStartIn(starts, pgid))
      // What carries the run's mark, wherever it is now.
      const forksAtStart = pgid === undefined ? undefined : Option.getOrUndefined(HashMap.get(starts, pgid))?.forks
      const marked = mark === undefined || from === undefined ? [] : markedProcesses(mark, from, pidsAfter(pgid, forksAtStart))
      if (!members && marked.length === 0) return Effect.succeed(false)
      const own = readStat(process.pid)?.pgrp
      const groups = new Set(members ? [pgid!, ...descendantGroups(pgid!, live)] : [])
      // A marked process that leads its group (codex's shell snapshot leads a session of its own) is
      // ended with its group; any other marked process on its own, so a group it merely sits in lives on.
      const markedPids = new Set(marked.map((p) => p.pid))
      for (const p of marked) if (markedPids.has(p.pgrp) && p.pgrp !== own && p.pgrp > 1) groups.add(p.pgrp)
      const pids = marked.filter((p) => !groups.has(p.pgrp)).map((p) => p.pid)
      return Effect.as(endTargets({ groups: [...groups], pids }, graceMs), true)
    }))

  const endThreadCommands = (threadId: string, ownerPgid: number) =>
    Effect.gen(function* () {
      if (process.platform !== "linux") return 0
      const since = yield* leaderStart(ownerPgid)
      if (since === undefined) {
        // Without the owner's start every process on the machine would be a candidate.
        yield* Effect.logWarning(`cannot look for the commands of thread ${threadId}: codex group ${ownerPgid} is neither tracked nor running`)
        return 0
      }
      const found = processesWithEnv(liveProcesses(), `CODEX_THREAD_ID=${threadId}`, since)
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

  // Plain effects, no Effect.fn span: track and untrack run on every exec turn.
  const track = (pgid: number, mark?: string): Effect.Effect<void> =>
    Effect.suspend(() => {
      const leaderStartTime = processStartTime(pgid)
      const noted = leaderStartTime === undefined
        ? Effect.void
        : Ref.update(leaderStarts, HashMap.set(pgid, { start: Number(leaderStartTime), forks: forkCount() }))
      const record: RunningRecord = {
        pgid,
        ...(mark === undefined ? {} : { mark }),
        leaderStartTime: leaderStartTime ?? null,
        pluginPid: process.pid,
        pluginStartTime: selfStart,
        startedAt: new Date().toISOString()
      }
      try {
        ensurePrivateDirSync(options.runningDir)
        writeFileAtomicSync(recordPath(pgid), JSON.stringify(record))
        return noted
      } catch (e) {
        // Losing the record only loses crash recovery for this group; the turn itself goes on.
        return Effect.zipRight(noted, Effect.logWarning(`could not record running codex group ${pgid}: ${String(e)}`))
      }
    })

  const untrack = (pgid: number): Effect.Effect<void> =>
    Effect.zipRight(
      Ref.update(leaderStarts, HashMap.remove(pgid)),
      Effect.suspend(() => {
        try {
          Fs.rmSync(recordPath(pgid), { force: true })
          return Effect.void
        } catch (e) {
          return Effect.logWarning(`could not remove record of codex group ${pgid}: ${String(e)}`)
        }
      })
    )

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
      const mark = typeof record.mark === "string" ? record.mark : undefined
      const since = record.leaderStartTime === null ? undefined : Number(record.leaderStartTime)
      // A reused leader pid leaves the group alone; what carries the run's mark is the run's all the same.
      const ended = reused
        ? (mark !== undefined && since !== undefined ? yield* endRun(undefined, mark, since) : false)
        : yield* endRun(record.pgid, mark, since)
      Fs.rmSync(path, { force: true })
      return ended ? record.pgid : undefined
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
    end: (pgid, mark) => endRun(pgid, mark),
    endProcesses: (pids) => endTargets({ groups: [], pids }, graceMs),
    endThreadCommands,
    reapOrphans
  }
}

export const ProcessGroupsLive = Layer.effect(
  ProcessGroups,
  Effect.map(PluginPaths, (paths) => makeProcessGroups({ runningDir: Path.join(paths.stateDir, "running") }))
)
