/**
 * Where an agent's bridge socket lives (PROTOCOL.md §7, docs/security.md "Sockets"): in a private
 * directory (mode 0700, ours) that no other user can create first, and on a path under the unix
 * socket limit (sun_path is 108 bytes; we keep < 100).
 *
 * 1. `$XDG_RUNTIME_DIR/plexum-openai-provider-<hash of the profile root>/`, when that is set and is
 *    a private directory of ours (the per-user runtime directory systemd makes, 0700);
 * 2. else `<profile>/plugins/plexum-openai-provider/sock/`;
 * 3. else, when both are too long, a directory of the turn's own in /tmp, made by mkdtemp
 *    (`/tmp/plexum-mcp-<pid>-XXXXXX`): a random name created atomically with mode 0700, so no
 *    other user can predict it and create it first (a fixed name there let anyone make every
 *    host-tool turn fail), gone with the turn. The pid in the name lets the next plugin remove
 *    what a SIGKILLed one left (removeStaleTempSocketDirs).
 *
 * In 1 and 2 the path depends only on the profile root and the agent id, so two plugins serving
 * one profile find each other's live listener; in 3 each turn hands its socket's path to its own
 * mcp-host in the run's profile.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { shortHash } from "./ServerName.ts"

export const SOCKET_PATH_LIMIT = 100
const PLUGIN_DIR = Path.join("plugins", "plexum-openai-provider")
/** The prefix of a turn's own socket directory when no fixed one fits: `/tmp/plexum-mcp-XXXXXX`. */
export const TEMP_SOCKET_DIR_PREFIX = "/tmp/plexum-mcp-"

const SOCKET_FILE_NAME_MAX = 16 + 1 + 16 + ".sock".length
/** The agent's socket file name: a readable hint plus a hash of the whole id; never a path separator. */
export const socketFileName = (agentId: string): string =>
  `${agentId.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 16)}-${shortHash(agentId, 16)}.sock`

const uid = (): number => (typeof process.getuid === "function" ? process.getuid() : 0)

const fits = (dir: string) => Buffer.byteLength(dir) + 1 + SOCKET_FILE_NAME_MAX < SOCKET_PATH_LIMIT

/**
 * `$XDG_RUNTIME_DIR` when it can hold private sockets: an absolute path to a directory of ours that
 * no one else may enter (the XDG spec's own requirements). Anything else is not used.
 */
export const usableRuntimeDir = (runtimeDir: string | undefined): string | undefined => {
  if (runtimeDir === undefined || runtimeDir === "" || !Path.isAbsolute(runtimeDir)) return undefined
  try {
    const st = Fs.statSync(runtimeDir)
    return st.isDirectory() && st.uid === uid() && (st.mode & 0o077) === 0 ? Path.resolve(runtimeDir) : undefined
  } catch {
    return undefined
  }
}

/**
 * The profile's fixed socket directory (1 or 2 above), or undefined when neither fits and every
 * turn makes its own in /tmp.
 */
export const socketDirFor = (profileRoot: string, runtimeDir?: string): string | undefined => {
  const runtime = usableRuntimeDir(runtimeDir)
  if (runtime !== undefined) {
    const dir = Path.join(runtime, `plexum-openai-provider-${shortHash(Path.resolve(profileRoot), 12)}`)
    if (fits(dir)) return dir
  }
  const preferred = Path.join(Path.resolve(profileRoot), PLUGIN_DIR, "sock")
  return fits(preferred) ? preferred : undefined
}

/** The agent's socket in the profile's fixed directory; undefined when each turn makes its own. */
export const socketPathFor = (profileRoot: string, agentId: string, runtimeDir?: string): string | undefined => {
  const dir = socketDirFor(profileRoot, runtimeDir)
  return dir === undefined ? undefined : Path.join(dir, socketFileName(agentId))
}

/** A turn's own socket directory in /tmp: mkdtemp's random name, created with mode 0700 in one step. */
export const makeTempSocketDir = (): string => Fs.mkdtempSync(`${TEMP_SOCKET_DIR_PREFIX}${process.pid}-`)

/** A turn's socket directory, or the fork server's (src/core/ForkServer.ts), by the pid of the plugin that made it. */
const TEMP_SOCKET_DIR = /^plexum-(?:mcp|launch)-(\d+)-[A-Za-z0-9]{6}$/

/**
 * Removes the socket directories in /tmp (the turns' and the fork server's) that a plugin which is
 * gone left behind (a SIGKILLed one cannot remove its own): ours by owner, theirs by the dead pid
 * in the name. What was removed.
 */
export const removeStaleTempSocketDirs = (isAlive: (pid: number) => boolean): ReadonlyArray<string> => {
  const tmp = Path.dirname(TEMP_SOCKET_DIR_PREFIX)
  const removed: Array<string> = []
  for (const name of Fs.readdirSync(tmp)) {
    const m = TEMP_SOCKET_DIR.exec(name)
    if (m === null || Number(m[1]) === process.pid || isAlive(Number(m[1]))) continue
    const dir = Path.join(tmp, name)
    try {
      const st = Fs.lstatSync(dir)
      if (!st.isDirectory() || st.uid !== uid()) continue
      Fs.rmSync(dir, { recursive: true, force: true })
      removed.push(dir)
    } catch {
      // gone meanwhile, or not ours to remove
    }
  }
  return removed
}

/**
 * Creates the socket directory with mode 0700, or repairs its mode. Refuses a
 * symlink, a non-directory, or a directory another user owns, since our sockets
 * would then be reachable by them.
 */
export const ensurePrivateDir = (dir: string): void => {
  Fs.mkdirSync(Path.dirname(dir), { recursive: true })
  try {
    Fs.mkdirSync(dir, { mode: 0o700 })
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
  }
  const st = Fs.lstatSync(dir)
  if (st.isSymbolicLink() || !st.isDirectory()) throw new Error(`${dir} is not a directory`)
  if (st.uid !== uid()) throw new Error(`${dir} belongs to another user (uid ${st.uid})`)
  if ((st.mode & 0o777) !== 0o700) Fs.chmodSync(dir, 0o700)
}

/**
 * Removes `dir` if it is empty. rmdir is atomic: a directory holding another turn's socket stays
 * (ENOTEMPTY), and one already gone is fine. A turn that finds it gone between preparing it and
 * binding prepares it again (ToolBridgeLive).
 */
export const removeDirIfEmpty = (dir: string): void => {
  try {
    Fs.rmdirSync(dir)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code !== "ENOTEMPTY" && code !== "EEXIST" && code !== "ENOENT") throw e
  }
}
