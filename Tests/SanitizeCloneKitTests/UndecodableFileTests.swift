import Foundation
import Testing

/// A guest configuration file sanitize-clone must parse that is not UTF-8 text — invalid UTF-8,
/// a NUL byte, a UTF-16 or UTF-32 text, a byte order mark — is neither skipped nor edited: the run
/// stops before any change (exit 2) with one line naming the file, the first offending byte and
/// the fix.
@Suite("Configuration files that are not UTF-8 text", .requiresFileOwnership, .serialized)
struct UndecodableFileTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let path: String
        let bytes: [UInt8]
        /// What the error says about the first offending byte.
        let detail: String
    }

    static let netplanPath = "/etc/netplan/50-template.yaml"
    static let portPath = "/etc/NetworkManager/system-connections/bond-port-ens4.nmconnection"

    /// The fixture's text with `marker` replaced by raw bytes.
    static func bytes(of text: String, replacing marker: String, with replacement: [UInt8]) -> [UInt8] {
        let parts = text.components(separatedBy: marker)
        precondition(parts.count == 2, "\(marker) must occur once")
        return Array(parts[0].utf8) + replacement + Array(parts[1].utf8)
    }

    /// The byte offset at which `marker` starts in `text`.
    static func offset(of marker: String, in text: String) -> Int {
        text.components(separatedBy: marker)[0].utf8.count
    }

    static let cases = [
        Case(testDescription: "a netplan file of UTF-16 text", path: netplanPath,
             bytes: [0xFF, 0xFE] + "network:\n  version: 2\n".utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] },
             detail: "UTF-16"),
        Case(testDescription: "a netplan file holding only a UTF-8 byte order mark", path: netplanPath,
             bytes: [0xEF, 0xBB, 0xBF], detail: "byte order mark"),
        Case(testDescription: "a netplan file with an invalid byte in the stanza of a template MAC", path: netplanPath,
             bytes: bytes(of: NetworkFixture.netplan, replacing: "the first NIC", with: Array("the first NIC ".utf8) + [0xFF]),
             detail: "byte 0xFF at offset \(offset(of: "the first NIC", in: NetworkFixture.netplan) + "the first NIC ".utf8.count)"),
        Case(testDescription: "a NetworkManager keyfile in Latin-1", path: portPath,
             bytes: bytes(of: NetworkFixture.portKeyfile, replacing: "id=bond-port-ens4", with: Array("id=port-".utf8) + [0xE9]),
             detail: "byte 0xE9 at offset \(offset(of: "id=bond-port-ens4", in: NetworkFixture.portKeyfile) + "id=port-".utf8.count)"),
        Case(testDescription: "a networkd file with a NUL byte", path: "/etc/systemd/network/10-lan.network",
             bytes: Array(NetworkFixture.networkdNetwork.utf8) + [0x00], detail: "NUL byte"),
    ]

    @Test("the run stops before any change (exit 2), naming the file, the byte and the fix", arguments: cases)
    func refused(_ bad: Case) throws {
        let root = try NetworkFixture.template()
        defer { root.remove() }
        try root.writeBytes(bad.path, bad.bytes, mode: 0o600)
        let before = try root.signature()

        let result = try InProcess.run(["run", "--root", root.path, "--json"] + NetworkFixture.cloneNICs)
        let message = try SanitizeClone.expectError(result, exitCode: 2)
        #expect(message.contains("\(bad.path) is not UTF-8 text"), "\(message)")
        #expect(message.contains(bad.detail), "want '\(bad.detail)' in: \(message)")
        #expect(message.contains("convert it to UTF-8"), "\(message)")
        try expectUnchanged(root, since: before, "a run refused for \(bad.path)")
    }
}
