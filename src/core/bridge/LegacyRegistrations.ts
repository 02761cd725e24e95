/**
 * Removing the `plexum-host-*` registrations earlier versions stored (enabled) in
 * `$CODEX_HOME/config.toml` with `codex mcp add`, which made the user's own codex start one
 * `mcp-host` per agent (issue 10). A minimal in-place text edit: only the lines of those tables
 * go; every other byte (comments, ordering, the user's own entries) stays.
 *
 * A table counts as ours only when its name starts with `plexum-host-` and it launches
 * `mcp-host` (`args = ["mcp-host"]`, as `codex mcp add … -- <launcher> mcp-host` wrote it);
 * its `.env` (or any other) subtable goes with it.
 */

const HEADER = /^\s*\[\s*mcp_servers\s*\.\s*("?)(plexum-host-[A-Za-z0-9_-]+)\1\s*(\.[^\]]*)?\]\s*(#.*)?$/
const ANY_HEADER = /^\s*\[/
const LAUNCHES_MCP_HOST = /^\s*args\s*=\s*\[\s*"mcp-host"\s*\]\s*(#.*)?$/

interface Table {
  readonly name: string
  readonly sub: boolean
  /** First line (the header) and one past the last line of its own keys, trailing blanks and comments excluded. */
  readonly start: number
  readonly end: number
}

const tablesOf = (lines: ReadonlyArray<string>): ReadonlyArray<Table> => {
  const tables: Array<Table> = []
  for (let i = 0; i < lines.length; i++) {
    const m = HEADER.exec(lines[i]!)
    if (m === null) continue
    let end = i + 1
    while (end < lines.length && !ANY_HEADER.test(lines[end]!)) end++
    // Blank and comment lines at its end lead into what follows (a user's comment above the next table).
    while (end > i + 1 && /^\s*(#.*)?$/.test(lines[end - 1]!)) end--
    tables.push({ name: m[2]!, sub: m[3] !== undefined, start: i, end })
  }
  return tables
}

/** The names of the plexum-host servers in `toml` that this plugin registered (they launch mcp-host). */
export const legacyHostServers = (toml: string): ReadonlyArray<string> => {
  const lines = toml.split("\n")
  return [
    ...new Set(
      tablesOf(lines)
        .filter((t) => !t.sub && lines.slice(t.start + 1, t.end).some((l) => LAUNCHES_MCP_HOST.test(l)))
        .map((t) => t.name)
    )
  ]
}

/** `toml` without the tables of `names` (and their subtables); `undefined` when nothing changes. */
export const withoutServers = (toml: string, names: ReadonlyArray<string>): string | undefined => {
  if (names.length === 0) return undefined
  const lines = toml.split("\n")
  const drop = new Set<number>()
  for (const t of tablesOf(lines)) {
    if (!names.includes(t.name)) continue
    for (let i = t.start; i < t.end; i++) drop.add(i)
    // One blank line that separated the table from what follows goes with it.
    if (t.end < lines.length && lines[t.end]!.trim() === "" && (t.start === 0 || lines[t.start - 1]!.trim() === "")) drop.add(t.end)
  }
  if (drop.size === 0) return undefined
  return lines.filter((_, i) => !drop.has(i)).join("\n")
}
