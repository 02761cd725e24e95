// Which codex runs (PROTOCOL.md §6, issues 10 and 19): config `binary`, else `codex` on PATH, else
// the codex installed with the plugin; never the agent's workspace.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { bundledCodex, resolveCodexBinary } from "../../../src/core/codex/CodexBinary.ts"
import { pinnedCodexBin } from "../../support/CodexOffline.ts"

const exists = (files: ReadonlyArray<string>) => (f: string) => files.includes(f)
const BUNDLED = "/opt/plugin/node_modules/@openai/codex/bin/codex.js"
const withBundled = (path: string | undefined) => () => path

describe("resolveCodexBinary with config binary set", () => {
  it("looks a bare name up on PATH, absolute entries only", () => {
    const env = { PATH: ".::bin:/usr/local/bin:/usr/bin" }
    expect(resolveCodexBinary("codex", "/p/config.json", env, { isExecutable: exists(["/usr/bin/codex", "/usr/local/bin/codex"]) })).toEqual({
      _tag: "Found",
      path: "/usr/local/bin/codex",
      source: "config"
    })
    // "." "" and "bin" would be relative to the cwd, which for a turn is the workspace.
    const found = resolveCodexBinary("codex", "/p/config.json", env, { isExecutable: (f) => !f.startsWith("/usr"), bundled: withBundled(undefined) })
    expect(found).toMatchObject({ _tag: "NotFound", path: "codex" })
  })

  it("resolves a relative path against the config file's directory", () => {
    expect(resolveCodexBinary("bin/codex", "/p/plugins/x/config.json", {}, { isExecutable: exists(["/p/plugins/x/bin/codex"]) })).toEqual({
      _tag: "Found",
      path: "/p/plugins/x/bin/codex",
      source: "config"
    })
    expect(resolveCodexBinary("./codex", "/p/config.json", {}, { isExecutable: () => false })).toMatchObject({
      _tag: "NotFound",
      path: "/p/codex"
    })
  })

  it("keeps an absolute path", () => {
    expect(resolveCodexBinary("/opt/codex", "/p/config.json", {}, { isExecutable: exists(["/opt/codex"]) })).toEqual({
      _tag: "Found",
      path: "/opt/codex",
      source: "config"
    })
  })

  it("never replaces a setting that finds nothing by another codex", () => {
    const lookup = { isExecutable: exists(["/usr/bin/codex", BUNDLED]), bundled: withBundled(BUNDLED) }
    expect(resolveCodexBinary("/opt/gone/codex", "/p/config.json", { PATH: "/usr/bin" }, lookup)).toMatchObject({ _tag: "NotFound", path: "/opt/gone/codex" })
    expect(resolveCodexBinary("codex-beta", "/p/config.json", { PATH: "/usr/bin" }, lookup)).toMatchObject({ _tag: "NotFound", path: "codex-beta" })
    expect(resolveCodexBinary("codex", "/p/config.json", { PATH: "/nowhere" }, lookup)).toMatchObject({ _tag: "NotFound", path: "codex" })
  })
})

describe("resolveCodexBinary without config binary", () => {
  it("takes codex on PATH before the one installed with the plugin", () => {
    const lookup = { isExecutable: exists(["/usr/bin/codex", BUNDLED]), bundled: withBundled(BUNDLED) }
    expect(resolveCodexBinary(undefined, "/p/config.json", { PATH: "/usr/local/bin:/usr/bin" }, lookup)).toEqual({
      _tag: "Found",
      path: "/usr/bin/codex",
      source: "PATH"
    })
  })

  it("falls back to the codex installed with the plugin, never to a relative PATH entry", () => {
    const lookup = { isExecutable: (f: string) => f === BUNDLED || !f.startsWith("/"), bundled: withBundled(BUNDLED) }
    expect(resolveCodexBinary(undefined, "/p/config.json", { PATH: ".:bin:/usr/bin" }, lookup)).toEqual({
      _tag: "Found",
      path: BUNDLED,
      source: "bundled"
    })
  })

  it("finds nothing when there is neither, and says where it looked", () => {
    const none = resolveCodexBinary(undefined, "/p/config.json", { PATH: "/usr/bin" }, { isExecutable: () => false, bundled: withBundled(undefined) })
    expect(none).toMatchObject({ _tag: "NotFound", path: "codex" })
    expect(none._tag === "NotFound" && none.reason).toBe(
      "`codex` is not on PATH (absolute PATH entries only), and no @openai/codex was installed with the plugin"
    )
    const broken = resolveCodexBinary(undefined, "/p/config.json", {}, { isExecutable: () => false, bundled: withBundled(BUNDLED) })
    expect(broken._tag === "NotFound" && broken.reason).toContain(`${BUNDLED}, is not executable`)
  })
})

describe("bundledCodex", () => {
  const dirs: Array<string> = []
  afterEach(() => {
    while (dirs.length) rmSync(dirs.pop()!, { recursive: true, force: true })
  })
  const tree = () => {
    const root = realpathSync(mkdtempSync(join(tmpdir(), "bundled-codex-")))
    dirs.push(root)
    return root
  }
  /** An @openai/codex package in `nodeModules`, with its bin script. */
  const codexPackage = (nodeModules: string, bin: unknown = { codex: "bin/codex.js" }) => {
    const dir = join(nodeModules, "@openai", "codex")
    mkdirSync(join(dir, "bin"), { recursive: true })
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "@openai/codex", version: "0.171.0", bin }))
    return join(dir, "bin", "codex.js")
  }

  it("finds the package installed beside the plugin (npm install -g), nearest first", () => {
    const root = tree()
    const plugin = join(root, "lib", "node_modules", "plexum-openai-provider")
    mkdirSync(join(plugin, "dist"), { recursive: true })
    const nested = codexPackage(join(plugin, "node_modules"))
    codexPackage(join(root, "lib", "node_modules"))
    expect(bundledCodex(join(plugin, "dist"))).toBe(nested)
  })

  it("finds the package hoisted above the plugin (npx, a project's node_modules)", () => {
    const root = tree()
    const plugin = join(root, "node_modules", "plexum-openai-provider")
    mkdirSync(join(plugin, "dist"), { recursive: true })
    const hoisted = codexPackage(join(root, "node_modules"), "bin/codex.js")
    expect(bundledCodex(join(plugin, "dist"))).toBe(hoisted)
  })

  it("looks nowhere but above the plugin's code: a codex package in a workspace beside it is not found", () => {
    const root = tree()
    mkdirSync(join(root, "plugin", "dist"), { recursive: true })
    codexPackage(join(root, "workspace", "node_modules"))
    expect(bundledCodex(join(root, "plugin", "dist"))).toBeUndefined()
  })

  it("from this checkout's sources is the pinned codex npm installed", () => {
    expect(bundledCodex()).toBe(realpathSync(pinnedCodexBin))
  })
})
