// A plugin killed with SIGKILL cannot end its codex; the next plugin start must.
import { afterEach, expect, it } from "vitest"
import { startReferenceHost } from "../support/ReferenceHost.ts"
import { type PluginHarness, startPluginHarness, userMessage } from "../support/PluginHarness.ts"
import { processesMatching, waitForNoProcesses } from "../support/Processes.ts"
import { functionCall } from "../support/ScriptedModelServer.ts"

let harness: PluginHarness | undefined
afterEach(async () => {
  await harness?.dispose()
  harness = undefined
})

it("ends the codex process group a SIGKILLed plugin left behind when the next plugin starts", async () => {
  // A command codex runs lives in codex's process group and survives the plugin whatever codex
  // does when its stdout reader dies (some versions exit on the broken pipe, some keep waiting).
  harness = await startPluginHarness((req) =>
    req.index === 0 ? { items: [functionCall("exec_command", { cmd: "sleep 765432" }, { callId: "call_orphan" })] } : { hang: true }
  )
  const h = harness
  void h.host.request("provider/stream", h.streamParams("t1", { messages: [userMessage("wait forever")] })).catch(() => {})
  await h.host.waitForEvent("t1", (e) => e.type === "tool.started", 30_000)
  const mine = /sleep 765432/
  h.host.kill("SIGKILL")
  await h.host.exited
  // codex's group survives its plugin...
  expect(processesMatching(mine).length).toBeGreaterThan(0)
  // ...until the next plugin of this profile starts (before any initialize).
  const next = await startReferenceHost({ env: { PLEXUM_PROFILE_ROOT: h.profileRoot, CODEX_HOME: h.codexHome } })
  try {
    expect(await waitForNoProcesses(mine, 5_000)).toEqual([])
  } finally {
    await next.dispose()
  }
})

it("ends its codex process group when the plugin itself gets SIGTERM mid-turn", async () => {
  harness = await startPluginHarness(() => ({ hang: true }))
  const h = harness
  void h.host.request("provider/stream", h.streamParams("t1", { messages: [userMessage("wait")] })).catch(() => {})
  await h.host.waitForEvent("t1", (e) => e.type === "turn.started", 30_000)
  const mine = new RegExp(h.workspace.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
  expect(processesMatching(mine).length).toBeGreaterThan(0)
  h.host.kill("SIGTERM")
  await h.host.exited
  expect(await waitForNoProcesses(mine, 1_000)).toEqual([])
})
