#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Logging
import SanitizeCloneKit

/// Where messages go: audit events to journald (or readable lines on stderr without it), results
/// to stdout, errors as one line on stderr — or, under --json, as one JSON object on stdout.
enum Output {
    /// Sends swift-log to journald when its socket exists, else to standard error.
    static func installLogging() {
        let journald = JournaldLogHandler.isJournaldAvailable
        LoggingSystem.bootstrap { label in
            journald ? JournaldLogHandler(label: label) as any LogHandler : StandardErrorLogHandler() as any LogHandler
        }
    }

    static let logger = Logger(label: "sanitize-clone")

    static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    /// Runs `body`; an error is reported (JSON or text) and ends the command with its exit code.
    static func reportingErrors<Result>(json: Bool, _ body: () throws -> Result) throws -> Result {
        do {
            return try body()
        } catch let exit as ExitCode {
            throw exit
        } catch {
            throw ExitCode(fail(error, json: json))
        }
    }

    /// Reports `error` and returns its exit code.
    static func fail(_ error: any Error, json: Bool) -> Int32 {
        fail(message: "\(error)", code: ExitStatus.code(for: error), json: json, usageHint: false)
    }

    /// The help to read after a usage error: the subcommand's own when one was named.
    static func helpCommand(arguments: [String] = CommandLine.arguments) -> String {
        let names = SanitizeCloneCommand.configuration.subcommands.compactMap { $0.configuration.commandName }
        guard let named = arguments.dropFirst().first(where: { !$0.hasPrefix("-") }), names.contains(named) else {
            return "sanitize-clone --help"
        }
        return "sanitize-clone \(named) --help"
    }

    /// Reports `message` with `code`: a JSON error object on stdout, or "error: …" on stderr.
    static func fail(message: String, code: Int32, json: Bool, usageHint: Bool) -> Int32 {
        if json {
            print(JSON.object([("result", .string("error")), ("error", .string(message)), ("exit_code", .number(Int(code)))]).serialized())
        } else {
            let hint = usageHint ? " (see '\(helpCommand())')" : ""
            let text = (message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message)
            StandardError.write("sanitize-clone: error: \(text)\(hint)\n")
        }
        return code
    }
}

/// Progress of `run` on a terminal: one line per task as it finishes.
final class TerminalProgress: RunObserver, @unchecked Sendable {
    // @unchecked: writes go through stdio, which locks each stream.

    /// A progress view on stderr when it is a terminal and journald takes the events; nil
    /// otherwise (without journald the events themselves are printed on stderr).
    static func forStandardError() -> TerminalProgress? {
        isatty(2) != 0 && JournaldLogHandler.isJournaldAvailable ? TerminalProgress() : nil
    }

    func taskStarted(_ name: String) {
        StandardError.write("  … \(name)\n")
    }

    func taskFinished(_ name: String, status: RunReport.TaskReport.Status, milliseconds: Int, detail: String?) {
        let mark = switch status {
        case .applied: "✔"
        case .skipped: "–"
        case .failed: "✘"
        default: "·"
        }
        StandardError.write("  \(mark) \(name) \(status.rawValue) (\(milliseconds) ms)\(detail.map { ": \($0)" } ?? "")\n")
    }

    func message(_ text: String) {
        StandardError.write("  ! \(text)\n")
    }
}

/// `--root` and `--json`, shared by every command that acts on one root.
struct RootOptions: ParsableArguments {
    @Option(help: "The root directory to act on.")
    var root: String = "/"

    @Flag(help: "Print one JSON object instead of text.")
    var json = false
}

/// For a command that takes `--image` beside `--root`: they name two different things to act on.
/// With an image, the process's mounts are made private here, before any thread starts, so the
/// image's mounts stay in a namespace of its own.
func validateImageTarget(image: String?, root: String) throws {
    guard image != nil else { return }
    guard RootPath.normalized(root) == "/" else { throw ValidationError("Give either --root or --image, not both.") }
    PrivateMount.hideMountsFromHost()
}

/// A command with `RootOptions`: `root` and `json` read as its own.
protocol ActsOnRoot {
    var target: RootOptions { get }
}

extension ActsOnRoot {
    var root: String { target.root }
    var json: Bool { target.json }
}
