import Foundation
import Testing

/// A path sanitize-clone reads or replaces that exists but is no regular file — a FIFO, a device
/// node, a directory, or a symlink leading to one — is never taken for a missing file: the run
/// stops before any change (exit 2) with one line naming the path, what it is and the fix, and no
/// FIFO is ever opened (the test would hang).
@Suite("Paths that are not regular files", .requiresFileOwnership, .serialized)
struct NonRegularFileTests {
    /// What stands where a file is expected.
    enum Oddity: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case randomSeedDevice, secretKeyFIFO, netplanFIFO, netplanDirectory, netplanSymlinkToFIFO

        var path: String {
            switch self {
            case .randomSeedDevice: "/var/lib/systemd/random-seed"
            case .secretKeyFIFO: "/var/lib/NetworkManager/secret_key"
            case .netplanFIFO, .netplanDirectory, .netplanSymlinkToFIFO: "/etc/netplan/60-extra.yaml"
            }
        }

        /// The words the error uses for what the path is.
        var words: String {
            switch self {
            case .randomSeedDevice: "is a character device, not a regular file"
            case .secretKeyFIFO, .netplanFIFO: "is a FIFO, not a regular file"
            case .netplanDirectory: "is a directory, not a regular file"
            case .netplanSymlinkToFIFO: "leads to a FIFO, not a regular file"
            }
        }

        var testDescription: String {
            switch self {
            case .randomSeedDevice: "the random seed is a character device"
            case .secretKeyFIFO: "NetworkManager's secret_key is a FIFO"
            case .netplanFIFO: "a netplan file is a FIFO"
            case .netplanDirectory: "a netplan file is a directory"
            case .netplanSymlinkToFIFO: "a netplan file is a symlink to a FIFO"
            }
        }

        func make(in root: FixtureRoot) throws {
            try root.makeDirectory((path as NSString).deletingLastPathComponent)
            switch self {
            case .randomSeedDevice:
                try HostCommand.succeed("mknod", ["-m", "0600", root.hostPath(path), "c", "1", "3"])
            case .secretKeyFIFO, .netplanFIFO:
                try makeFIFO(root.hostPath(path))
            case .netplanDirectory:
                try root.makeDirectory(path)
            case .netplanSymlinkToFIFO:
                try makeFIFO(root.hostPath("/run/netplan-fifo"))
                try root.symlink(path, to: "/run/netplan-fifo")
            }
        }

        private func makeFIFO(_ hostPath: String) throws {
            try FileManager.default.createDirectory(atPath: (hostPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            guard mkfifo(hostPath, 0o600) == 0 else { throw FixtureError("mkfifo \(hostPath): \(String(cString: strerror(errno)))") }
        }
    }

    /// Every oddity; a device node only as real root (mknod), not in an unprivileged namespace.
    static let oddities = Oddity.allCases.filter { $0 != .randomSeedDevice || Privileges.isRoot }

    @Test("the run stops before any change (exit 2), naming the path, what it is and the fix", arguments: oddities)
    func refused(_ oddity: Oddity) throws {
        let root = try NetworkFixture.template()
        defer { root.remove() }
        try oddity.make(in: root)
        let before = try root.signature()

        let result = try InProcess.run(["run", "--root", root.path, "--json"] + NetworkFixture.cloneNICs)
        let message = try SanitizeClone.expectError(result, exitCode: 2)
        #expect(message.contains(oddity.path) && message.contains(oddity.words) && message.contains("remove it"), "\(message)")
        try expectUnchanged(root, since: before, "a run refused for \(oddity.path)")
    }

    @Test("a dry run refuses it the same way")
    func dryRunRefused() throws {
        let root = try NetworkFixture.template()
        defer { root.remove() }
        try Oddity.secretKeyFIFO.make(in: root)
        let result = try InProcess.run(["plan", "--root", root.path, "--json"])
        let message = try SanitizeClone.expectError(result, exitCode: 2)
        #expect(message.contains(Oddity.secretKeyFIFO.path) && message.contains(Oddity.secretKeyFIFO.words), "\(message)")
    }
}
