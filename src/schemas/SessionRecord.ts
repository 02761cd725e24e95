/**
 * What the plugin remembers about the codex threads it ran, one JSON file per
 * (agentId, workspace) pair at `<stateDir>/sessions/<sha256(agentId + "\0" + workspace) hex>.json`.
 * Written when codex announces `thread.started`; read to resume the last thread and by `rollout list`.
 */
import { Schema } from "effect"

export const SessionRecord = Schema.Struct({
  agentId: Schema.String,
  workspace: Schema.String,
  /** The thread the next turn resumes unless the request says otherwise. */
  lastThreadId: Schema.String,
  /** Every thread run for this agent and workspace, oldest first. */
  threads: Schema.Array(
    Schema.Struct({ threadId: Schema.String, startedAt: Schema.String, lastTurnAt: Schema.String })
  )
})
export type SessionRecord = typeof SessionRecord.Type
