// Which processes are alive, read from /proc (Linux): tests use it to check that no codex or
// mcp-host process of a turn outlives it. Match on something unique to the test (its workspace
// or CODEX_HOME path, a marker argument): test files run in parallel and start codex too.
import { readdirSync, readFileSync } from "node:fs"

export interface ProcessInfo {
  readonly pid: number
  /** argv joined with spaces. */
  readonly cmdline: string
  readonly pgid: number
}

const readProcess = (pid: number): ProcessInfo | undefined => {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0+$/, "").split("\0").join(" ")
    if (cmdline === "") return undefined // kernel thread or zombie
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // "pid (comm) state ppid pgrp ..." — comm may contain spaces and parentheses
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    if (fields[0] === "Z") return undefined // exited, waiting to be reaped: not running anything
    return { pid, cmdline, pgid: Number(fields[2]) }
  } catch {
    return undefined // gone meanwhile
  }
}

/** Whether `pid` runs (a zombie, exited and waiting to be reaped, does not). */
export const isRunning = (pid: number): boolean => readProcess(pid) !== undefined

/** Live processes (not this one) whose command line matches `pattern`. */
export const processesMatching = (pattern: RegExp): Array<ProcessInfo> =>
  readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => pid !== process.pid)
    .flatMap((pid) => {
      const info = readProcess(pid)
      return info && pattern.test(info.cmdline) ? [info] : []
    })

/**
 * Polls until no process matches `pattern` or `timeoutMs` passes; resolves with the survivors
 * (empty when all are gone), so a test can `expect(await waitForNoProcesses(re, 5000)).toEqual([])`.
 */
export const waitForNoProcesses = async (pattern: RegExp, timeoutMs: number): Promise<Array<ProcessInfo>> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const found = processesMatching(pattern)
    if (found.length === 0 || Date.now() >= deadline) return found
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Polls `check` until it holds or `timeoutMs` passes; resolves with whether it held. */
export const waitFor = async (check: () => boolean, timeoutMs: number): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (check()) return true
    if (Date.now() >= deadline) return false
    await new Promise((r) => setTimeout(r, 50))
  }
}
