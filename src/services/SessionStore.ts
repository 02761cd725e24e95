/**
 * Which codex thread each agent last ran in each workspace, remembered across
 * plugin restarts (PROTOCOL.md §4 "Which codex thread a turn uses"). (A thread's token
 * total, the baseline of a turn's usage, is read from its rollout: see RolloutStore.lastUsageTotal.)
 *
 * Failing to read or write this memory never fails a turn: the methods log a
 * warning and carry on (a turn then starts a new thread).
 */
import { Context } from "effect"
import type { Effect, Option } from "effect"
import type { SessionRecord } from "../schemas/SessionRecord.ts"

export interface SessionStoreShape {
  /** The thread the agent's next turn in this workspace resumes by default. */
  readonly lastThread: (agentId: string, workspace: string) => Effect.Effect<Option.Option<string>>
  /** Records `threadId` as the agent's current thread (call it as soon as `thread.started` arrives). */
  readonly remember: (agentId: string, workspace: string, threadId: string) => Effect.Effect<void>
  /** Every remembered (agent, workspace) record, and the record files that cannot be read (`rollout list`). */
  readonly list: () => Effect.Effect<SessionListing>
}

export interface SessionListing {
  /** Where the records are. */
  readonly dir: string
  /** In file-name order. */
  readonly records: ReadonlyArray<SessionRecord>
  readonly unreadable: ReadonlyArray<string>
}

export class SessionStore extends Context.Tag("SessionStore")<SessionStore, SessionStoreShape>() {}
