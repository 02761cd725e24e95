// session/mutate against a thread another codex process is writing (PROTOCOL.md §5): codex holds its
// writer lock on `$CODEX_HOME/thread-writer-locks/<threadId>.lock` while it runs, so the mutation
// waits its bound, answers -32007 and changes nothing; once that codex has ended it applies.
// Holders: a `codex exec resume` started outside the plugin, and a turn of a second plugin process.
// `npm run compat` runs it against other versions (skipped before 0.151.0: no locks).
import { spawn, spawnSync, execFileSync } from "node:child_process"
import { readFile, stat } from "node:fs/promises"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { codexAtLeast } from "../support/CodexVersion.ts"
import { codexBin, codexOfflineArgs } from "../support/CodexOffline.ts"
import { type PluginHarness, startPluginHarness, userMessage } from "../support/PluginHarness.ts"
import { type ReferenceHost, startReferenceHost } from "../support/ReferenceHost.ts"
import { assistantMessage, functionCall, type ModelRequest } from "../support/ScriptedModelServer.ts"

const codex = codexBin

let harness: PluginHarness | undefined
let second: ReferenceHost | undefined
afterEach(async () => {
  await second?.dispose()
  second = undefined
  await harness?.dispose()
  harness = undefined
})

/** Turn 1 runs a command and answers; every later model request hangs (the thread stays busy). */
const script = (req: ModelRequest) =>
  req.index === 0
    ? { items: [functionCall("exec_command", { cmd: "echo locked-out-3318" }, { callId: "call_lock" })] }
    : req.index === 1
      ? { items: [assistantMessage("done")] }
      : ({ hang: true } as const)

const isLocked = (file: string) => spawnSync("flock", ["-x", "-n", "-E", "75", file, "true"]).status === 75

const waitUntil = async (what: string, check: () => boolean, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const firstTurn = async (h: PluginHarness) => {
  const first = await h.turn("t1", { messages: [userMessage("run")] })
  expect(first.response.result.status).toBe("completed")
  const threadId: string = first.response.result.threadId
  const rollout = execFileSync("find", [h.codexHome + "/sessions", "-name", `rollout-*-${threadId}.jsonl`], { encoding: "utf8" }).trim()
  return { threadId, rollout, lock: join(h.codexHome, "thread-writer-locks", `${threadId}.lock`) }
}

const mutate = (h: PluginHarness, threadId: string) =>
  h.host.request("session/mutate", { agent: { agentId: "agent-1", workspace: h.workspace }, threadId, mutations: [{ blockId: "call_lock", op: "light" }] })

/** Asserts -32007 and that the rollout is the very same file with the very same bytes. */
const expectRefused = async (h: PluginHarness, threadId: string, rollout: string) => {
  const [bytes, inode] = [await readFile(rollout), (await stat(rollout)).ino]
  const refused = await mutate(h, threadId)
  expect(refused.error).toMatchObject({ code: -32007, message: "thread in use by another codex process", data: { threadId } })
  expect((await stat(rollout)).ino).toBe(inode)
  expect((await readFile(rollout)).equals(bytes)).toBe(true)
}

describe.skipIf(!codexAtLeast("0.151.0"))("session/mutate and another codex writing the thread", () => {
  it("a codex exec resume started outside the plugin: -32007, nothing changed; applies after it ends", async () => {
    harness = await startPluginHarness(script, { config: { binary: codex } })
    const h = harness
    const { threadId, rollout, lock } = await firstTurn(h)
    const argv = ["exec", "--json", "--skip-git-repo-check", ...codexOfflineArgs(h.model.baseUrl), "-C", h.workspace, "resume", threadId, "-"]
    const outside = spawn(codex, argv, { env: { ...process.env, CODEX_HOME: h.codexHome }, stdio: ["pipe", "ignore", "ignore"], detached: true })
    const ended = new Promise((r) => outside.on("exit", r))
    try {
      outside.stdin.end("keep going")
      await waitUntil("codex to take its writer lock", () => h.model.requests.length >= 3 && isLocked(lock))
      await expectRefused(h, threadId, rollout)
    } finally {
      process.kill(-outside.pid!, "SIGTERM")
      await ended
    }
    expect((await mutate(h, threadId)).result).toEqual({ touched: 1, missing: [] })
  }, 90_000)

  it("a turn run by a second plugin process: -32007, nothing changed; applies after that turn ends", async () => {
    harness = await startPluginHarness(script, { config: { binary: codex } })
    const h = harness
    const { threadId, rollout, lock } = await firstTurn(h)
    // Same profile and CODEX_HOME: the second plugin resumes the same thread.
    second = await startReferenceHost({ env: { PLEXUM_PROFILE_ROOT: h.profileRoot, CODEX_HOME: h.codexHome } })
    expect((await second.initialize()).error).toBeUndefined()
    const turn = second.request("provider/stream", h.streamParams("t2", { messages: [userMessage("run"), { role: "assistant", content: "done" }, userMessage("more")] }))
    await second.waitForEvent("t2", (e) => e.type === "turn.started", 30_000)
    await waitUntil("the second plugin's codex to take its writer lock", () => h.model.requests.length >= 3 && isLocked(lock))
    await expectRefused(h, threadId, rollout)
    await second.request("provider/cancel", { turnId: "t2" })
    expect((await turn).result).toMatchObject({ status: "cancelled", threadId })
    expect((await mutate(h, threadId)).result).toEqual({ touched: 1, missing: [] })
  }, 90_000)
})
