/**
 * Where codex keeps a thread's rollout: `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl`,
 * older ones under `$CODEX_HOME/archived_sessions/`.
 */
import type { Dirent } from "node:fs"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"

/** Thread ids are UUIDs today; accept a little more, but never path syntax or glob characters. */
export const isValidThreadId = (id: string): boolean =>
  /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(id) && !id.includes("..")

const UUID = /^rollout-.+-([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\.jsonl$/

/** The thread id in a rollout file name, if it has codex's shape. */
export const threadIdOfRolloutPath = (path: string): string | undefined => UUID.exec(Path.basename(path))?.[1]

const readDir = async (dir: string): Promise<Array<Dirent>> => {
  try {
    return await Fs.readdir(dir, { withFileTypes: true })
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === "ENOENT" || code === "ENOTDIR") return []
    throw e
  }
}

/** Depth-first, newest name first, so the most recent day is searched first. */
const search = async (dir: string, suffix: string): Promise<string | undefined> => {
  const entries = (await readDir(dir)).sort((a, b) => (a.name < b.name ? 1 : a.name > b.name ? -1 : 0))
  for (const e of entries) {
    if (e.isFile() && e.name.startsWith("rollout-") && e.name.endsWith(suffix)) return Path.join(dir, e.name)
  }
  for (const e of entries) {
    if (!e.isDirectory()) continue
    const hit = await search(Path.join(dir, e.name), suffix)
    if (hit !== undefined) return hit
  }
  return undefined
}

/** Absolute path of the rollout of `threadId` under `codexHome`, or `undefined`. */
export const locateRollout = async (codexHome: string, threadId: string): Promise<string | undefined> => {
  if (!isValidThreadId(threadId)) return undefined
  const suffix = `-${threadId}.jsonl`
  return (
    (await search(Path.resolve(codexHome, "sessions"), suffix)) ??
    (await search(Path.resolve(codexHome, "archived_sessions"), suffix))
  )
}
