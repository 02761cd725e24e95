/**
 * Where codex keeps a thread's rollout: `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl`,
 * older ones under `$CODEX_HOME/archived_sessions/`.
 *
 * Synchronous: every exec turn searches once, and a search is a handful of stats and a listing of
 * small directories; through fs/promises each is a thread-pool round trip and a promise, about ten
 * times the CPU (a hit in a day of 40 rollouts: 0.86 → 0.24 ms).
 */
import * as Fs from "node:fs"
import * as Path from "node:path"

/** Thread ids are UUIDs today; accept a little more, but never path syntax or glob characters. */
export const isValidThreadId = (id: string): boolean =>
  /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(id) && !id.includes("..")

const UUID = /^rollout-.+-([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\.jsonl$/

/** The thread id in a rollout file name, if it has codex's shape. */
export const threadIdOfRolloutPath = (path: string): string | undefined => UUID.exec(Path.basename(path))?.[1]

/** A directory's entry names, newest (greatest) first; empty when it is not there or not a directory. */
export type DirectoryListing = (dir: string) => ReadonlyArray<string>

const newestFirst = (names: Array<string>) => names.sort().reverse()

const missingDir = (e: unknown) => {
  const code = (e as NodeJS.ErrnoException).code
  return code === "ENOENT" || code === "ENOTDIR"
}

/** Reads the directory every time. */
export const readListing: DirectoryListing = (dir) => {
  try {
    return newestFirst(Fs.readdirSync(dir))
  } catch (e) {
    if (missingDir(e)) return []
    throw e
  }
}

/**
 * How long a directory must have stayed unchanged before its listing is trusted while its
 * modification time stays: a file system that keeps times in whole seconds (or two) could
 * otherwise give a change right after the read the same time.
 */
const SETTLED_MS = 3_000

/**
 * Listings kept while each directory's modification time (which an entry added, removed or
 * renamed changes) stays what it was: a `stat` instead of a read. Only a directory that had not
 * changed for SETTLED_MS when it was read is kept; the day codex writes in is read each time.
 * A search for a thread that has no rollout yet reads every directory, and there is one a day:
 * kept listings make it a stat per directory (docs/benchmarks.md, "The plugin's own CPU per turn").
 */
export const makeKeptListing = (): DirectoryListing => {
  const kept = new Map<string, { readonly stamp: string; readonly names: ReadonlyArray<string> }>()
  return (dir) => {
    let stamp: string
    try {
      const s = Fs.statSync(dir, { bigint: true })
      if (!s.isDirectory()) return []
      if (Date.now() - Number(s.mtimeMs) < SETTLED_MS) {
        kept.delete(dir)
        return readListing(dir)
      }
      stamp = `${s.dev}:${s.ino}:${s.mtimeNs}`
    } catch (e) {
      if (missingDir(e)) return []
      throw e
    }
    const known = kept.get(dir)
    if (known?.stamp === stamp) return known.names
    const names = readListing(dir)
    kept.set(dir, { stamp, names })
    return names
  }
}

export const isFile = (path: string): boolean => Fs.statSync(path, { throwIfNoEntry: false })?.isFile() ?? false

/** Depth-first, newest name first, so the most recent day is searched first. */
const search = (dir: string, suffix: string, list: DirectoryListing): string | undefined => {
  const names = list(dir)
  const rollouts = names.filter((n) => n.startsWith("rollout-") && n.endsWith(suffix))
  for (const name of rollouts) if (isFile(Path.join(dir, name))) return Path.join(dir, name)
  for (const name of names) {
    // Year, month and day directories; whatever else is there lists as empty.
    if (name.startsWith("rollout-") && name.endsWith(".jsonl")) continue
    const hit = search(Path.join(dir, name), suffix, list)
    if (hit !== undefined) return hit
  }
  return undefined
}

/** Absolute path of the rollout of `threadId` under `codexHome`, or `undefined`. */
export const locateRollout = (codexHome: string, threadId: string, list: DirectoryListing = readListing): string | undefined => {
  if (!isValidThreadId(threadId)) return undefined
  const suffix = `-${threadId}.jsonl`
  return (
    search(Path.resolve(codexHome, "sessions"), suffix, list) ??
    search(Path.resolve(codexHome, "archived_sessions"), suffix, list)
  )
}
