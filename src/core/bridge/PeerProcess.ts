/**
 * Which process is on the other end of an accepted unix socket, and whether it descends from a
 * given process (the bridge's second check after the turn token, PROTOCOL.md §7: the peer must be
 * the turn's codex or one of its children, e.g. the mcp-host codex started).
 *
 * Node has no SO_PEERCRED. On Linux the socket's inode is `/proc/self/fd/<fd>` → `socket:[N]`;
 * `ss -x` (iproute2, kernel sock_diag) names the peer's inode for it; and a process holding the peer
 * end has a `/proc/<pid>/fd/*` link to `socket:[peer]`. Only the candidate's descendants are
 * searched. Anything that cannot be learned (no /proc, no `ss`, no fd) answers `unknown`. `ss` is
 * run by absolute path (src/core/HelperCommands.ts).
 */
import { execFile } from "node:child_process"
import * as Fs from "node:fs/promises"
import type * as Net from "node:net"
import { helperPath } from "../HelperCommands.ts"

export type PeerAncestry =
  | { readonly kind: "descends"; readonly pid: number }
  | { readonly kind: "foreign" }
  | { readonly kind: "unknown"; readonly reason: string }

const socketInodeOfFd = async (fdPath: string): Promise<number | undefined> => {
  const m = /^socket:\[(\d+)\]$/.exec(await Fs.readlink(fdPath).catch(() => ""))
  return m === null ? undefined : Number(m[1])
}

/** The fd of a socket accepted by a `net.Server` (an internal of Node's pipe handle). */
const fdOf = (socket: Net.Socket): number | undefined => {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd
  return typeof fd === "number" && fd >= 0 ? fd : undefined
}

const run = (file: string, args: ReadonlyArray<string>) =>
  new Promise<string>((resolve, reject) =>
    execFile(file, [...args], { timeout: 5_000, maxBuffer: 16 << 20, encoding: "utf8" }, (e, out) => (e ? reject(e) : resolve(out)))
  )

/** The peer inode of unix socket `local` from `ss -xnH`: lines end `<local inode> <peer addr> <peer inode>`. */
export const peerInodeFromSs = (ssOutput: string, local: number): number | undefined => {
  for (const line of ssOutput.split("\n")) {
    const t = line.trim().split(/\s+/)
    if (t.length >= 3 && Number(t[t.length - 3]) === local) {
      const peer = Number(t[t.length - 1])
      return Number.isInteger(peer) && peer > 0 ? peer : undefined
    }
  }
  return undefined
}

/** pid → parent pid for every process we may read. */
const parents = async (): Promise<Map<number, number>> => {
  const map = new Map<number, number>()
  for (const name of await Fs.readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue
    const stat = await Fs.readFile(`/proc/${name}/stat`, "utf8").catch(() => undefined)
    if (stat === undefined) continue
    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses: read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
    if (Number.isInteger(ppid)) map.set(Number(name), ppid)
  }
  return map
}

/** `ancestor` and every process below it. */
export const descendantsOf = async (ancestor: number): Promise<Array<number>> => {
  const byParent = new Map<number, Array<number>>()
  for (const [pid, ppid] of await parents()) byParent.set(ppid, [...(byParent.get(ppid) ?? []), pid])
  const out: Array<number> = []
  const queue = [ancestor]
  while (queue.length > 0) {
    const pid = queue.shift()!
    if (out.includes(pid)) continue
    out.push(pid)
    queue.push(...(byParent.get(pid) ?? []))
  }
  return out
}

const holdsSocket = async (pid: number, inode: number): Promise<boolean> => {
  const fds = await Fs.readdir(`/proc/${pid}/fd`).catch(() => [] as Array<string>)
  for (const fd of fds) if ((await socketInodeOfFd(`/proc/${pid}/fd/${fd}`)) === inode) return true
  return false
}

/** Whether the process at the other end of `socket` is `ancestor` or descends from it. */
export const peerAncestry = async (socket: Net.Socket, ancestor: number): Promise<PeerAncestry> => {
  if (process.platform !== "linux") return { kind: "unknown", reason: `no /proc on ${process.platform}` }
  const fd = fdOf(socket)
  if (fd === undefined) return { kind: "unknown", reason: "the accepted socket has no file descriptor" }
  const local = await socketInodeOfFd(`/proc/self/fd/${fd}`)
  if (local === undefined) return { kind: "unknown", reason: `fd ${fd} is not a socket in /proc/self/fd` }
  const ssPath = helperPath("ss")
  if (ssPath === undefined) return { kind: "unknown", reason: "the `ss` command (iproute2) is not installed" }
  let ss: string
  try {
    ss = await run(ssPath, ["-xnH"])
  } catch (e) {
    return { kind: "unknown", reason: `cannot run ss (iproute2): ${(e as Error).message}` }
  }
  const peer = peerInodeFromSs(ss, local)
  if (peer === undefined) return { kind: "unknown", reason: `ss does not list socket ${local}` }
  for (const pid of await descendantsOf(ancestor)) if (await holdsSocket(pid, peer)) return { kind: "descends", pid }
  return { kind: "foreign" }
}
