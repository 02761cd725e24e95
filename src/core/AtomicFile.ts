/**
 * Replacing a small file so a reader (or a crash) only ever sees the old or the
 * new content: write a uniquely named temp file beside it, then rename it over.
 * A failed write removes its temp file. (Rollouts, which are large and streamed,
 * have their own rewrite in RolloutRewrite.ts.)
 *
 * The plugin's own files are private (src/core/PrivateFiles.ts): written 0600 unless told
 * otherwise, the mode set on the temp file before it takes the name, whatever the umask.
 */
import * as Crypto from "node:crypto"
import * as FsSync from "node:fs"
import * as Fs from "node:fs/promises"
import { PRIVATE_FILE_MODE } from "./PrivateFiles.ts"

const tempName = (file: string) => `${file}.${process.pid}.${Crypto.randomBytes(6).toString("hex")}.tmp`

/** Resolves with the status of the file written (its inode, size and times), taken before it took the name. */
export const writeFileAtomic = async (file: string, data: string, options: { readonly mode?: number } = {}): Promise<FsSync.BigIntStats> => {
  const tmp = tempName(file)
  const mode = options.mode ?? PRIVATE_FILE_MODE
  try {
    await Fs.writeFile(tmp, data, { mode, flag: "wx" })
    await Fs.chmod(tmp, mode)
    const written = await Fs.stat(tmp, { bigint: true })
    await Fs.rename(tmp, file)
    return written
  } catch (e) {
    await Fs.rm(tmp, { force: true })
    throw e
  }
}

/**
 * The same, for callers that must not yield (e.g. bookkeeping on a process's exit path) or write a
 * small file every turn: synchronous, on one descriptor (open, write, fstat, close, rename), without
 * a thread-pool round trip and a promise per call or a path lookup per step. The mode is set with
 * fchmod only when the umask cut it.
 */
export const writeFileAtomicSync = (file: string, data: string): FsSync.BigIntStats => {
  const tmp = tempName(file)
  let fd: number | undefined
  try {
    fd = FsSync.openSync(tmp, "wx", PRIVATE_FILE_MODE)
    FsSync.writeFileSync(fd, data)
    let written = FsSync.fstatSync(fd, { bigint: true })
    if ((Number(written.mode) & 0o777) !== PRIVATE_FILE_MODE) {
      FsSync.fchmodSync(fd, PRIVATE_FILE_MODE)
      written = FsSync.fstatSync(fd, { bigint: true })
    }
    FsSync.closeSync(fd)
    fd = undefined
    FsSync.renameSync(tmp, file)
    return written
  } catch (e) {
    // The write's own error is the one to report: a close or a removal that fails too is dropped.
    try {
      if (fd !== undefined) FsSync.closeSync(fd)
      FsSync.rmSync(tmp, { force: true })
    } catch {}
    throw e
  }
}

/**
 * Replaces `file` with `data` only if it still holds `expected`, writing through a symlink (the
 * link stays a link; its target is replaced, keeping the target's mode). False when another
 * writer changed the file meanwhile (nothing is written then). The check and the rename are a
 * few microseconds apart: a writer that takes no lock of ours (a user's `codex mcp add`) can
 * only lose its write inside that window.
 */
export const replaceFileIfUnchanged = async (file: string, expected: string, data: string): Promise<boolean> => {
  const target = await Fs.realpath(file)
  const mode = (await Fs.stat(target)).mode & 0o777
  const tmp = tempName(target)
  try {
    await Fs.writeFile(tmp, data, { mode })
    if ((await Fs.readFile(target, "utf8")) !== expected) {
      await Fs.rm(tmp, { force: true })
      return false
    }
    await Fs.rename(tmp, target)
    return true
  } catch (e) {
    await Fs.rm(tmp, { force: true })
    throw e
  }
}
