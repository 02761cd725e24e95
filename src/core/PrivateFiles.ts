/**
 * The modes of everything the plugin keeps for itself (docs/security.md "State"): directories 0700,
 * files 0600, whatever the umask of the process that started the plugin. The session records name
 * agents, workspaces and threads, the app-server records hold whole tool specs: nothing another
 * local user should read. Every write of plugin state goes through these helpers (and
 * src/core/AtomicFile.ts), so a mode is decided here once rather than at each call site.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"

export const PRIVATE_DIR_MODE = 0o700
export const PRIVATE_FILE_MODE = 0o600

/**
 * `mkdir -p dir`, each directory it creates 0700; `dir` itself repaired to 0700 when it exists with
 * another mode. Directories above `dir` that already exist are left as they are (a profile root is
 * the host's). The mode is set with chmod after mkdir: mkdir's own mode is cut by the umask.
 */
export const ensurePrivateDirSync = (dir: string): void => {
  const missing: Array<string> = []
  for (let d = Path.resolve(dir); !Fs.existsSync(d); d = Path.dirname(d)) {
    missing.unshift(d)
    if (Path.dirname(d) === d) break
  }
  for (const d of missing) {
    try {
      Fs.mkdirSync(d, { mode: PRIVATE_DIR_MODE })
    } catch (e) {
      // Another plugin (or turn) made it meanwhile: its mode is repaired below like any other.
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
    }
    Fs.chmodSync(d, PRIVATE_DIR_MODE)
  }
  if (missing.length === 0) repairMode(dir, PRIVATE_DIR_MODE)
}

/** Sets `mode` on `path` if it differs (a directory only as a directory, never through a symlink). */
const repairMode = (path: string, mode: number): boolean => {
  const st = Fs.lstatSync(path)
  if (st.isSymbolicLink() || (st.mode & 0o777) === mode) return false
  Fs.chmodSync(path, mode)
  return true
}

/**
 * Makes an existing tree private: `root` and every directory in it 0700, every regular file 0600.
 * Symlinks, sockets and other kinds are left alone, and nothing is followed out of the tree. What
 * another user owns cannot be changed and is reported in `failed`. The paths repaired and those
 * that could not be; a missing `root` is nothing to do.
 */
export const privatizeTree = (root: string): { readonly repaired: ReadonlyArray<string>; readonly failed: ReadonlyArray<string> } => {
  const repaired: Array<string> = []
  const failed: Array<string> = []
  const visit = (path: string) => {
    let st: Fs.Stats
    try {
      st = Fs.lstatSync(path)
    } catch {
      return // gone meanwhile
    }
    const mode = st.isDirectory() ? PRIVATE_DIR_MODE : st.isFile() ? PRIVATE_FILE_MODE : undefined
    if (mode === undefined) return
    if ((st.mode & 0o777) !== mode) {
      try {
        Fs.chmodSync(path, mode)
        repaired.push(path)
      } catch {
        failed.push(path)
      }
    }
    if (!st.isDirectory()) return
    let names: Array<string> = []
    try {
      names = Fs.readdirSync(path)
    } catch {
      failed.push(path)
    }
    for (const name of names) visit(Path.join(path, name))
  }
  visit(root)
  return { repaired, failed }
}
