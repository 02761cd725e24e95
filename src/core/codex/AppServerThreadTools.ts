/**
 * Which dynamic tools each thread was started with, kept on disk
 * (`<stateDir>/app-server-threads/<threadId>.json`) so a later turn, also after a plugin restart,
 * knows whether the thread can serve its tools (codex fixes them at `thread/start`, and
 * `thread/resume` cannot change them). A thread without a record has none: the exec engine
 * started it, or it predates this engine.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { writeFileAtomicSync } from "../AtomicFile.ts"
import { ensurePrivateDirSync } from "../PrivateFiles.ts"
import { isValidThreadId } from "../rollout/RolloutLocate.ts"

const recordPath = (dir: string, threadId: string) => Path.join(dir, `${threadId}.json`)

/** The recorded tool-set key, or undefined when the thread has no record; throws when it cannot be read. */
export const readThreadToolsKey = (dir: string, threadId: string): string | undefined => {
  if (!isValidThreadId(threadId)) return undefined
  let text: string
  try {
    text = Fs.readFileSync(recordPath(dir, threadId), "utf8")
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined
    throw e
  }
  const parsed = JSON.parse(text) as { toolsKey?: unknown }
  if (typeof parsed?.toolsKey !== "string") throw new Error(`${recordPath(dir, threadId)} holds no toolsKey`)
  return parsed.toolsKey
}

export const writeThreadToolsKey = (dir: string, threadId: string, toolsKey: string): void => {
  if (!isValidThreadId(threadId)) return
  ensurePrivateDirSync(dir)
  writeFileAtomicSync(recordPath(dir, threadId), JSON.stringify({ toolsKey }))
}
