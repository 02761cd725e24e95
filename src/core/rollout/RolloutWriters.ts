/**
 * Who else writes a thread, read from /proc (Linux). codex's writer lock is not the whole story: a
 * resuming codex opens the rollout for append before it holds the lock (some 80 ms on 0.171, longer
 * on a busy machine; CODEX.md "Writer locks"), and a rewrite's rename under such a writer loses
 * every line it appends afterwards. So a rewrite also asks which processes hold the file open for
 * writing, and which hold the thread's lock file locked. Elsewhere than Linux both answer nothing.
 */
import * as Fs from "node:fs"
import { processesHolding } from "../ProcFds.ts"

/**
 * The processes other than this one that hold `path` open for writing, among `pids` (default:
 * every process whose descriptors this user may read).
 */
export const rolloutWriters = async (path: string, pids?: ReadonlyArray<number>): Promise<ReadonlyArray<number>> => {
  const target = await Fs.promises.realpath(path).catch(() => undefined)
  return target === undefined ? [] : processesHolding(target, { writing: true, ...(pids === undefined ? {} : { pids }) })
}

/** The pids holding a `flock` on `lockFile` (from /proc/locks); none when the file is gone. */
export const flockHolders = (lockFile: string): ReadonlyArray<number> => {
  if (process.platform !== "linux") return []
  let ino: number
  try {
    ino = Fs.statSync(lockFile).ino
  } catch {
    return []
  }
  let locks: string
  try {
    locks = Fs.readFileSync("/proc/locks", "latin1")
  } catch {
    return []
  }
  // "1: FLOCK  ADVISORY  WRITE 12345 08:01:6291458 0 EOF": the pid, then major:minor:inode.
  const holders: Array<number> = []
  for (const line of locks.split("\n")) {
    const f = line.trim().split(/\s+/)
    if (f[1] !== "FLOCK" || f[2] === "->") continue
    const inode = f[5]?.split(":")[2]
    if (inode !== undefined && Number(inode) === ino) holders.push(Number(f[4]))
  }
  return holders
}
