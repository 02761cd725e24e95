/**
 * Which codex thread each agent last ran in each workspace, remembered across
 * plugin restarts (PROTOCOL.md §4 "Which codex thread a turn uses"), and each
 * thread's cumulative token total so a turn's usage can be reported as a difference.
 *
 * Failing to read or write this memory never fails a turn: the methods log a
 * warning and carry on (a turn then starts a new thread, or reports the total).
 */
import { Context } from "effect"
import type { Effect, Option } from "effect"
import type { Usage } from "../schemas/Protocol.ts"
import type { SessionRecord } from "../schemas/SessionRecord.ts"

export interface SessionStoreShape {
  /** The thread the agent's next turn in this workspace resumes by default. */
  readonly lastThread: (agentId: string, workspace: string) => Effect.Effect<Option.Option<string>>
  /** Records `threadId` as the agent's current thread (call it as soon as `thread.started` arrives). */
  readonly remember: (agentId: string, workspace: string, threadId: string) => Effect.Effect<void>
  /** codex's cumulative usage of the thread after its last turn run by this plugin. */
  readonly usageTotal: (threadId: string) => Effect.Effect<Option.Option<Usage>>
  readonly rememberUsageTotal: (threadId: string, total: Usage) => Effect.Effect<void>
  /** Every remembered (agent, workspace) record. */
  readonly list: () => Effect.Effect<ReadonlyArray<SessionRecord>>
}

export class SessionStore extends Context.Tag("SessionStore")<SessionStore, SessionStoreShape>() {}
