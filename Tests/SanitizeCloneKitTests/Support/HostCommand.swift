import Foundation
import Testing

/// How a program we started ended, and what it printed.
struct CommandResult: Sendable, CustomStringConvertible {
    let command: String
    /// The exit status, or 128 + the signal when a signal ended it (as a shell reports it).
    let exitCode: Int32
    /// The signal that ended the program, if one did.
    let signal: Int32?
    let stdout: String
    let stderr: String

    /// Standard output parsed as one JSON document, or nil.
    var json: JSONValue? { try? JSONValue(parsing: stdout) }

    /// True when the program was killed by SIGKILL (a failpoint's `crash`).
    var wasKilled: Bool { signal == SIGKILL }

    var description: String {
        "\(command)\n→ exit \(exitCode)\(signal.map { " (signal \($0))" } ?? "")\nstdout: \(stdout)\nstderr: \(stderr)"
    }
}

/// Runs host programs (ssh-keygen, sha256sum, chattr, unshare, the sanitize-clone binary…)
/// with their output captured in files, so a chatty program can never block on a full pipe.
enum HostCommand {
    /// Runs `executable` (an absolute path, or a name looked up on PATH) and waits for it.
    /// `environment` replaces the variables it names; a failpoint is never inherited.
    /// A program still running after `timeout` seconds is killed (and the test will fail on it).
    /// The default is generous: it catches a hang, never a slow machine (a run that generates RSA
    /// keys while QEMU guests share both cores has taken more than a minute).
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                    stdin: String? = nil, timeout: TimeInterval = 240) throws -> CommandResult {
        let outputDirectory = try Scratch.makeDirectory(prefix: "output")
        defer { try? FileManager.default.removeItem(atPath: outputDirectory) }
        let stdoutPath = outputDirectory + "/stdout", stderrPath = outputDirectory + "/stderr"
        guard FileManager.default.createFile(atPath: stdoutPath, contents: nil),
              FileManager.default.createFile(atPath: stderrPath, contents: nil) else {
            throw FixtureError("cannot create output files in \(outputDirectory)")
        }
        let stdoutHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        let stderrHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        defer {
            try? stdoutHandle.close()
            try? stderrHandle.close()
        }

        let process = Process()
        if executable.hasPrefix("/") {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [executable] + arguments
        }
        var variables = ProcessInfo.processInfo.environment
        variables.removeValue(forKey: "SANITIZE_CLONE_FAILPOINT")
        for (name, value) in environment { variables[name] = value }
        process.environment = variables
        process.standardOutput = stdoutHandle
        process.standardError = stderrHandle
        let input = Pipe()
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
        try process.run()
        if let stdin {
            input.fileHandleForWriting.write(Data(stdin.utf8))
            try? input.fileHandleForWriting.close()
        }

        let deadline = DispatchTime.now() + timeout
        let watchdog = DispatchWorkItem { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        DispatchQueue.global().asyncAfter(deadline: deadline, execute: watchdog)
        process.waitUntilExit()
        watchdog.cancel()

        let killedBySignal = process.terminationReason == .uncaughtSignal
        let status = process.terminationStatus
        let rendered = ([executable] + arguments).joined(separator: " ")
        return CommandResult(
            command: environment.isEmpty ? rendered : environment.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ") + " " + rendered,
            exitCode: killedBySignal ? 128 + status : status,
            signal: killedBySignal ? status : nil,
            stdout: (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "")
    }

    /// Runs a program that must succeed (fixture set-up); throws with its output otherwise.
    @discardableResult
    static func succeed(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                        stdin: String? = nil) throws -> CommandResult {
        let result = try run(executable, arguments, environment: environment, stdin: stdin)
        guard result.exitCode == 0 else { throw FixtureError("set-up command failed: \(result)") }
        return result
    }

    /// The lowercase hex SHA-256 of a host file, as `sha256sum` prints it (nil when absent).
    static func sha256sum(_ path: String) throws -> String? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let result = try succeed("sha256sum", [path])
        return result.stdout.split(separator: " ").first.map(String.init)
    }

    /// True when `name` is found on PATH.
    static func isAvailable(_ name: String) -> Bool {
        (try? run("sh", ["-c", "command -v \(name)"]).exitCode == 0) ?? false
    }
}

/// A fixture could not be built: the environment is broken, not the code under test.
struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Temporary directories for the suite, under `$TMPDIR` (default /tmp).
enum Scratch {
    /// Creates a fresh 0700 directory and returns its path (the caller removes it).
    static func makeDirectory(prefix: String) throws -> String {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(base)/sanitize-clone-tests.\(prefix).XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else {
            throw FixtureError("mkdtemp in \(base): \(String(cString: strerror(errno)))")
        }
        return String(cString: created)
    }
}

/// Conditions under which a test can run at all.
enum Privileges {
    /// Real root: uid 0 in the machine's first user namespace. Loop devices, mounts, network
    /// namespaces, chattr and the system bus need it.
    static var isRoot: Bool { getuid() == 0 && isInitialUserNamespace }

    /// uid 0, perhaps only inside an unprivileged user namespace (`make unit-unprivileged`):
    /// enough to give a fixture's files any owner the namespace maps — root, Fedora's ssh_keys,
    /// Debian's _ssh — which is all a run on a `--root` directory needs.
    static var ownsFiles: Bool { getuid() == 0 }

    /// Whether this process runs in the initial user namespace (its uid map is the identity).
    static let isInitialUserNamespace: Bool = {
        guard let map = try? String(contentsOfFile: "/proc/self/uid_map", encoding: .utf8) else { return true }
        let fields = map.split(whereSeparator: { $0 == " " || $0 == "\n" })
        return fields.count == 3 && fields[0] == "0" && fields[1] == "0" && fields[2] == "4294967295"
    }()
}

extension Trait where Self == ConditionTrait {
    /// Loop devices, mounts, network namespaces, chattr, the system bus: tests that use them
    /// need real root. CI runs the suite as root, and once more unprivileged (`make unit-unprivileged`).
    static var requiresRoot: Self {
        .enabled(if: Privileges.isRoot, "needs real root (loop devices, mounts, namespaces, chattr); CI runs the suite as root")
    }

    /// sanitize-clone gives every file it writes its intended owner and group (root, Fedora's
    /// ssh_keys…): tests of runs on a fixture root need uid 0, which an unprivileged user
    /// namespace gives (`make unit-unprivileged`).
    static var requiresFileOwnership: Self {
        .enabled(if: Privileges.ownsFiles, "needs uid 0, at least in a user namespace (unshare --map-root-user --map-auto)")
    }
}
