#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import SanitizeCloneKit

// The entry point maps every failure to sanitize-clone's documented exit codes (usage errors are
// 2, not ArgumentParser's 64) and keeps stdout one JSON object under --json, even on errors.
Output.installLogging()
let wantsJSON = CommandLine.arguments.dropFirst().contains("--json")
if let fault = Output.environment("SANITIZE_CLONE_FAULT"), !fault.isEmpty {
    do {
        try FaultInjection.configure(fault, report: Output.environment("SANITIZE_CLONE_FAULT_REPORT"))
    } catch {
        Glibc.exit(Output.fail(error, json: wantsJSON))
    }
}
do {
    var command = try SanitizeCloneCommand.parseAsRoot()
    try command.run()
} catch let exit as ExitCode {
    Glibc.exit(exit.rawValue)
} catch {
    let code = SanitizeCloneCommand.exitCode(for: error)
    if code == .success {
        print(SanitizeCloneCommand.fullMessage(for: error))
        Glibc.exit(0)
    }
    let message = SanitizeCloneCommand.message(for: error)
    Glibc.exit(Output.fail(message: message, code: ExitStatus.invalidInput, json: wantsJSON, usageHint: true))
}
