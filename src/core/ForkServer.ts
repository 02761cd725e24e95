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
 *   `started ID PID` or `failed ID ERRNO`, then `exit ID CODE SIGNAL` (-1 / 0 when not that way).
 * A failed exec comes back through a close-on-exec pipe, so `failed` carries the real errno (ENOENT,
 * EACCES, E2BIG), as node's own spawn does.
 *
 * Nothing here waits on a timer: a launch ends with its `started` or `failed` line, or with the
 * server's exit. The server ends when its stdin ends: with the plugin, killed or not. A waiter lives
 * exactly as long as its program. perl is part of every Debian and Ubuntu system (perl-base is
 * essential); without it the plugin forks codex itself, as before (src/layers/CodexProcessLive.ts).
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import type { ChildExit } from "./DetachedChild.ts"
import { afterEventLoopTurns } from "./StdoutHolders.ts"

/** The server, as perl source. Core modules only (POSIX, Socket). */
export const FORK_SERVER_SCRIPT = String.raw`
use strict; use warnings; use POSIX (); use Socket qw(AF_UNIX SOCK_STREAM pack_sockaddr_un);
my $path = shift @ARGV;
$SIG{CHLD} = 'IGNORE';
binmode STDIN; binmode STDOUT;
my $buf = '';
sub more { my $r = sysread(STDIN, $buf, 65536, length $buf); POSIX::_exit(0) unless $r; }
while (1) {
  my $nl; more() while (($nl = index($buf, "\n")) < 0);
  my $len = substr($buf, 0, $nl);
  more() while (length($buf) < $nl + 1 + $len);
  my @f = split /\0/, substr($buf, $nl + 1, $len), -1;
  substr($buf, 0, $nl + 1 + $len) = '';
  my $pid = fork;
  if (!defined $pid) { syswrite STDOUT, "failed $f[0] " . ($! + 0) . "\n"; next }
  waiter(@f) if $pid == 0;
  syswrite STDOUT, "forked $f[0]\n";
}
sub waiter {
  my ($id, $bin, $cwd, $argc, @rest) = @_;
  my @args = splice(@rest, 0, $argc);
  $SIG{CHLD} = 'DEFAULT';
  pipe(my $r, my $w) or do { syswrite STDOUT, "failed $id " . ($! + 0) . "\n"; POSIX::_exit(0) };
  my $pid = fork;
  if (!defined $pid) { syswrite STDOUT, "failed $id " . ($! + 0) . "\n"; POSIX::_exit(0) }
  if ($pid == 0) {
    close $r;
    my $fail = sub { syswrite $w, ($! + 0) . ""; POSIX::_exit(127) };
    POSIX::setsid() or $fail->();
    my @s;
    for my $k (0 .. 2) {
      socket(my $s, AF_UNIX, SOCK_STREAM, 0) or $fail->();
      connect($s, pack_sockaddr_un($path)) or $fail->();
      syswrite($s, "$id $k\n") or $fail->();
      push @s, $s;
    }
    for my $k (0 .. 2) { defined POSIX::dup2(fileno($s[$k]), $k) or $fail->() }
    # Only stdin, stdout and stderr go on to the program, whatever the plugin's host left open.
    opendir(my $fds, "/proc/self/fd") or $fail->();
    my @open = grep { /^\d+$/ && $_ > 2 && $_ != fileno($w) && $_ != fileno($fds) } readdir $fds;
    closedir $fds;
    POSIX::close($_) for @open;
    chdir $cwd or $fail->();
    %ENV = map { my ($k, $v) = split /=/, $_, 2; ($k, $v // '') } @rest;
    { no warnings 'exec'; exec { $bin } $bin, @args; }
    $fail->();
  }
  close $w;
  my $errno = '';
  1 while sysread($r, $errno, 16, length $errno);
  if ($errno ne '') { waitpid($pid, 0); syswrite STDOUT, "failed $id $errno\n"; POSIX::_exit(0) }
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
  /** Starts a program; rejects with the errno of a start that failed (`code` as node names it). */
  readonly launch: (spec: LaunchSpec) => Promise<LaunchedChild>
  /** Ends the server; programs already started run on and still report their exit. */
  readonly close: () => void
  /** How many launches have not yet reported how their program ended (or how their start failed). */
  readonly unsettled: () => number
}

const errnoName = new Map(Object.entries(Os.constants.errno).map(([name, n]) => [n, name]))
const signalName = new Map(Object.entries(Os.constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]))

const startError = (errno: number, what: string): NodeJS.ErrnoException => {
  const code = errnoName.get(errno) ?? `errno ${errno}`
  return Object.assign(new Error(`${what} ${code}`), { code, errno: -errno })
}

/** A launch in flight: what has come back for it so far. */
interface InFlight {
  /** The server it was sent to, and the request (sent once more if that server died before it forked). */
  instance: Instance
  readonly body: Buffer
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
const readHeader = (socket: Net.Socket, done: (id: number, fd: number) => void) => {
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
    const [id, fd] = head.subarray(0, nl).toString("latin1").split(" ").map(Number)
    done(id!, fd!)
  }
  socket.on("data", onData)
}

/** One perl process; replaced by the next launch once it has gone. */
interface Instance {
  readonly send: (body: Buffer) => void
  /** Ends its stdin: the server exits; its waiters live on with their programs. */
  readonly end: () => void
  gone: boolean
}

/**
 * Starts the server (perl at `perl`), listening on a socket in a new private directory. Resolves
 * once the socket listens; perl starts with the first launch, and again with the launch after it
 * died (`onRestart` says why).
 */
export const startForkServer = async (perl: string, onRestart: (why: string) => void = () => {}): Promise<ForkServer> => {
  const dir = await Fs.promises.mkdtemp(Path.join(Os.tmpdir(), "plexum-launch-"))
  const socketPath = Path.join(dir, "s")
  // Plain state of this server, as a node ChildProcess keeps its own: touched only by the event
  // loop's callbacks and by `launch`, each run to completion, never across an await.
  const inFlight = new Map<number, InFlight>()
  let nextId = 1
  let closed = false
  let current: Instance | undefined
  let lastDeath: string | undefined

  const listener = Net.createServer((socket) => {
    socket.on("error", () => {})
    readHeader(socket, (id, fd) => {
      const launch = inFlight.get(id)
      if (launch === undefined || fd < 0 || fd > 2 || launch.sockets[fd] !== undefined) return void socket.destroy()
      launch.sockets[fd] = socket
      settleStart(id, launch)
    })
  })
  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject)
    listener.listen(socketPath, () => resolve())
  })
  Fs.chmodSync(socketPath, 0o600)

  const reject = (id: number, launch: InFlight, err: NodeJS.ErrnoException) => {
    inFlight.delete(id)
    for (const s of launch.sockets) s?.destroy()
    launch.reject(err)
  }

  /** Hands the child over once it runs and all three descriptors are here. */
  const settleStart = (id: number, launch: InFlight) => {
    if (launch.pid === undefined || launch.child !== undefined || launch.sockets.some((s) => s === undefined)) return
    const [stdin, stdout, stderr] = launch.sockets as [Net.Socket, Net.Socket, Net.Socket]
    launch.child = { pid: launch.pid, stdin, stdout, stderr, exitCode: null, signalCode: null, exit: launch.exit }
    if (launch.exited !== undefined) settleExit(id, launch, launch.exited)
    launch.resolve(launch.child)
  }
  const settleExit = (id: number, launch: InFlight, exit: ChildExit) => {
    launch.exited = exit
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
    const [kind, idText, a, b] = line.split(" ")
    const id = Number(idText)
    const launch = inFlight.get(id)
    if (launch === undefined) return
    launch.forked = true
    if (kind === "started") {
      launch.pid = Number(a)
      settleStart(id, launch)
    } else if (kind === "failed") {
      reject(id, launch, startError(Number(a), `spawn ${launch.binary}`))
    } else if (kind === "exit") {
      settleExit(id, launch, { code: Number(a) >= 0 ? Number(a) : null, signal: Number(b) > 0 ? (signalName.get(Number(b)) ?? null) : null })
    }
  }

  const spawnInstance = (): Instance => {
    const proc = ChildProcess.spawn(perl, ["-e", FORK_SERVER_SCRIPT, socketPath], { env: {}, cwd: "/", stdio: ["pipe", "pipe", "pipe"] })
    const instance: Instance = {
      send: (body) => {
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
        else if (!launch.forked) resend(id, launch, "ended before it read the request")
        else reject(id, launch, Object.assign(new Error(`the fork server (${perl}) ended before it started ${launch.binary}`), { code: "ESRCH" }))
      }
    })
    const died = (why: string) => {
      if (instance.gone) return
      instance.gone = true
      if (current === instance) current = undefined
      lastDeath = why
      // A request the server never forked for goes to the next server: what it did fork reports,
      // in the pipe's data already written, read within a few turns of the event loop.
      afterEventLoopTurns(3, () => {
        for (const [id, launch] of inFlight) {
          if (launch.instance === instance && !launch.forked) resend(id, launch, why)
        }
      })
    }
    proc.once("error", (e) => died(`failed: ${e.message}`))
    proc.once("exit", (code, signal) => {
      const said = stderrTail.trim().split("\n").slice(-2).join(" | ")
      died(`ended (${signal ?? `status ${code}`})${said === "" ? "" : `: ${said}`}`)
    })
    return instance
  }

  /** The server running now, started (again) if there is none. */
  const live = (): Instance => {
    if (current === undefined) {
      if (lastDeath !== undefined) onRestart(lastDeath)
      current = spawnInstance()
    }
    return current
  }

  /** A request whose server died before forking for it: sent once more, to a new server. */
  function resend(id: number, launch: InFlight, why: string) {
    if (launch.resent || closed) return reject(id, launch, Object.assign(new Error(`the fork server (${perl}) ${why}`), { code: "ESRCH" }))
    launch.resent = true
    launch.instance = live()
    launch.instance.send(launch.body)
  }

  const launch = (spec: LaunchSpec): Promise<LaunchedChild> =>
    new Promise<LaunchedChild>((resolve, reject) => {
      if (closed) return reject(startError(Os.constants.errno.ESRCH, "the fork server is closed:"))
      const id = nextId++
      const env = Object.entries(spec.env).map(([k, v]) => `${k}=${v}`)
      const fields = [String(id), spec.binary, spec.cwd, String(spec.args.length), ...spec.args, ...env]
      if (fields.some((f) => f.includes("\0"))) return reject(startError(Os.constants.errno.EINVAL, "a NUL byte in the arguments or environment:"))
      let settleExit!: (exit: ChildExit) => void
      const exit = new Promise<ChildExit>((done) => (settleExit = done))
      const body = Buffer.from(fields.join("\0"))
      const instance = live()
      inFlight.set(id, { instance, body, resent: false, forked: false, binary: spec.binary, sockets: [undefined, undefined, undefined], resolve, reject, settleExit, exit })
      instance.send(body)
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
