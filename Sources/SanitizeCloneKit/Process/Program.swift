#if canImport(Glibc)
import Glibc
#endif

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
            // As execvp(3) does, a directory on PATH that cannot be searched is passed over.
            if (try? System.isAccessible(candidate, X_OK)) == true { return Program(path: candidate) }
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
        let pipe = try System.pipe(path: path)
        let pid: pid_t
        do {
            pid = try System.spawn(path, arguments: arguments, environment: environment, output: pipe.write)
        } catch {
            System.close(pipe.write)
            System.close(pipe.read)
            throw error
        }
        System.close(pipe.write)
        return RunningProgram(program: self, arguments: arguments, pid: pid, output: pipe.read)
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
    /// Throws `SystemError` when the output cannot be read (after the program has ended: the
    /// pipe is closed first, so it cannot block on a full one) or the wait fails.
    public func wait() throws -> ProgramOutput {
        let bytes = Result { try FileDescriptorIO.readAll(output, path: program.path, limit: 16 << 20) }
        System.close(output)
        let status = try System.waitForExit(of: pid, path: program.path)
        let exited = status & 0x7f == 0
        return ProgramOutput(
            command: ([program.path] + arguments).joined(separator: " "),
            exitCode: exited ? (status >> 8) & 0xff : 128 + (status & 0x7f),
            output: String(decoding: try bytes.get(), as: UTF8.self))
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
