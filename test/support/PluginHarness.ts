// One end-to-end setup for tests that drive the real plugin running the real codex: a scripted
// model server on loopback, a temp CODEX_HOME, a temp profile whose config points codex at that
// server, a temp workspace, and the reference host. `dispose` ends and removes all of it.
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { codexBin, codexOfflineArgs, makeTempCodexHome } from "./CodexOffline.ts"
import { makeProfile, type ReferenceHost, startReferenceHost } from "./ReferenceHost.ts"
import { assistantMessage, functionCall, type ModelRequest, type ScriptedResponse, startScriptedModelServer, type ScriptedModelServer } from "./ScriptedModelServer.ts"

export interface PluginHarness {
  readonly host: ReferenceHost
  readonly model: ScriptedModelServer
  readonly codexHome: string
  readonly profileRoot: string
  readonly workspace: string
  /** A `provider/stream` params object for `agentId` in this workspace. */
  streamParams(turnId: string, request: Record<string, unknown>, agentId?: string): Record<string, unknown>
  /** Runs a turn and resolves with its response and its events by seq. */
  turn(turnId: string, request: Record<string, unknown>, agentId?: string): Promise<{ response: any; events: Array<any> }>
  dispose(): Promise<void>
}

export const startPluginHarness = async (
  script: (req: ModelRequest) => ScriptedResponse | Promise<ScriptedResponse>,
  opts: {
    config?: Record<string, unknown>
    env?: Record<string, string>
    /** The config's extra_args from the model server's URL (default: codexOfflineArgs). */
    extraArgs?: (baseUrl: string) => ReadonlyArray<string>
    /** Where the profile goes (makeProfile's options); default a fresh temp directory. */
    profile?: Parameters<typeof makeProfile>[1]
    /** Runs before the plugin starts, e.g. to leave files in the profile. */
    beforeStart?: (profileRoot: string) => Promise<void> | void
    /** How the plugin is started (startReferenceHost's `command`, `cwd`). */
    command?: ReadonlyArray<string>
    cwd?: string
  } = {}
): Promise<PluginHarness> => {
  const model = await startScriptedModelServer(script)
  const codexHome = await makeTempCodexHome()
  const workspace = await mkdtemp(join(tmpdir(), "plexum-ws-"))
  const extraArgs = (opts.extraArgs ?? codexOfflineArgs)(model.baseUrl)
  const profile = await makeProfile({ binary: codexBin, extra_args: extraArgs, ...opts.config }, opts.profile)
  await opts.beforeStart?.(profile.root)
  const host = await startReferenceHost({
    env: { PLEXUM_PROFILE_ROOT: profile.root, CODEX_HOME: codexHome.dir, ...opts.env },
    ...(opts.command === undefined ? {} : { command: opts.command }),
    ...(opts.cwd === undefined ? {} : { cwd: opts.cwd })
  })
  const init = await host.initialize()
  if (init.error) throw new Error(`initialize failed: ${JSON.stringify(init.error)}`)
  const streamParams = (turnId: string, request: Record<string, unknown>, agentId = "agent-1") => ({
    turnId,
    modelId: "codex",
    agent: { agentId, workspace },
    request
  })
  return {
    host,
    model,
    codexHome: codexHome.dir,
    profileRoot: profile.root,
    workspace,
    streamParams,
    turn: async (turnId, request, agentId) => {
      const response = await host.request("provider/stream", streamParams(turnId, request, agentId))
      return { response, events: [...host.eventsOf(turnId)] }
    },
    dispose: async () => {
      await host.dispose()
      await model.close()
      await codexHome.cleanup()
      await profile.cleanup()
      await rm(workspace, { recursive: true, force: true })
    }
  }
}

export const userMessage = (text: string) => ({ role: "user", content: text })

/**
 * The model's script for a thread in use: the first turn runs one shell call (`callId`) and
 * answers; every later model request hangs, so the next turn stays running on that thread.
 */
export const threadInUseScript = (callId: string) => (req: ModelRequest): ScriptedResponse =>
  req.index === 0
    ? { items: [functionCall("exec_command", { cmd: `echo ${callId}` }, { callId })] }
    : req.index === 1
      ? { items: [assistantMessage("done")] }
      : { hang: true }

/**
 * With `threadInUseScript`: runs turn t1 to its end, then starts t2 on the same thread and waits
 * until it runs. `running` is t2's pending response.
 */
export const holdThreadWithRunningTurn = async (h: PluginHarness) => {
  const first = await h.turn("t1", { messages: [userMessage("run")] })
  const threadId: string = first.response.result.threadId
  const running = h.host.request("provider/stream", h.streamParams("t2", { messages: [userMessage("more")] }))
  await h.host.waitForEvent("t2", (e) => e.type === "turn.started", 30_000)
  return { agent: { agentId: "agent-1", workspace: h.workspace }, threadId, running }
}
