/**
 * The argv of one `codex exec` run (checked against codex 0.169's parser):
 *
 *   exec --json --skip-git-repo-check -C <ws> [--sandbox <mode>] [--model=…]
 *        [-c model_reasoning_effort=…] [--profile=<run profile>] [--output-schema=<file>]
 *        [--image=<path>]… [<runner flags>] [<config extra_args>] [resume -- <threadId>] -
 *
 * - Every value that could start with "-" is glued to its flag (`--image=…`) or sits inside a
 *   TOML string (`-c model="…"`), so no id, path or text can turn into a flag.
 * - `--image` takes several values: `--image a.png resume x -` would read "resume" as an image;
 *   the `=` form takes exactly one. codex also splits its value at commas, so a path containing
 *   "," reaches codex as two paths: a caller with such a path should hand over a comma-free alias.
 * - The model goes in as `--model=<value>` (the value glued, so `-x` stays a value), and not at
 *   all when extra_args already choose one: codex rejects a repeated `--model`, and the
 *   operator's explicit `-m` wins.
 * - Flags go before `resume`; the prompt comes on stdin (`-`), never in argv. The system prompt and
 *   the host-tools server are in the run's private profile file (src/core/codex/RunProfile.ts), named by
 *   `--profile=<name>`: no host-provided text is ever in argv (PROTOCOL.md §4), where every local
 *   user can read it (/proc/<pid>/cmdline) and where more than 128 KiB makes spawn fail (E2BIG).
 */
import type { Config } from "../../schemas/Config.ts"
import type { Sandbox, TurnRequest } from "../../schemas/Protocol.ts"

export interface CodexArgsInput {
  readonly config: Pick<Config, "extra_args" | "model_args" | "sandbox">
  /** The Plexum model id of the turn. */
  readonly modelId: string
  readonly workspace: string
  /**
   * `options` give sandbox and reasoning effort. `system` is NOT read here: it goes into the run
   * profile (runProfileToml), never into argv.
   */
  readonly request?: Pick<TurnRequest, "options"> | undefined
  /** The run's private profile (src/core/codex/RunProfile.ts): system prompt and host-tools server. */
  readonly runProfile?: string | undefined
  /** A file holding `options.outputSchema` as JSON, written by the caller. */
  readonly outputSchemaFile?: string | undefined
  readonly images?: ReadonlyArray<string>
  /** Resume this thread; otherwise a new thread starts. */
  readonly resumeThreadId?: string | undefined
  /** Further flags of the caller (e.g. per-run `-c mcp_servers.…`), placed before the config's extra_args. */
  readonly extraFlags?: ReadonlyArray<string>
}

/** `--model` value for a Plexum model id: "codex"/"" → none (codex's default); unknown ids pass through. */
export const cliModel = (modelId: string, modelArgs: Readonly<Record<string, string>>): string | undefined => {
  if (modelId === "" || modelId === "codex") return undefined
  const mapped = Object.prototype.hasOwnProperty.call(modelArgs, modelId) ? modelArgs[modelId]! : modelId
  return mapped === "" || mapped === "codex" ? undefined : mapped
}

/**
 * A TOML basic string. JSON's escapes are TOML's except that TOML also forbids raw DEL
 * and lone surrogates (which JSON writes as `\udXXX`, an invalid TOML escape).
 */
export const tomlString = (s: string): string =>
  JSON.stringify(s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd"))
    .replace(/\u007f/g, "\\u007F")

const SANDBOX_FLAGS = ["-s", "--sandbox"]
const MODEL_FLAGS = ["-m", "--model"]
const PROFILE_FLAGS = ["-p", "--profile"]

/** Whether the config's extra_args already choose something codex refuses to be told twice. */
const hasFlag = (args: ReadonlyArray<string>, names: ReadonlyArray<string>) =>
  args.some((a) => names.some((n) => a === n || a.startsWith(`${n}=`) || (n.length === 2 && a.startsWith(n) && !a.startsWith("--"))))

/**
 * Whether extra_args choose a codex profile: the plugin's own run profile takes codex's one
 * `--profile`, so config validation refuses this (docs/configuration.md).
 */
export const choosesProfile = (extraArgs: ReadonlyArray<string>): boolean => hasFlag(extraArgs, PROFILE_FLAGS)

export const buildCodexArgs = (input: CodexArgsInput): ReadonlyArray<string> => {
  const { config } = input
  const options = input.request?.options
  const args: Array<string> = ["exec", "--json", "--skip-git-repo-check", "-C", input.workspace]
  const sandbox: Sandbox = options?.sandbox ?? config.sandbox
  // codex rejects `--sandbox` given twice; an operator's own choice in extra_args stands.
  if (!hasFlag(config.extra_args, SANDBOX_FLAGS)) args.push("--sandbox", sandbox)
  const model = cliModel(input.modelId, config.model_args)
  if (model !== undefined && !hasFlag(config.extra_args, MODEL_FLAGS)) args.push(`--model=${model}`)
  if (options?.reasoningEffort !== undefined) {
    args.push("-c", `model_reasoning_effort=${tomlString(options.reasoningEffort)}`)
  }
  if (input.runProfile !== undefined) args.push(`--profile=${input.runProfile}`)
  if (input.outputSchemaFile !== undefined) args.push(`--output-schema=${input.outputSchemaFile}`)
  for (const image of input.images ?? []) args.push(`--image=${image}`)
  args.push(...(input.extraFlags ?? []), ...config.extra_args)
  // After `--` a thread id can never read as a flag.
  if (input.resumeThreadId !== undefined) args.push("resume", "--", input.resumeThreadId)
  args.push("-")
  return args
}
