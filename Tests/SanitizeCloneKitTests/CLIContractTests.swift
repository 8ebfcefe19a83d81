import Foundation
import Testing

/// The command-line contract shared with later issues' sessions, in its executable form.
@Suite("Shared CLI contract")
struct CLIContractTests {
    /// `../shared/contract/check-cli-contract.sh` beside the package (in CI: beside the clone).
    static let script = URL(fileURLWithPath: SanitizeClone.packageRoot)
        .deletingLastPathComponent().appendingPathComponent("shared/contract/check-cli-contract.sh").path

    @Test("check-cli-contract.sh passes against the binary",
          .enabled(if: FileManager.default.fileExists(atPath: script),
                   "../shared/contract/check-cli-contract.sh is absent (it lives beside the package in development and CI)"))
    func contractPasses() throws {
        let result = try HostCommand.run("bash", [Self.script, SanitizeClone.binary], timeout: 120)
        #expect(result.exitCode == 0, "\(result)")
        #expect(result.stdout.contains(" passed, 0 failed"), "\(result.stdout)")
    }
}
