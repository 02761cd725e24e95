// `--help` of every command through the built executable with stdout piped (as in a log or CI):
// plain text, no escape sequences, though @effect/cli colours help on its own.
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { pluginBin } from "../../support/ReferenceHost.ts"

const COMMANDS = [[], ["serve"], ["manifest"], ["doctor"], ["mcp-host"], ["rollout"], ["rollout", "inspect"], ["rollout", "list"]]

const run = (args: ReadonlyArray<string>, env: Record<string, string | undefined> = {}) => {
  const clean = Object.fromEntries(Object.entries({ ...process.env, ...env }).filter(([k, v]) => k !== "FORCE_COLOR" && v !== undefined))
  return spawnSync(pluginBin, [...args], { env: clean, encoding: "utf8", timeout: 20_000 })
}

describe("--help", () => {
  it.each(COMMANDS.map((c) => [c.join(" ") || "(root)", c] as const))("of %s is plain text when piped", (_, command) => {
    const r = run([...command, "--help"], { NO_COLOR: undefined })
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toContain("USAGE")
    expect(r.stdout).not.toContain("\u001b")
  })

  it("and a usage error is plain text on a piped stderr", () => {
    const r = run(["rollout", "inspect"]) // its THREAD_ID | PATH missing
    expect(r.status).not.toBe(0)
    expect(r.stdout + r.stderr).toMatch(/THREAD_ID/)
    expect(r.stdout + r.stderr).not.toContain("\u001b")
  })
})

describe("the version", () => {
  const { version } = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8"))

  it("that --version and the manifest give is package.json's, the one npm installed", () => {
    for (const command of [[], ["mcp-host"], ["doctor"]]) {
      const r = run([...command, "--version"])
      expect(r.status, r.stderr).toBe(0)
      expect(r.stdout.trim(), command.join(" ")).toBe(version)
    }
    const manifest = run(["manifest"], { PLEXUM_PROFILE_ROOT: "/nonexistent/plexum-version-test" })
    expect(manifest.status, manifest.stderr).toBe(0)
    expect(JSON.parse(manifest.stdout).version).toBe(version)
  })
})
