import Foundation
import Logging
import Testing
@testable import SanitizeCloneKit

/// `sanitize-clone` run inside this test process: the engine on a fixture root with the options
/// the command line builds, answering with the JSON the command prints — no binary started, no
/// privilege beyond owning the fixture's files (`make unit-unprivileged` runs these in an
/// unprivileged user namespace).
///
/// Tests of what a task or the engine does use it; the black-box tests of the binary
/// (`SanitizeClone`) keep the command-line contract: parsing, text output, exit codes of usage
/// errors, crashes, the boot service, images. It speaks the same words as the command line —
/// `run`, `plan`, `rollback`, `status`, `prune` with `--json` — so a test reads the same either way:
///
///     let report = try InProcess.json(["run", "--root", root.path, "--only", "hostname", "--json"])
enum InProcess {
    /// The engine, with every task, auditing nowhere (journald tests use the binary).
    static let engine = RunEngine(tasks: TaskRegistry.all,
                                  logger: Logger(label: "in-process", factory: { _ in SwiftLogNoOpLogHandler() }))

    /// Runs `arguments` as the binary would and returns what it would have printed and its exit
    /// code: one JSON object on stdout (`--json` is required), nothing on stderr.
    /// `failpoint` is SANITIZE_CLONE_FAILPOINT; a `crash` failpoint needs the binary (it kills).
    static func run(_ arguments: [String], failpoint: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws -> CommandResult {
        let command = "in-process sanitize-clone " + arguments.joined(separator: " ")
        let invocation = try Invocation(parsing: arguments)
        let json: JSON
        let exitCode: Int32
        do {
            (json, exitCode) = try performHoldingOff(invocation, failpoint: failpoint)
        } catch {
            let code = ExitStatus.code(for: error)
            json = .object([("result", .string("error")), ("error", .string("\(error)")), ("exit_code", .number(Int(code)))])
            exitCode = code
        }
        let result = CommandResult(command: command, exitCode: exitCode, signal: nil, stdout: json.serialized() + "\n", stderr: "")
        #expect(!result.stdout.contains("PRIVATE KEY"), "private key material in the output of \(command)", sourceLocation: sourceLocation)
        return result
    }

    /// Performs `invocation`, trying again for up to a second while the root's lock is held. Only
    /// in-process is that needed: a program another test starts copies this process's descriptors
    /// (the run lock's among them) and holds them until its exec closes them, so for a moment the
    /// lock of a run that ended here can still look held. The binary's lock test is black-box.
    private static func performHoldingOff(_ invocation: Invocation, failpoint: String?) throws -> (JSON, Int32) {
        for _ in 1..<20 {
            do {
                return try invocation.perform(failpoint: failpoint)
            } catch is LockHeldError {
                usleep(50_000)
            }
        }
        return try invocation.perform(failpoint: failpoint)
    }

    /// Runs `arguments`, which must succeed (exit 0); returns the JSON object printed.
    @discardableResult
    static func json(_ arguments: [String], failpoint: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONValue {
        let result = try run(arguments, failpoint: failpoint, sourceLocation: sourceLocation)
        try #require(result.exitCode == 0, "\(result)", sourceLocation: sourceLocation)
        return try SanitizeClone.requireSingleJSONObject(result, sourceLocation: sourceLocation)
    }

    /// One command line, read as the binary reads it (only what tests use; anything else is a
    /// mistake in the test, not a usage error to report).
    struct Invocation {
        var subcommand: String
        var root = "/"
        var options = RunOptions()
        var nics: [String] = []
        var productUUID: String?
        var last = false
        var force = false
        var runID: String?
        var discardForeign = false

        init(parsing arguments: [String]) throws {
            var words = arguments[...]
            guard let first = words.popFirst() else { throw FixtureError("in-process: no subcommand") }
            subcommand = first
            guard ["run", "plan", "rollback", "status", "prune"].contains(subcommand) else {
                throw FixtureError("in-process: '\(subcommand)' needs the binary (SanitizeClone.run)")
            }
            options.dryRun = subcommand == "plan"
            var sawJSON = false
            func value(_ option: String) throws -> String {
                guard let next = words.popFirst() else { throw FixtureError("in-process: \(option) needs a value") }
                return next
            }
            while var word = words.popFirst() {
                if word.hasPrefix("--"), let equals = word.firstIndex(of: "=") {
                    words.insert(String(word[word.index(after: equals)...]), at: words.startIndex)
                    word = String(word[..<equals])
                }
                switch word {
                case "--json": sawJSON = true
                case "--root": root = try value(word)
                case "--only": options.only = try value(word).split(separator: ",").map(String.init)
                case "--skip": options.skip = try value(word).split(separator: ",").map(String.init)
                case "--hostname": options.hostname = try value(word)
                case "--config": options.configFile = try value(word)
                case "--nic": nics.append(try value(word))
                case "--product-uuid": productUUID = try value(word)
                case "--device": options.devices.append(try value(word))
                case "--allow-exec": options.allowExec = true
                case "--probe-addresses": options.probeAddresses = true
                case "--dry-run": options.dryRun = true
                case "--last": last = true
                case "--force": force = true
                case "--discard-foreign": discardForeign = true
                case let id where !id.hasPrefix("-") && subcommand == "rollback" && runID == nil: runID = id
                default: throw FixtureError("in-process: '\(word)' is not an option tests run in-process (use SanitizeClone.run)")
                }
            }
            guard sawJSON else { throw FixtureError("in-process runs answer in JSON only: add --json, or use SanitizeClone.run for text") }
            guard RootPath.normalized(root) != "/" else { throw FixtureError("in-process runs act on a fixture root, never on /") }
        }

        /// What the binary prints under --json, and its exit code; an error is thrown as the
        /// binary would report it.
        func perform(failpoint: String?) throws -> (JSON, Int32) {
            var options = options
            if let failpoint, !failpoint.isEmpty { options.failpoint = try Failpoint(parsing: failpoint) }
            switch subcommand {
            case "run", "plan":
                if !nics.isEmpty || productUUID != nil {
                    let interfaces = try nics.map { entry in
                        do { return try NetworkInterface(parsing: entry) } catch { throw InputError("--nic \(error)") }
                    }
                    options.platform = PlatformFacts(productUUID: productUUID, interfaces: interfaces)
                }
                let report = try InProcess.engine.run(rootPath: root, options: options)
                return (report.json, report.exitCode)
            case "rollback":
                guard last != (runID != nil) else { throw FixtureError("in-process rollback: give either --last or a run id") }
                let report = try InProcess.engine.rollback(rootPath: root, target: runID.map { .run($0) } ?? .last, force: force,
                                                           failpoint: options.failpoint,
                                                           binding: RunEngine.RootBinding(devices: options.devices))
                return (report.json, 0)
            case "status":
                return (try InProcess.engine.status(rootPath: root).json, 0)
            default:
                let pruned = try InProcess.engine.prune(rootPath: root, discardForeign: discardForeign)
                return (.object([("result", .string("pruned")), ("runs", .array(pruned.map(JSON.string)))]), 0)
            }
        }
    }
}
