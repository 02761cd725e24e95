/**
 * Which codex runs, decided once at `initialize` (PROTOCOL.md §6): config `binary` when it is set
 * (a bare name through PATH, a relative path against the config file's directory, an absolute path
 * as is); else `codex` on PATH; else the codex installed with the plugin (its optional dependency
 * `@openai/codex`, found beside the plugin's own files the way node finds a package).
 * Never against the agent's workspace: codex runs with `cwd: workspace`, and a model that
 * writes `bin/codex` there would otherwise have it run, outside any sandbox, on the next turn.
 * PATH entries that are not absolute ("" or ".") are skipped for the same reason.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

/** Why this codex: config `binary`, `codex` on PATH, or the one installed with the plugin. */
export type CodexSource = "config" | "PATH" | "bundled"

export type ResolvedCodexBinary =
  | { readonly _tag: "Found"; readonly path: string; readonly source: CodexSource }
  /** Nothing runnable: `path` keeps the setting as given, `reason` says where it looked. */
  | { readonly _tag: "NotFound"; readonly path: string; readonly reason: string }

export const isExecutableFile = (file: string): boolean => {
  try {
    if (!Fs.statSync(file).isFile()) return false
    Fs.accessSync(file, Fs.constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** The package the plugin depends on (optionally) for a codex of its own. */
export const BUNDLED_CODEX_PACKAGE = "@openai/codex"

/**
 * The directory of the running code: dist/ in the bundle (scripts/build.mjs defines import.meta.url
 * there), src/core/codex/ from source. Everything the plugin installed sits in a node_modules above it.
 */
const pluginCodeDir = (): string => Path.dirname(fileURLToPath(import.meta.url))

/**
 * The executable of the `@openai/codex` package that node would load from `from` (the nearest
 * node_modules/@openai/codex up the tree, as npm installs it beside or above the plugin): its
 * `bin` entry, the launcher npm links as `codex`. Only directories above the plugin's own code are
 * looked at, never the working directory, NODE_PATH or the home directory's node folders.
 */
export const bundledCodex = (from: string = pluginCodeDir()): string | undefined => {
  for (let dir = Path.resolve(from); ; dir = Path.dirname(dir)) {
    if (Path.basename(dir) !== "node_modules") {
      const pkgDir = Path.join(dir, "node_modules", ...BUNDLED_CODEX_PACKAGE.split("/"))
      const bin = packageBin(pkgDir, "codex")
      if (bin !== undefined) return bin
    }
    if (Path.dirname(dir) === dir) return undefined
  }
}

/** The file `package.json` of `pkgDir` names as its `name` executable; undefined without a package. */
const packageBin = (pkgDir: string, name: string): string | undefined => {
  let pkg: { bin?: unknown }
  try {
    pkg = JSON.parse(Fs.readFileSync(Path.join(pkgDir, "package.json"), "utf8"))
  } catch {
    return undefined
  }
  const bin = typeof pkg.bin === "string" ? pkg.bin : (pkg.bin as Record<string, unknown> | undefined)?.[name]
  return typeof bin === "string" ? Path.resolve(pkgDir, bin) : undefined
}

const onPath = (name: string, env: NodeJS.ProcessEnv, isExecutable: (file: string) => boolean): string | undefined =>
  (env.PATH ?? "")
    .split(Path.delimiter)
    .filter((dir) => Path.isAbsolute(dir))
    .map((dir) => Path.join(dir, name))
    .find(isExecutable)

export interface CodexLookup {
  readonly isExecutable?: (file: string) => boolean
  /** The codex installed with the plugin, if any; default bundledCodex(). */
  readonly bundled?: () => string | undefined
}

/**
 * `setting` is config `binary` as the file gives it, undefined when the file does not set it: a
 * codex named there is the only one tried (a setting that finds nothing must fail, not be replaced
 * by another codex); without one, `codex` on PATH comes before the one installed with the plugin.
 */
export const resolveCodexBinary = (
  setting: string | undefined,
  configPath: string,
  env: NodeJS.ProcessEnv,
  lookup: CodexLookup = {}
): ResolvedCodexBinary => {
  const isExecutable = lookup.isExecutable ?? isExecutableFile
  if (setting !== undefined && setting.includes("/")) {
    const path = Path.resolve(Path.dirname(Path.resolve(configPath)), setting)
    return isExecutable(path)
      ? { _tag: "Found", path, source: "config" }
      : { _tag: "NotFound", path, reason: `${path} does not exist or is not executable` }
  }
  if (setting !== undefined) {
    const path = onPath(setting, env, isExecutable)
    return path !== undefined
      ? { _tag: "Found", path, source: "config" }
      : { _tag: "NotFound", path: setting, reason: `\`${setting}\` is not on PATH (absolute PATH entries only)` }
  }
  const path = onPath("codex", env, isExecutable)
  if (path !== undefined) return { _tag: "Found", path, source: "PATH" }
  const bundled = (lookup.bundled ?? bundledCodex)()
  if (bundled !== undefined && isExecutable(bundled)) return { _tag: "Found", path: bundled, source: "bundled" }
  const withPlugin =
    bundled === undefined ? `no ${BUNDLED_CODEX_PACKAGE} was installed with the plugin` : `the codex installed with the plugin, ${bundled}, is not executable`
  return { _tag: "NotFound", path: "codex", reason: `\`codex\` is not on PATH (absolute PATH entries only), and ${withPlugin}` }
}
