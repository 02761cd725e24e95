import { describe, expect, it } from "@effect/vitest"
import { buildCodexArgs, choosesProfile, cliModel, tomlString } from "../../../src/core/codex/CodexArgs.ts"
import { defaultConfig } from "../../../src/schemas/Config.ts"

const base = { config: defaultConfig, modelId: "codex", workspace: "/work/ws" }

describe("buildCodexArgs", () => {
  it("runs a new thread with JSON output in the workspace, default sandbox, prompt on stdin", () => {
    expect(buildCodexArgs(base)).toEqual([
      "exec", "--json", "--skip-git-repo-check", "-C", "/work/ws", "--sandbox", "workspace-write", "-"
    ])
  })

  it("puts every flag before `resume -- <thread>` and ends with `-`", () => {
    const args = buildCodexArgs({
      ...base,
      config: { ...defaultConfig, extra_args: ["--disable", "plugins"] },
      modelId: "gpt-x",
      request: { options: { sandbox: "read-only", reasoningEffort: "high" } },
      runProfile: "plexum-run-1-ab",
      outputSchemaFile: "/tmp/schema.json",
      images: ["/img/a.png", "/img/b.png"],
      extraFlags: ["-c", "mcp_servers.x.enabled=true"],
      resumeThreadId: "01a2127f-452b-7f71-8d93-6028603545f6"
    })
    expect(args).toEqual([
      "exec", "--json", "--skip-git-repo-check", "-C", "/work/ws",
      "--sandbox", "read-only",
      "--model=gpt-x",
      "-c", 'model_reasoning_effort="high"',
      "--profile=plexum-run-1-ab",
      "--output-schema=/tmp/schema.json",
      "--image=/img/a.png", "--image=/img/b.png",
      "-c", "mcp_servers.x.enabled=true",
      "--disable", "plugins",
      "resume", "--", "01a2127f-452b-7f71-8d93-6028603545f6",
      "-"
    ])
  })

  it("never lets a model id, image path or thread id become a flag of its own", () => {
    const args = buildCodexArgs({ ...base, modelId: "--dangerously-bypass-approvals-and-sandbox", images: ["-weird.png"], resumeThreadId: "-x" })
    expect(args).not.toContain("--dangerously-bypass-approvals-and-sandbox")
    expect(args).not.toContain("-weird.png")
    expect(args).toContain("--model=--dangerously-bypass-approvals-and-sandbox")
    expect(args.slice(-3)).toEqual(["--", "-x", "-"])
  })

  it("leaves the sandbox to extra_args when they set one (codex refuses two)", () => {
    for (const extra of [["-s", "danger-full-access"], ["--sandbox=read-only"], ["--sandbox", "read-only"]]) {
      const args = buildCodexArgs({ ...base, config: { ...defaultConfig, extra_args: extra } })
      expect(args.filter((a) => a === "--sandbox" || a === "-s" || a.startsWith("--sandbox=")).length).toBe(1)
    }
  })

  it("leaves the model to extra_args when they choose one (codex refuses two)", () => {
    for (const extra of [["-m", "mine"], ["--model=mine"], ["--model", "mine"]]) {
      const args = buildCodexArgs({ ...base, modelId: "gpt-x", config: { ...defaultConfig, extra_args: extra } })
      expect(args.filter((a) => a === "-m" || a === "--model" || a.startsWith("--model=")).length).toBe(1)
    }
  })

  it("the prompt never goes into argv, nor the system prompt (it is in the run profile)", () => {
    const request = { system: "SYSTEM-PROMPT-TEXT", messages: [], options: { sandbox: "read-only" as const } }
    const args = buildCodexArgs({ ...base, request, runProfile: "plexum-run-1-ab" })
    expect(args.at(-1)).toBe("-")
    expect(args.join("\n")).not.toContain("SYSTEM-PROMPT-TEXT")
    expect(args.join("\n")).not.toContain("developer_instructions")
  })

  it("knows when extra_args choose a codex profile (the run profile takes codex's one --profile)", () => {
    for (const extra of [["-p", "work"], ["--profile", "work"], ["--profile=work"], ["-pwork"]]) expect(choosesProfile(extra)).toBe(true)
    expect(choosesProfile(["--disable", "plugins", "-c", "x=1"])).toBe(false)
  })
})

describe("cliModel", () => {
  it('maps "codex" and "" to no model, mapped ids to their value, unknown ids through', () => {
    const map = { fast: "gpt-5-mini", plain: "codex" }
    expect(cliModel("codex", map)).toBeUndefined()
    expect(cliModel("", map)).toBeUndefined()
    expect(cliModel("fast", map)).toBe("gpt-5-mini")
    expect(cliModel("plain", map)).toBeUndefined()
    expect(cliModel("o3", map)).toBe("o3")
    expect(cliModel("toString", {})).toBe("toString")
  })
})

describe("tomlString", () => {
  it("escapes quotes, backslashes, newlines and control characters as TOML basic-string escapes", () => {
    expect(tomlString('say "hi"\\n\nnext\tline\u0001\u007f')).toBe('"say \\"hi\\"\\\\n\\nnext\\tline\\u0001\\u007F"')
  })
  it("replaces lone surrogates, which TOML cannot escape", () => {
    expect(tomlString("a\ud800b")).toBe('"a\ufffdb"')
    expect(tomlString("😀")).toBe('"😀"')
  })
})
