/**
 * Starting codex without forking the plugin. A fork copies the plugin's page tables and
 * write-protects every page it has, and each page the plugin (and V8's collector threads) writes
 * afterwards faults once: here that cost an exec turn some 15 ms of the plugin's CPU, more than all
 * of its own work (docs/benchmarks.md, "The plugin's own CPU per turn"). So a small perl process,
 * started once, does the forking: a few MB to copy instead of the plugin's heap.
 *
 * Per launch the server forks a waiter, and the waiter the program. The program, before it is
 * exec'd, leads a session of its own (as `detached: true` does), connects its stdin, stdout and
 * stderr to this plugin's private unix socket (each connection first names the launch and the
 * descriptor in one line), so they are unix sockets exactly as node's own child stdio is; then it
 * takes exactly the given environment, argv and working directory. The waiter reports on the
 * server's stdout, one line each (a pipe write under PIPE_BUF is atomic):
 *   `started ID PID` or `failed ID STEP ERRNO`, then `exit ID CODE SIGNAL` (-1 / 0 when not that
 * way); the server itself says `forked ID`. A failed step comes back through a close-on-exec pipe,
 * so a failed exec carries the real errno (ENOENT, EACCES, E2BIG), as node's own spawn does; a
 * step of the server's own (connecting the descriptors, ...) makes the caller start the program
 * itself (FORK_SERVER_FAILED).
 *
 * Nothing here waits on a timer: a launch ends with its `started` or `failed` line, or with the
 * server's exit. The server ends when its stdin ends: with the plugin, killed or not. A waiter lives
 * exactly as long as its program. perl is part of every Debian and Ubuntu system (perl-base is
 * essential); without it the plugin forks codex itself, as before (src/layers/CodexProcessLive.ts).
 */
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import type { ChildExit } from "./DetachedChild.ts"

/** The server, as perl source. Core modules only (POSIX, Socket). */
export const FORK_SERVER_SCRIPT = String.raw`
use strict; use warnings; use POSIX (); use Socket qw(AF_UNIX SOCK_STREAM pack_sockaddr_un);
my $path = shift @ARGV;
$SIG{CHLD} = 'IGNORE';
binmode STDIN; binmode STDOUT;
my $buf = '';
# The plugin is gone (its end of our stdin closed): its socket and directory go with it.
sub more { my $r = sysread(STDIN, $buf, 65536, length $buf); return if $r; unlink $path; rmdir($path =~ s{/[^/]*$}{}r); POSIX::_exit(0) }
while (1) {
  my $nl; more() while (($nl = index($buf, "\n")) < 0);
  my $len = substr($buf, 0, $nl);
  more() while (length($buf) < $nl + 1 + $len);
  my @f = split /\0/, substr($buf, $nl + 1, $len), -1;
  substr($buf, 0, $nl + 1 + $len) = '';
  my $pid = fork;
  if (!defined $pid) { syswrite STDOUT, "failed $f[0] server " . ($! + 0) . "\n"; next }
  waiter(@f) if $pid == 0;
  syswrite STDOUT, "forked $f[0]\n";
}
sub waiter {
  my ($id, $bin, $cwd, $argc, @rest) = @_;
  my @args = splice(@rest, 0, $argc);
  $SIG{CHLD} = 'DEFAULT';
  pipe(my $r, my $w) or do { syswrite STDOUT, "failed $id server " . ($! + 0) . "\n"; POSIX::_exit(0) };
  my $pid = fork;
  if (!defined $pid) { syswrite STDOUT, "failed $id server " . ($! + 0) . "\n"; POSIX::_exit(0) }
  if ($pid == 0) {
    close $r;
    # Which step failed, and its errno: only chdir's and exec's are the program's own.
    my $fail = sub { syswrite $w, "$_[0] " . ($! + 0); POSIX::_exit(127) };
    POSIX::setsid() or $fail->("setsid");
    my @s;
    for my $k (0 .. 2) {
      socket(my $s, AF_UNIX, SOCK_STREAM, 0) or $fail->("socket");
      connect($s, pack_sockaddr_un($path)) or $fail->("connect");
      syswrite($s, "$id $k\n") or $fail->("connect");
      push @s, $s;
    }
    # All three are connected: from here the plugin will have them, whatever happens to this process.
    syswrite $w, "c";
    for my $k (0 .. 2) { defined POSIX::dup2(fileno($s[$k]), $k) or $fail->("dup2") }
    # Only stdin, stdout and stderr go on to the program, whatever the plugin's host left open.
    opendir(my $fds, "/proc/self/fd") or $fail->("fds");
    my @open = grep { /^\d+$/ && $_ > 2 && $_ != fileno($w) && $_ != fileno($fds) } readdir $fds;
    closedir $fds;
    POSIX::close($_) for @open;
    chdir $cwd or $fail->("chdir");
    %ENV = map { my ($k, $v) = split /=/, $_, 2; ($k, $v // '') } @rest;
    { no warnings 'exec'; exec { $bin } $bin, @args; }
    $fail->("exec");
  }
  close $w;
  my $why = '';
  1 while sysread($r, $why, 64, length $why);
  my $connected = $why =~ s/^c//;
  if ($why ne '' || !$connected) { waitpid($pid, 0); syswrite STDOUT, "failed $id " . ($why eq '' ? "killed 0" : $why) . "\n"; POSIX::_exit(0) }
  syswrite STDOUT, "started $id $pid\n";
  waitpid($pid, 0);
  my $st = $?;
  syswrite STDOUT, "exit $id " . (POSIX::WIFEXITED($st) ? POSIX::WEXITSTATUS($st) : -1) . " " . (POSIX::WIFSIGNALED($st) ? POSIX::WTERMSIG($st) : 0) . "\n";
  POSIX::_exit(0);
}
`

export interface LaunchSpec {
  readonly binary: string
  readonly args: ReadonlyArray<string>
  readonly cwd: string
  readonly env: Readonly<Record<string, string>>
}

/** A program the server started: the parts of a node ChildProcess the engines use. */
export interface LaunchedChild {
  readonly pid: number
  readonly stdin: Net.Socket
  readonly stdout: Net.Socket
  readonly stderr: Net.Socket
  exitCode: number | null
  signalCode: NodeJS.Signals | null
  readonly exit: Promise<ChildExit>
}

export interface ForkServer {
  /**
   * Starts a program; rejects with the errno of a start that failed (`code` as node names it), or,
   * when the fork server itself could not do it, with `code` FORK_SERVER_FAILED.
   */
  readonly launch: (spec: LaunchSpec) => Promise<LaunchedChild>
  /** Ends the server; programs already started run on and still report their exit. */
  readonly close: () => void
  /** How many launches have not yet reported how their program ended (or how their start failed). */
  readonly unsettled: () => number
}

/** The `code` of a launch the fork server could not make: the caller starts the program itself. */
export const FORK_SERVER_FAILED = "EFORKSERVER"

const errnoName = new Map(Object.entries(Os.constants.errno).map(([name, n]) => [n, name]))
const signalName = new Map(Object.entries(Os.constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]))

const startError = (errno: number, what: string): NodeJS.ErrnoException => {
  const code = errnoName.get(errno) ?? `errno ${errno}`
  return Object.assign(new Error(`${what} ${code}`), { code, errno: -errno })
}
const serverFailed = (message: string): NodeJS.ErrnoException => Object.assign(new Error(message), { code: FORK_SERVER_FAILED })

/** SIGKILL to a process group (a started program leads its own); one already gone is no error. */
export const killGroup = (pid: number) => {
  try {
    process.kill(-pid, "SIGKILL")
  } catch {
    // already gone
  }
}

/** A launch in flight: what has come back for it so far. */
interface InFlight {
  /** The server it was sent to. */
  instance: Instance
  /** The request without its id: sent again, under a new id, if that server died before it forked. */
  readonly fields: ReadonlyArray<string>
  resent: boolean
  /** The server has forked its waiter (said so, or the waiter has reported). */
  forked: boolean
  readonly binary: string
  readonly sockets: Array<Net.Socket | undefined>
  pid?: number
  child?: LaunchedChild
  exited?: ChildExit
  readonly resolve: (child: LaunchedChild) => void
  readonly reject: (err: NodeJS.ErrnoException) => void
  readonly settleExit: (exit: ChildExit) => void
  readonly exit: Promise<ChildExit>
}

/** Reads one `ID FD\n` line off a fresh connection, then hands it on paused with what followed. */
const readHeader = (socket: Net.Socket, done: (id: string, fd: number) => void) => {
  let head = Buffer.alloc(0)
  const onData = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk])
    const nl = head.indexOf(10)
    if (nl === -1) {
      if (head.length > 64) socket.destroy()
      return
    }
    socket.off("data", onData)
    socket.pause()
    const rest = head.subarray(nl + 1)
    if (rest.length > 0) socket.unshift(rest)
    const [id, fd] = head.subarray(0, nl).toString("latin1").split(" ")
    done(id ?? "", Number(fd))
  }
  socket.on("data", onData)
}

/** How many servers may die in a row, none of them having reported a line, before no new one is started. */
const MAX_DEATHS_IN_A_ROW = 3

/** One perl process; replaced by the next launch once it has gone. */
interface Instance {
  readonly send: (id: string, fields: ReadonlyArray<string>) => void
  /** Ends its stdin: the server exits; its waiters live on with their programs. */
  readonly end: () => void
  gone: boolean
}

/**
 * Starts the server (perl at `perl`), listening on a socket in a new private directory. Resolves
 * once the socket listens; perl starts with the first launch, and again with the launch after it
 * died (`onRestart` says why). Each launch is named by a random id: the only way to the socket is
 * through the private directory, and an id cannot be guessed either.
 */
export const startForkServer = async (perl: string, onRestart: (why: string) => void = () => {}): Promise<ForkServer> => {
  // Resolved: a relative TMPDIR would name one directory for node and another for perl (cwd /).
  // The pid in the name: a plugin SIGKILLed while its perl was not running (the server removes it
  // at its stdin's end) leaves it to the next plugin's clean-up (removeStaleTempSocketDirs).
  const dir = await Fs.promises.mkdtemp(Path.join(Path.resolve(Os.tmpdir()), `plexum-launch-${process.pid}-`))
  const socketPath = Path.join(dir, "s")
  // Plain state of this server, as a node ChildProcess keeps its own: touched only by the event
  // loop's callbacks and by `launch`, each run to completion, never across an await.
  const inFlight = new Map<string, InFlight>()
  /** Ids whose request went to a newer server: whatever their old waiter still starts is killed. */
  const replaced = new Set<string>()
  let closed = false
  let current: Instance | undefined
  let lastDeath: string | undefined
  /** Servers that died in a row without a report line: a perl that cannot run is not started at every launch. */
  let deathsInARow = 0

  const listener = Net.createServer((socket) => {
    socket.on("error", () => {})
    readHeader(socket, (id, fd) => {
      const launch = inFlight.get(id)
      if (launch === undefined || !(fd >= 0 && fd <= 2) || launch.sockets[fd] !== undefined) return void socket.destroy()
      launch.sockets[fd] = socket
      settleStart(id, launch)
    })
  })
  try {
    await new Promise<void>((resolve, reject) => {
      listener.once("error", reject)
      listener.listen(socketPath, () => resolve())
    })
    Fs.chmodSync(socketPath, 0o600)
  } catch (e) {
    listener.close()
    Fs.rmSync(dir, { recursive: true, force: true })
    throw e
  }

  const reject = (id: string, launch: InFlight, err: NodeJS.ErrnoException) => {
    inFlight.delete(id)
    if (launch.pid !== undefined && launch.child === undefined) killGroup(launch.pid)
    for (const s of launch.sockets) s?.destroy()
    launch.reject(err)
  }

  /** Hands the child over once it runs and all three descriptors are here. */
  const settleStart = (id: string, launch: InFlight) => {
    if (launch.pid === undefined || launch.child !== undefined || launch.sockets.some((s) => s === undefined)) return
    const [stdin, stdout, stderr] = launch.sockets as [Net.Socket, Net.Socket, Net.Socket]
    launch.child = { pid: launch.pid, stdin, stdout, stderr, exitCode: null, signalCode: null, exit: launch.exit }
    if (launch.exited !== undefined) settleExit(id, launch, launch.exited)
    launch.resolve(launch.child)
  }
  const settleExit = (id: string, launch: InFlight, exit: ChildExit) => {
    launch.exited = exit
    // Its three descriptors were connected before it was exec'd (the waiter says `started` only
    // then): those not here yet are on their way, and the last of them settles it.
    if (launch.child === undefined) return
    inFlight.delete(id)
    launch.child.exitCode = exit.code
    launch.child.signalCode = exit.signal
    // As node does with a child's stdin at its exit: nothing reads it any more.
    launch.child.stdin.destroy()
    launch.settleExit(exit)
  }

  /** A report line: `forked ID` (the server's), `started`/`failed`, then `exit` (the waiter's). */
  const report = (line: string) => {
    deathsInARow = 0
    const [kind, id = "", a, b] = line.split(" ")
    if (replaced.has(id)) {
      // A waiter of a dead server that did fork after all: its program is not the one in use.
      if (kind === "started") killGroup(Number(a))
      if (kind === "failed" || kind === "exit") replaced.delete(id)
      return
    }
    const launch = inFlight.get(id)
    if (launch === undefined) return
    launch.forked = true
    if (kind === "started") {
      launch.pid = Number(a)
      settleStart(id, launch)
    } else if (kind === "failed") {
      // The program's own start failed (chdir, exec): node's errno. Any other step is the server's.
      reject(id, launch, a === "exec" || a === "chdir"
        ? startError(Number(b), `spawn ${launch.binary}`)
        : serverFailed(`the fork server could not start ${launch.binary} (${a}: ${errnoName.get(Number(b)) ?? b})`))
    } else if (kind === "exit") {
      settleExit(id, launch, { code: Number(a) >= 0 ? Number(a) : null, signal: Number(b) > 0 ? (signalName.get(Number(b)) ?? null) : null })
    }
  }

  const spawnInstance = (): Instance => {
    // A session of its own: a signal to the plugin's process group (a terminal's Ctrl-C) leaves the
    // waiters be, which alone know how the programs end; the server still ends with its stdin.
    const proc = ChildProcess.spawn(perl, ["-e", FORK_SERVER_SCRIPT, socketPath], { env: {}, cwd: "/", stdio: ["pipe", "pipe", "pipe"], detached: true })
    const instance: Instance = {
      send: (id, fields) => {
        const body = Buffer.from([id, ...fields].join("\0"))
        proc.stdin.write(`${body.length}\n`)
        proc.stdin.write(body)
      },
      end: () => proc.stdin.end(),
      gone: false
    }
    let stderrTail = ""
    proc.stderr.on("data", (d: Buffer) => {
      stderrTail = (stderrTail + d.toString("utf8")).slice(-2000)
    })
    proc.stdin.on("error", () => {})
    // The reports: from the server and from every waiter it forked, which hold the pipe open as
    // long as they live, so reports go on after the server itself is gone.
    let pending = ""
    proc.stdout.setEncoding("latin1")
    proc.stdout.on("data", (text: string) => {
      pending += text
      for (let nl = pending.indexOf("\n"); nl !== -1; nl = pending.indexOf("\n")) {
        report(pending.slice(0, nl))
        pending = pending.slice(nl + 1)
      }
    })
    // No waiter is left: anything started through this server that has not reported its exit
    // never will (its waiter was killed).
    proc.stdout.once("close", () => {
      for (const [id, launch] of inFlight) {
        if (launch.instance !== instance) continue
        if (launch.child !== undefined) settleExit(id, launch, { code: null, signal: null })
        // Its waiter is gone; one never forked goes to the next server when this one's exit is told.
        else if (launch.forked) reject(id, launch, serverFailed(`the fork server's waiter for ${launch.binary} was killed before it started it`))
      }
    })
    const died = (why: string) => {
      if (instance.gone) return
      instance.gone = true
      if (current === instance) current = undefined
      lastDeath = why
      deathsInARow++
      // What the server did not fork for goes to the next server at once, under a new id; should
      // its waiter exist after all (the server died between its fork and its `forked` line), what
      // it starts under the old id is killed (`replaced`).
      for (const [id, launch] of [...inFlight]) if (launch.instance === instance && !launch.forked) resend(id, launch, why)
    }
    proc.once("error", (e) => died(`failed: ${e.message}`))
    proc.once("exit", (code, signal) => {
      const said = stderrTail.trim().split("\n").slice(-2).join(" | ")
      died(`ended (${signal ?? `status ${code}`})${said === "" ? "" : `: ${said}`}`)
    })
    return instance
  }

  /**
   * The server running now, started (again) if there is none; none once MAX_DEATHS_IN_A_ROW servers
   * died without a word (a broken perl: the launches fall back to node's spawn, src/core/DetachedChild.ts).
   */
  const live = (): Instance | undefined => {
    if (current === undefined) {
      if (deathsInARow >= MAX_DEATHS_IN_A_ROW) return undefined
      if (lastDeath !== undefined) onRestart(lastDeath)
      current = spawnInstance()
    }
    return current
  }
  const given = () => serverFailed(`the fork server ${lastDeath ?? "ended"}, ${deathsInARow} times in a row without starting anything; it is not started again`)

  const newId = () => Crypto.randomBytes(16).toString("hex")

  /** A request whose server died before forking for it: sent once more, under a new id, to a new server. */
  function resend(id: string, launch: InFlight, why: string) {
    if (launch.resent || closed) return reject(id, launch, serverFailed(`the fork server ${why}`))
    const instance = live()
    if (instance === undefined) return reject(id, launch, given())
    inFlight.delete(id)
    replaced.add(id)
    const again = newId()
    launch.resent = true
    launch.instance = instance
    inFlight.set(again, launch)
    instance.send(again, launch.fields)
  }

  const launch = (spec: LaunchSpec): Promise<LaunchedChild> =>
    new Promise<LaunchedChild>((resolve, reject) => {
      if (closed) return reject(serverFailed("the fork server is closed"))
      const env = Object.entries(spec.env).map(([k, v]) => `${k}=${v}`)
      const fields = [spec.binary, spec.cwd, String(spec.args.length), ...spec.args, ...env]
      if (fields.some((f) => f.includes("\0"))) return reject(startError(Os.constants.errno.EINVAL, `spawn ${spec.binary}: a NUL byte in the arguments or environment`))
      let settleExit!: (exit: ChildExit) => void
      const exit = new Promise<ChildExit>((done) => (settleExit = done))
      const id = newId()
      const instance = live()
      if (instance === undefined) return reject(given())
      inFlight.set(id, { instance, fields, resent: false, forked: false, binary: spec.binary, sockets: [undefined, undefined, undefined], resolve, reject, settleExit, exit })
      instance.send(id, fields)
    })

  return {
    launch,
    unsettled: () => inFlight.size,
    close: () => {
      if (closed) return
      closed = true
      current?.end()
      listener.close()
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}
