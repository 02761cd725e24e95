/**
 * What the plugin remembers about the codex threads it ran, one file per (agentId, workspace) pair
 * at `<stateDir>/sessions/<sha256(agentId + "\0" + workspace) hex>.json`. Written when codex
 * announces `thread.started`; read to resume the last thread and by `rollout list`.
 *
 * The file is JSON lines: a whole SessionRecord first, then one SessionTurnLine per turn since
 * (appended: a turn does not rewrite the record). The record is the first line with the turn lines
 * applied in order. Files written before the turn lines were kept hold the record alone, on one line
 * or indented.
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

/** A turn ran on `threadId` at `at` (ISO time): it is the last thread now, listed once. */
export const SessionTurnLine = Schema.Struct({ threadId: Schema.String, at: Schema.String })
export type SessionTurnLine = typeof SessionTurnLine.Type
