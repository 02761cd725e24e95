// Nothing codex says is lost and nothing it starts outlives the run, through the real executable
// with a fake codex: its stdout read to end of file (never cut on a timer after its exit), what it
// starts outside its own group found by the run's mark (or, without it, by the pipe it holds) and
// ended, also after a SIGKILLed plugin.
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { makeTempCodexHome } from "../../support/CodexOffline.ts"
import { isRunning, waitFor } from "../../support/Processes.ts"
import { makeProfile, type ReferenceHost, startReferenceHost } from "../../support/ReferenceHost.ts"

const FAKE = join(import.meta.dirname, "../../fixtures/fake-codex/fake-codex.mjs")

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!()
})

const startPlugin = async (mode: string, env: Record<string, string> = {}, profileRoot?: string) => {
  const home = await makeTempCodexHome()
  const profile = profileRoot === undefined ? await makeProfile({ binary: FAKE }) : { root: profileRoot, cleanup: async () => {} }
  const host = await startReferenceHost({
    env: { PLEXUM_PROFILE_ROOT: profile.root, CODEX_HOME: home.dir, FAKE_CODEX_MODE: mode, ...env }
  })
  cleanups.push(() => host.dispose(), home.cleanup, profile.cleanup)
  expect((await host.initialize()).result).toBeDefined()
  return { host, profileRoot: profile.root }
}

const turn = (host: ReferenceHost, turnId: string, agentId = turnId) =>
  host.request("provider/stream", {
    turnId,
    modelId: "codex",
    agent: { agentId, workspace: "/tmp" },
    request: { messages: [{ role: "user", content: "hi" }] }
  })

const pidsOf = (host: ReferenceHost, turnId: string): Array<number> => {
  const e = host.eventsOf(turnId).find((e) => e.type === "notice" && String(e.message).includes("fake.pids"))
  return e === undefined ? [] : JSON.parse(/\[[\d,]+\]/.exec(e.message)![0])
}

/** The pids a fake codex reported (`fake.pids` reaches the host as a notice of an unknown event). */
const reportedPids = async (host: ReferenceHost, turnId: string) => {
  await host.waitForEvent(turnId, (e) => e.type === "notice" && String(e.message).includes("fake.pids"), 20_000)
  const pids = pidsOf(host, turnId)
  // A test that fails before the plugin ends them must not leave a hanging codex or its holder.
  cleanups.push(async () => {
    for (const pid of pids) {
      try {
        if (isRunning(pid)) process.kill(pid, "SIGKILL")
      } catch {}
    }
  })
  return pids
}

describe("nothing lost, nothing left behind", () => {
  it("a process that kept codex's stdout open without the run's mark is found by the pipe and ended, with a warn; every turn completes", async () => {
    const { host } = await startPlugin("foreign-holder")
    const turns = Array.from({ length: 8 }, (_, i) => `held-${i}`)
    const responses = await Promise.all(turns.map((t) => turn(host, t)))
    for (const [i, r] of responses.entries()) {
      const turnId = turns[i]!
      expect(r.result?.status, JSON.stringify(host.eventsOf(turnId).at(-1))).toBe("completed")
      expect(host.eventsOf(turnId).at(-1)).toMatchObject({ type: "turn.completed", finalMessage: "the last message" })
      const [, holder] = pidsOf(host, turnId)
      expect(holder).toBeGreaterThan(0)
      // Ended before the turn was answered: its end of file waited for that.
      expect(isRunning(holder!)).toBe(false)
      expect(host.logs.some((l) => l.level === "warn" && String(l.message).includes(`${holder}`) && /kept its stdout open/.test(l.message))).toBe(true)
    }
  }, 60_000)

  it("codex's shell snapshot (its own session, codex's environment and stdout) ends with the turn; every line arrives", async () => {
    const { host } = await startPlugin("burst-with-holder")
    const responses = await Promise.all(["burst-0", "burst-1", "burst-2", "burst-3"].map((t) => turn(host, t)))
    for (const [i, r] of responses.entries()) {
      const turnId = `burst-${i}`
      expect(r.result?.status).toBe("completed")
      const events = host.eventsOf(turnId)
      expect(events.filter((e) => e.type === "reasoning")).toHaveLength(2000)
      expect(events.at(-1)).toMatchObject({ type: "turn.completed", finalMessage: "the last message" })
      const [, holder] = pidsOf(host, turnId)
      expect(holder).toBeGreaterThan(0)
      // Ended before the turn was answered: no wait here.
      expect(isRunning(holder!)).toBe(false)
    }
  }, 60_000)

  it("a shell snapshot that does not hold codex's stdout ends right after the turn's answer", async () => {
    const { host } = await startPlugin("snapshot")
    const r = await turn(host, "snap")
    expect(r.result?.status).toBe("completed")
    const [, holder] = pidsOf(host, "snap")
    expect(holder).toBeGreaterThan(0)
    // Ended off the host's wait, once the answer is out: bounded by the TERM → KILL grace.
    expect(await waitFor(() => !isRunning(holder!), 5_000)).toBe(true)
  }, 30_000)

  it("when codex is SIGKILLed mid-turn, its shell snapshot is ended too", async () => {
    const { host } = await startPlugin("holder-hang")
    const pending = turn(host, "killed")
    const [codex, holder] = await reportedPids(host, "killed")
    process.kill(codex!, "SIGKILL")
    const r = await pending
    expect(r.result?.status).toBe("failed")
    expect(host.eventsOf("killed").at(-1)).toMatchObject({ type: "turn.failed", code: "codex_exit" })
    expect(String(host.eventsOf("killed").at(-1).message)).toContain("SIGKILL")
    expect(isRunning(holder!)).toBe(false)
  }, 30_000)

  for (const codexDies of [false, true]) {
    it(`after a SIGKILLed plugin${codexDies ? " and a codex that died too" : ""}, the next start ends what the run left`, async () => {
      const first = await startPlugin("holder-hang")
      void turn(first.host, "orphaned").catch(() => {})
      const [codex, holder] = await reportedPids(first.host, "orphaned")
      first.host.kill("SIGKILL")
      await first.host.exited
      // With codex gone its shell snapshot descends from nothing the plugin knows: only the mark finds it.
      if (codexDies) process.kill(codex!, "SIGKILL")
      expect(isRunning(holder!)).toBe(true)
      await startPlugin("ok", {}, first.profileRoot)
      expect(await waitFor(() => !isRunning(codex!) && !isRunning(holder!), 10_000)).toBe(true)
    }, 30_000)
  }

  it("a turn codex leaves unfinished says how codex exited and what it said on stderr", async () => {
    const { host } = await startPlugin("unfinished")
    const r = await turn(host, "unfinished")
    expect(r.result?.status).toBe("failed")
    const last = host.eventsOf("unfinished").at(-1)
    expect(last).toMatchObject({ type: "turn.failed", code: "codex_output" })
    expect(last.message).toContain("exited with status 0 without finishing the turn")
    expect(last.message).toContain("fatal: the model stream broke off")
  }, 30_000)
})
