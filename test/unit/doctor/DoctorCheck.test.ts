// How doctor lines look: plain words when piped (no escape sequences), symbols and colour on a terminal.
import { describe, expect, it } from "vitest"
import { check, renderCheck, styleFor, summarise } from "../../../src/core/doctor/DoctorCheck.ts"

const failing = check("codex binary", "fail", "`codex` is not on PATH", "install the Codex CLI")

describe("doctor report", () => {
  it("prints plain ok/FAIL words and a fix line, without escape sequences, when not a terminal", () => {
    const style = styleFor(false, {})
    expect(renderCheck(check("config", "ok", "defaults in force", "never shown"), style)).toBe("ok   config: defaults in force")
    expect(renderCheck(failing, style)).toBe("FAIL codex binary: `codex` is not on PATH\n     fix: install the Codex CLI")
    expect(renderCheck(check("credentials", "warn", "none", "run codex login"), style)).toBe("warn credentials: none\n     fix: run codex login")
  })

  it("uses ✓/✗ with colour on a terminal, and no colour under NO_COLOR", () => {
    const tty = renderCheck(failing, styleFor(true, {}))
    expect(tty).toContain("✗")
    expect(tty).toContain("\x1b[31m")
    const noColour = renderCheck(failing, styleFor(true, { NO_COLOR: "1" }))
    expect(noColour).toBe("✗ codex binary: `codex` is not on PATH\n  fix: install the Codex CLI")
    expect(renderCheck(check("config", "ok", "valid"), styleFor(true, { NO_COLOR: "1" }))).toBe("✓ config: valid")
  })

  it("summarises the counts, warnings not counted as failures", () => {
    expect(summarise([failing, check("a", "ok", ""), check("b", "warn", ""), check("c", "skip", "")])).toBe(
      "4 checks: 1 ok, 1 warning(s), 1 failed, 1 skipped"
    )
  })
})
