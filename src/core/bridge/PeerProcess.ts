/**
 * Which process is on the other end of an accepted unix socket, and whether it descends from a
 * given process (the bridge's second check after the turn token, PROTOCOL.md §7: the peer must be
 * the turn's codex or one of its children, e.g. the mcp-host codex started).
 *
 * Node has no SO_PEERCRED, and /proc alone does not say which socket is connected to which
 * (/proc/net/unix lists no peers). On Linux the socket's inode is `/proc/self/fd/<fd>` →
 * `socket:[N]`; `ss` (iproute2, through the kernel's sock_diag) names the peer's inode for it; and a
 * process holding the peer end has a `/proc/<pid>/fd/*` link to `socket:[peer]`. Only the
 * candidate's descendants are searched.
 *
 * ss prints socket names as they are, newlines included, and any local user can bind a socket to
 * any abstract name: read whole, its output is text an attacker writes into. So ss is asked only
 * about sockets bound to the bridge's own path (`src <pattern>`), whose names cannot hold a newline,
 * and every line must have exactly the shape of such a socket, or nothing is believed. Whatever
 * cannot be learned (no /proc, no `ss`, output not understood) is `unknown`: the bridge refuses
 * such a peer's calls unless the operator turned the check off (docs/security.md).
 *
 * The turn's own processes are read synchronously: a few small /proc files each (a codex with its
 * threads, mcp-host), well under a millisecond of waiting, where the same reads through promises
 * cost about ten times the CPU (a host-tool turn's check: 21 → 9 ms of CPU, most of what is left is
 * starting `ss`; docs/benchmarks.md, "The plugin's own CPU per turn"). The look at every process
 * (descendantsFromParents) stays asynchronous: hundreds of files on a busy machine.
 */
import { execFile } from "node:child_process"
import * as FsSync from "node:fs"
import * as Fs from "node:fs/promises"
import type * as Net from "node:net"
import { helperPath } from "../HelperCommands.ts"

export type PeerAncestry =
  | { readonly kind: "descends"; readonly pid: number }
  | { readonly kind: "foreign" }
  | { readonly kind: "unknown"; readonly reason: string }

const readlinkOrEmpty = (path: string): string => {
  try {
    return FsSync.readlinkSync(path)
  } catch {
    return ""
  }
}

const socketInodeOfFd = (fdPath: string): number | undefined => {
  const m = /^socket:\[(\d+)\]$/.exec(readlinkOrEmpty(fdPath))
  return m === null ? undefined : Number(m[1])
}

/** The fd of a socket accepted by a `net.Server` (an internal of Node's pipe handle). */
const fdOf = (socket: Net.Socket): number | undefined => {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd
  return typeof fd === "number" && fd >= 0 ? fd : undefined
}

/** ss answers in milliseconds; this only bounds a hung one (the peer is then refused). */
const SS_TIMEOUT_MS = 10_000
/** The filtered listing holds this socket's connections only: a few hundred bytes each. */
const SS_MAX_OUTPUT = 1 << 20

/** Runs a short command to its end and gives its stdout; `execFile` forks the plugin for it. */
export type RunCommand = (file: string, args: ReadonlyArray<string>, limits: { readonly timeoutMs: number; readonly maxBytes: number }) => Promise<string>

export const execFileOutput: RunCommand = (file, args, limits) =>
  new Promise<string>((resolve, reject) =>
    execFile(file, [...args], { timeout: limits.timeoutMs, maxBuffer: limits.maxBytes, encoding: "utf8" }, (e, out) => (e ? reject(e) : resolve(out)))
  )

/** Characters that stand for themselves in both ss's filter syntax and a glob. */
const PLAIN = /[A-Za-z0-9/._-]/

/**
 * The `ss … src <pattern>` that lists the sockets bound to `socketPath`: ss matches it with
 * fnmatch(FNM_CASEFOLD), and its filter parser splits on spaces, so every other character becomes
 * `?` (any one character). A name matching it has our path's length and our path's characters
 * everywhere else: too little room to forge a line.
 */
export const ssSourcePattern = (socketPath: string): string => [...socketPath].map((c) => (PLAIN.test(c) ? c : "?")).join("")

const escapeRegExp = (c: string) => c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")

export type SsPeer = { readonly kind: "peer"; readonly inode: number } | { readonly kind: "unreadable"; readonly reason: string }

/**
 * The peer inode of unix socket `local` from `ss -xnH src <ssSourcePattern(socketPath)>`. Every
 * line must read `u_str <state> <recv-q> <send-q> <our path> <inode> * <peer inode>` (ss names no
 * peer of a socket it lists through sock_diag); any other line means the listing is not what this
 * expects (an older ss, a /proc fallback without peers, a name that was not ours), and then no
 * line is trusted.
 */
export const peerInodeFromSs = (ssOutput: string, local: number, socketPath: string): SsPeer => {
  const path = [...ssSourcePattern(socketPath)].map((c) => (c === "?" ? "[^\\n]" : escapeRegExp(c))).join("")
  const shape = new RegExp(`^u_str[ \\t]+\\S+[ \\t]+\\d+[ \\t]+\\d+[ \\t]+${path}[ \\t]+(\\d+)[ \\t]+\\*[ \\t]+(\\d+)[ \\t]*$`, "i")
  const peers: Array<number> = []
  for (const line of ssOutput.split("\n")) {
    if (line.trim() === "") continue
    const m = shape.exec(line)
    if (m === null) return { kind: "unreadable", reason: `ss printed a line not understood: ${JSON.stringify(line.slice(0, 200))}` }
    if (Number(m[1]) === local) peers.push(Number(m[2]))
  }
  if (peers.length !== 1) return { kind: "unreadable", reason: `ss lists socket ${local} ${peers.length} times` }
  const peer = peers[0]!
  return peer > 0 ? { kind: "peer", inode: peer } : { kind: "unreadable", reason: `ss names no peer of socket ${local}` }
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
/**
 * The direct children of `pid` from `/proc/<pid>/task/<tid>/children` (each thread lists those it
 * started); undefined where the kernel does not offer these files.
 */
const childrenOf = (pid: number): Array<number> | undefined => {
  let tasks: Array<string>
  try {
    tasks = FsSync.readdirSync(`/proc/${pid}/task`)
  } catch {
    return []
  }
  const lists = tasks.map((tid) => {
    try {
      return FsSync.readFileSync(`/proc/${pid}/task/${tid}/children`, "latin1")
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === "ENOENT" ? undefined : ""
    }
  })
  if (lists.some((l) => l === undefined) && lists.length > 0 && lists.every((l) => l === undefined)) return undefined
  return lists.flatMap((l) => (l ?? "").split(" ").filter((x) => x !== "").map(Number))
}

/**
 * `ancestor` and every process below it: walked down from it through each process's children
 * (a few small files for a turn's codex), or, where the kernel has no children files, from every
 * process's parent (hundreds of files on a busy machine, which under 64 turns at once made the
 * check slower than mcp-host waits for it).
 */
export const descendantsOf = async (ancestor: number): Promise<Array<number>> => {
  const out: Array<number> = []
  const queue = [ancestor]
  while (queue.length > 0) {
    const pid = queue.shift()!
    if (out.includes(pid)) continue
    const children = childrenOf(pid)
    if (children === undefined) return descendantsFromParents(ancestor)
    out.push(pid)
    queue.push(...children)
  }
  return out
}

const descendantsFromParents = async (ancestor: number): Promise<Array<number>> => {
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

const holdsSocket = (pid: number, inode: number): boolean => {
  let fds: Array<string>
  try {
    fds = FsSync.readdirSync(`/proc/${pid}/fd`)
  } catch {
    return false
  }
  for (const fd of fds) if (socketInodeOfFd(`/proc/${pid}/fd/${fd}`) === inode) return true
  return false
}

/**
 * Whether the process at the other end of `socket` (accepted on the listener bound to
 * `socketPath`) is `ancestor` or descends from it.
 */
export const peerAncestry = async (
  socket: Net.Socket,
  ancestor: number,
  socketPath: string,
  run: RunCommand = execFileOutput
): Promise<PeerAncestry> => {
  if (process.platform !== "linux") return { kind: "unknown", reason: `no /proc on ${process.platform}` }
  const fd = fdOf(socket)
  if (fd === undefined) return { kind: "unknown", reason: "the accepted socket has no file descriptor" }
  const local = socketInodeOfFd(`/proc/self/fd/${fd}`)
  if (local === undefined) return { kind: "unknown", reason: `fd ${fd} is not a socket in /proc/self/fd` }
  const ss = helperPath("ss")
  if (ss === undefined) return { kind: "unknown", reason: "the `ss` command (iproute2) is not installed" }
  let listing: string
  try {
    listing = await run(ss, ["-xnH", "src", ssSourcePattern(socketPath)], { timeoutMs: SS_TIMEOUT_MS, maxBytes: SS_MAX_OUTPUT })
  } catch (e) {
    return { kind: "unknown", reason: `${ss} failed: ${(e as Error).message.split("\n")[0]}` }
  }
  const peer = peerInodeFromSs(listing, local, socketPath)
  if (peer.kind === "unreadable") return { kind: "unknown", reason: peer.reason }
  const walked = await descendantsOf(ancestor)
  for (const pid of walked) if (holdsSocket(pid, peer.inode)) return { kind: "descends", pid }
  // The children files can miss a process whose forking thread has just exited: before calling a
  // peer foreign, look again from every process's parent.
  for (const pid of await descendantsFromParents(ancestor)) {
    if (!walked.includes(pid) && holdsSocket(pid, peer.inode)) return { kind: "descends", pid }
  }
  return { kind: "foreign" }
}
