/**
 * Which processes hold a file or pipe open, read from `/proc/<pid>/fd` (Linux; elsewhere nobody is
 * found). Asynchronous on purpose: a machine-wide look reads thousands of links (74 ms for 978 on a
 * busy machine here), and done synchronously it would stall every running turn's stdout meanwhile.
 */
import * as Fs from "node:fs/promises"

const O_ACCMODE = 0o3
const O_RDONLY = 0
/** How many processes are read at once. */
const BATCH = 16

const isPid = (name: string) => name.charCodeAt(0) >= 48 && name.charCodeAt(0) <= 57

/** Whether descriptor `fd` of `pid` is open for writing (its fdinfo `flags`, octal). */
const openForWriting = async (pid: number, fd: string): Promise<boolean> => {
  const info = await Fs.readFile(`/proc/${pid}/fdinfo/${fd}`, "latin1").catch(() => "")
  const m = /^flags:\s+([0-7]+)/m.exec(info)
  return m !== null && (Number.parseInt(m[1]!, 8) & O_ACCMODE) !== O_RDONLY
}

const holds = async (pid: number, link: string, writing: boolean): Promise<boolean> => {
  const fds = await Fs.readdir(`/proc/${pid}/fd`).catch(() => [] as Array<string>)
  for (const fd of fds) {
    if ((await Fs.readlink(`/proc/${pid}/fd/${fd}`).catch(() => "")) !== link) continue
    if (!writing || (await openForWriting(pid, fd))) return true
  }
  return false
}

/**
 * The processes other than this one with a descriptor whose link reads `link` (a path, or
 * `pipe:[inode]`), among `pids` (default: every process this user may read); with `writing`, only
 * descriptors open for writing count.
 */
export const processesHolding = async (
  link: string,
  options: { readonly writing?: boolean; readonly pids?: ReadonlyArray<number> } = {}
): Promise<ReadonlyArray<number>> => {
  if (process.platform !== "linux") return []
  const candidates = options.pids ?? (await Fs.readdir("/proc")).filter(isPid).map(Number)
  const found: Array<number> = []
  for (let i = 0; i < candidates.length; i += BATCH) {
    const batch = candidates.slice(i, i + BATCH).filter((pid) => pid !== process.pid)
    const held = await Promise.all(batch.map((pid) => holds(pid, link, options.writing ?? false)))
    batch.forEach((pid, k) => held[k] && found.push(pid))
  }
  return found
}
