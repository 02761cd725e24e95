/**
 * The process groups of running codex processes (PROTOCOL.md §1–§2).
 * Ends a group as a whole (a tool process may outlive codex itself), and keeps
 * a record per running group in `<stateDir>/running/<pgid>.json` so a plugin that
 * starts after a crash can end the groups its dead predecessor left behind.
 */
import { Context } from "effect"
import type { Effect } from "effect"

export interface ProcessGroupsShape {
  /**
   * Records a running group whose leader is `pgid` (a detached child), with the run's mark
   * (src/core/RunMark.ts) when it has one, so the next start can end both after a crash.
   */
  readonly track: (pgid: number, mark?: string) => Effect.Effect<void>
  /** Forgets the record of a group (after it has ended). */
  readonly untrack: (pgid: number) => Effect.Effect<void>
  /** Whether any live (non-zombie) process is still in the group. */
  readonly alive: (pgid: number) => Effect.Effect<boolean>
  /**
   * SIGTERM to the group (and the groups its members' descendants started), then SIGKILL after
   * the grace period (2 s) if anything is still alive. With `mark`, also every process started
   * since the group's leader that carries the run's mark, wherever it is now (a group it leads is
   * ended whole). Bounded: returns at the latest shortly after the SIGKILL. True when anything
   * was still running (nothing is signalled for a group that already ended on its own).
   */
  readonly end: (pgid: number, mark?: string) => Effect.Effect<boolean>
  /** SIGTERM to each of `pids`, then SIGKILL after the grace period to whatever is left (the same pids, not reused ones). */
  readonly endProcesses: (pids: ReadonlyArray<number>) => Effect.Effect<void>
  /**
   * Ends every command codex started for `threadId` that still runs, wherever it is now: codex puts
   * CODEX_THREAD_ID in a command's environment. A command whose spawn was under way as its turn was
   * interrupted is one codex loses track of: `turn/interrupt` does not end it, and once its parent
   * is gone neither does ending codex's group (CODEX.md). Looks only at processes started after
   * the leader of `ownerPgid` (a tracked group; an untracked one that is gone is a warn, nothing
   * else). A group is ended whole only when its leader is one of the thread's commands; any other
   * command is ended on its own, so the owner's group and a group a command merely sits in live
   * on. Not seen: a process between fork and exec (its environment is still its parent's).
   * Returns how many processes it found and ended.
   */
  readonly endThreadCommands: (threadId: string, ownerPgid: number) => Effect.Effect<number>
  /**
   * Ends every recorded group whose recording plugin is no longer running (its pid is
   * gone or now belongs to another process), and what carries its recorded mark, and drops
   * those records. Returns the pgids of the runs where anything was ended.
   */
  readonly reapOrphans: Effect.Effect<ReadonlyArray<number>>
}

export class ProcessGroups extends Context.Tag("ProcessGroups")<ProcessGroups, ProcessGroupsShape>() {}
