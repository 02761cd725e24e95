import { describe, expect, it } from "vitest"
import { readFileSync } from "node:fs"
import { codexVersionVerdict, OLDEST_TESTED_CODEX, PINNED_CODEX } from "../../../src/core/codex/CodexVersionRange.ts"
import { checkCodexVersion } from "../../../src/core/doctor/DoctorCodexChecks.ts"

describe("the tested codex range", () => {
  it("ends at the codex pinned in package.json, the one installed with the plugin", () => {
    const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8"))
    expect(pkg.optionalDependencies["@openai/codex"]).toBe(PINNED_CODEX)
  })

  it("says inside for both ends and anything between, from codex's own --version line", () => {
    for (const v of [OLDEST_TESTED_CODEX, "0.151.0", PINNED_CODEX, `codex-cli ${PINNED_CODEX}\n`]) {
      expect(codexVersionVerdict(v).kind, v).toBe("inside")
    }
  })

  it("says newer past the pinned version, naming npm run compat", () => {
    const v = codexVersionVerdict("codex-cli 0.180.2")
    expect(v).toMatchObject({ kind: "newer", version: "0.180.2" })
    expect(v.message).toContain("npm run compat -- 0.180.2")
  })

  it("says older below the oldest tested version, with the upgrade as the fix", () => {
    const v = codexVersionVerdict("codex-cli 0.134.9")
    expect(v).toMatchObject({ kind: "older", version: "0.134.9" })
    expect(v.kind === "older" && v.fix).toContain(`@openai/codex@${PINNED_CODEX}`)
    // Compared as numbers, not text: 0.99 is older than 0.135.
    expect(codexVersionVerdict("0.99.0").kind).toBe("older")
  })

  it("says unknown when there is no version in the text", () => {
    expect(codexVersionVerdict("codex dev build").kind).toBe("unknown")
  })

  it("is a doctor line: ok inside, warn outside (newer or older, each with its fix), skip without a binary", () => {
    expect(checkCodexVersion(`codex-cli ${PINNED_CODEX}`).status).toBe("ok")
    expect(checkCodexVersion("codex-cli 1.0.0")).toMatchObject({ status: "warn", fix: expect.stringContaining("npm run compat -- 1.0.0") })
    expect(checkCodexVersion("codex-cli 0.120.0")).toMatchObject({ status: "warn", fix: expect.stringContaining("npm install -g") })
    expect(checkCodexVersion(undefined).status).toBe("skip")
  })
})
