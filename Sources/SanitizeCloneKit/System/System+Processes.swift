#if canImport(Glibc)
import Glibc
#endif
import CShims

/// Starting programs, waiting for them, and signalling processes.
extension System {
    /// pipe2(2) with O_CLOEXEC (sc_pipe_cloexec): a pipe's read and write ends.
    static func pipe(operation: String = "create a pipe for", path: String) throws(SystemError) -> (read: Int32, write: Int32) {
        var ends: [Int32] = [-1, -1]
        try Syscall.call(.spawn, operation, path: path) { sc_pipe_cloexec(&ends) }
        return (ends[0], ends[1])
    }

    /// posix_spawn(3) of the program at `path` with `arguments` (argv[1…]) and `environment`:
    /// stdin from /dev/null, stdout and stderr to `output`, no signal blocked and every signal at
    /// its default action, whatever the spawning thread had (a dispatch thread may block SIGTERM;
    /// libdbus may ignore SIGPIPE). Returns the child's pid.
    static func spawn(_ path: String, arguments: [String], environment: [String], output: Int32,
                      operation: String = "start") throws(SystemError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, output, 2)

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t(), allSignals = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        try Syscall.call(.spawn, operation, path: path) { () -> Int32 in
            // posix_spawn returns the error instead of setting errno.
            let status = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
            if status != 0 { errno = status }
            return status == 0 ? 0 : -1
        }
        return pid
    }

    /// waitpid(2) for the child `pid` to end; returns its wait status.
    static func waitForExit(of pid: pid_t, operation: String = "wait for", path: String) throws(SystemError) -> Int32 {
        var status: Int32 = 0
        try Syscall.call(.wait, operation, path: path) { waitpid(pid, &status, 0) }
        return status
    }

    /// kill(2): sends `signal` to `pid` (0: only checks that it exists and may be signalled).
    static func kill(_ pid: pid_t, _ signal: Int32, operation: String = "signal process") throws(SystemError) {
        try Syscall.call(.signal, operation, path: String(pid)) { Glibc.kill(pid, signal) }
    }

    /// kill(2) with signal 0: true only when no process `pid` exists (ESRCH). One we may not
    /// signal (EPERM), or any other answer, counts as running, so nothing of it is removed.
    static func processIsGone(_ pid: pid_t) -> Bool {
        do {
            try kill(pid, 0)
            return false
        } catch {
            return error.code == ESRCH
        }
    }

    /// pause(2): sleeps until a signal arrives (after `kill` of ourselves, forever). Never made to
    /// fail: it only ever returns EINTR, when a handled signal arrives.
    static func pauseUntilSignal() {
        _ = Glibc.pause()
    }
}
