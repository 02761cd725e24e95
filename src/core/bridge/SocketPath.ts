/**
 * Where an agent's bridge socket lives (PROTOCOL.md §7): a private directory
 * (mode 0700) under the profile, a path that depends only on the profile root and
 * the agent id, and stays under the unix socket limit (~104 bytes; we keep < 100).
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { shortHash } from "./ServerName.ts"

export const SOCKET_PATH_LIMIT = 100
const PLUGIN_DIR = Path.join("plugins", "plexum-openai-provider")

const SOCKET_FILE_NAME_MAX = 16 + 1 + 16 + ".sock".length
/** The agent's socket file name: a readable hint plus a hash of the whole id; never a path separator. */
const socketFileName = (agentId: string): string =>
  `${agentId.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 16)}-${shortHash(agentId, 16)}.sock`

const uid = (): number => (typeof process.getuid === "function" ? process.getuid() : 0)

/**
 * `<profile>/plugins/plexum-openai-provider/sock` when the whole path fits;
 * otherwise a per-user, per-profile directory in /tmp (not $TMPDIR, which can be
 * long and can differ between processes that must agree).
 */
export const socketDirFor = (profileRoot: string): string => {
  const preferred = Path.join(Path.resolve(profileRoot), PLUGIN_DIR, "sock")
  if (Buffer.byteLength(preferred) + 1 + SOCKET_FILE_NAME_MAX < SOCKET_PATH_LIMIT) return preferred
  return Path.join("/tmp", `plexum-mcp-${uid()}-${shortHash(Path.resolve(profileRoot), 12)}`)
}

export const socketPathFor = (profileRoot: string, agentId: string): string =>
  Path.join(socketDirFor(profileRoot), socketFileName(agentId))

/**
 * Creates the socket directory with mode 0700, or repairs its mode. Refuses a
 * symlink, a non-directory, or a directory another user owns (someone squatting
 * the name in /tmp), since our sockets would then be reachable by them.
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
