#if canImport(Glibc)
import Glibc
#endif
import CShims

/// A host program we run (ssh-keygen, dbus-uuidgen, …), found on `PATH`.
///
/// Programs that live inside a `--root` are never run as if they were ours: `chrooted(into:)`
/// runs them inside the root through chroot(8).
public struct Program: Sendable, Equatable {
    /// The program's absolute path on the host.
    public let path: String

    /// A program already located.
    public init(path: String) { self.path = path }

    /// Looks `name` up on `PATH`; throws `MissingProgramError` naming the package that ships it.
    public static func find(_ name: String, package: String) throws -> Program {
        let search = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        for directory in search.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return Program(path: candidate) }
        }
        throw MissingProgramError(name: name, package: package)
    }

    /// Runs the program with `arguments`, stdin from /dev/null, and waits for it.
    /// Standard output and error are captured together.
    public func run(_ arguments: [String], environment: [String] = Program.defaultEnvironment) throws -> ProgramOutput {
        try start(arguments, environment: environment).wait()
    }

    /// Starts the program without waiting, so several can run at once.
    public func start(_ arguments: [String], environment: [String] = Program.defaultEnvironment) throws -> RunningProgram {
        var pipeEnds: [Int32] = [-1, -1]
        guard sc_pipe_cloexec(&pipeEnds) == 0 else {
            throw SystemError(code: sc_errno(), operation: "create a pipe for", path: path)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 2)

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        // The child starts with no signal blocked and every signal at its default action, whatever
        // the spawning thread had (a dispatch thread may block SIGTERM; libdbus may ignore SIGPIPE).
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
        let status = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        close(pipeEnds[1])
        guard status == 0 else {
            close(pipeEnds[0])
            throw SystemError(code: status, operation: "start", path: path)
        }
        return RunningProgram(program: self, arguments: arguments, pid: pid, output: pipeEnds[0])
    }

    /// This program run chrooted into `root` (the guest's own copy of it), through chroot(8).
    public static func chrooted(into root: RootDirectory, program: String) throws -> (Program, [String]) {
        (try find("chroot", package: "coreutils"), [root.hostPath, program])
    }

    /// A small, predictable environment: no locale, the standard PATH.
    public static let defaultEnvironment = [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LC_ALL=C",
    ]
}

/// A started program whose output is still to be collected.
public struct RunningProgram: Sendable {
    let program: Program
    let arguments: [String]
    let pid: pid_t
    let output: Int32

    /// Reads all output and waits for the exit. Never throws for a non-zero exit: see `ProgramOutput`.
    public func wait() throws -> ProgramOutput {
        defer { close(output) }
        let bytes = (try? FileDescriptorIO.readAll(output, path: program.path, limit: 16 << 20)) ?? []
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard sc_errno() == EINTR else { throw SystemError(code: sc_errno(), operation: "wait for", path: program.path) }
        }
        let exited = status & 0x7f == 0
        return ProgramOutput(
            command: ([program.path] + arguments).joined(separator: " "),
            exitCode: exited ? (status >> 8) & 0xff : 128 + (status & 0x7f),
            output: String(decoding: bytes, as: UTF8.self))
    }
}

/// What a finished program printed and how it ended.
public struct ProgramOutput: Sendable {
    public let command: String
    public let exitCode: Int32
    /// Standard output and error, interleaved.
    public let output: String

    /// Throws `ProgramFailedError` unless the exit code was 0.
    @discardableResult
    public func check() throws -> ProgramOutput {
        guard exitCode == 0 else { throw ProgramFailedError(result: self) }
        return self
    }
}

/// A program we need is not installed.
public struct MissingProgramError: Error, CustomStringConvertible, Sendable {
    public let name: String
    public let package: String
    public var description: String {
        "\(name) was not found on PATH (install it: apt-get install \(package))"
    }
}

/// A program exited non-zero.
public struct ProgramFailedError: Error, CustomStringConvertible, Sendable {
    public let result: ProgramOutput
    public var description: String {
        let firstLine = result.output.split(whereSeparator: \.isNewline).first.map(String.init) ?? "no output"
        return "\(result.command) exited with \(result.exitCode): \(firstLine)"
    }
}
