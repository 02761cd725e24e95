/**
 * The one place a turn's thread is chosen, for both engines (PROTOCOL.md §4): `session.fresh` →
 * a new thread; `session.threadId`, else the agent's last thread in this workspace → resumed when
 * codex has its rollout and the turn's engine can go on with it under the turn's tools. Otherwise
 * the turn starts a new thread carrying the conversation as a transcript, with a notice naming
 * the thread that was asked for: not an error. The engines load what is chosen here; they do not
 * choose again.
 */
import { Effect, Either, Option } from "effect"
import type { StreamParams, ToolSpec, TurnEvent } from "../../schemas/Protocol.ts"

/** The thread a turn resumes, and the notices that explain a thread it could not. */
export interface ThreadChoice {
  readonly resume: Option.Option<{ readonly threadId: string; readonly rolloutPath: string }>
  readonly notices: ReadonlyArray<TurnEvent>
}

export interface ThreadChoiceDeps {
  /** The agent's last thread in this workspace (SessionStore). */
  readonly lastThread: (agentId: string, workspace: string) => Effect.Effect<Option.Option<string>>
  /** The thread's rollout in CODEX_HOME (RolloutStore). */
  readonly findRollout: (threadId: string) => Effect.Effect<string, { readonly _tag: string; readonly message: string }>
}

/**
 * Whether the turn's engine can go on with the thread under these tools (`TurnEngine.keepsThread`);
 * absent: it always can.
 */
export type KeepsThread = (threadId: string, tools: ReadonlyArray<ToolSpec>) => Effect.Effect<boolean>

const NEW: ThreadChoice = { resume: Option.none(), notices: [] }

const newThreadWith = (message: string, level: "info" | "warn"): ThreadChoice => ({
  resume: Option.none(),
  notices: [{ type: "notice", level, message }]
})

export const chooseThread = (deps: ThreadChoiceDeps) => (params: StreamParams, keepsThread?: KeepsThread): Effect.Effect<ThreadChoice> =>
  Effect.gen(function* () {
    const session = params.request.session ?? {}
    if (session.fresh) return NEW
    const wanted = session.threadId ?? Option.getOrUndefined(yield* deps.lastThread(params.agent.agentId, params.agent.workspace))
    if (wanted === undefined) return NEW
    const found = yield* Effect.either(deps.findRollout(wanted))
    if (Either.isLeft(found)) {
      if (found.left._tag === "RolloutReadError") {
        yield* Effect.logWarning(`cannot look for the rollout of thread ${wanted}: ${found.left.message}`)
      }
      return newThreadWith(
        `thread ${wanted} cannot be resumed (no rollout for it in CODEX_HOME): this turn starts a new thread carrying the conversation so far`,
        "warn"
      )
    }
    if (keepsThread !== undefined && !(yield* keepsThread(wanted, params.request.tools ?? []))) {
      // The app-server engine: codex fixes a thread's dynamic tools (a fork keeps them too), so the
      // conversation moves to a new thread and the model is offered exactly this turn's tools.
      return newThreadWith(`the turn's tools differ from those of thread ${wanted}; the conversation continues on a new thread with its transcript`, "info")
    }
    return { resume: Option.some({ threadId: wanted, rolloutPath: found.right }), notices: [] }
  })
