/**
 * Replacing a small file so a reader (or a crash) only ever sees the old or the
 * new content: write a uniquely named temp file beside it, then rename it over.
 * A failed write removes its temp file. (Rollouts, which are large and streamed,
 * have their own rewrite in RolloutRewrite.ts.)
 */
import * as Crypto from "node:crypto"
import * as FsSync from "node:fs"
import * as Fs from "node:fs/promises"

const tempName = (file: string) => `${file}.${process.pid}.${Crypto.randomBytes(6).toString("hex")}.tmp`

export const writeFileAtomic = async (file: string, data: string, options: { readonly mode?: number } = {}) => {
  const tmp = tempName(file)
  try {
    await Fs.writeFile(tmp, data, options.mode === undefined ? {} : { mode: options.mode })
    await Fs.rename(tmp, file)
  } catch (e) {
    await Fs.rm(tmp, { force: true })
    throw e
  }
}

/** The same, for callers that must not yield (e.g. bookkeeping on a process's exit path). */
export const writeFileAtomicSync = (file: string, data: string) => {
  const tmp = tempName(file)
  try {
    FsSync.writeFileSync(tmp, data)
    FsSync.renameSync(tmp, file)
  } catch (e) {
    FsSync.rmSync(tmp, { force: true })
    throw e
  }
}
