import Foundation
import Testing

/// What `ssh-keygen -l` says about a key file: the reference the task's results are checked against.
struct HostKeyFacts: Equatable, CustomStringConvertible {
    let bits: Int
    let fingerprint: String
    let comment: String
    /// "ED25519", "ECDSA", "RSA".
    let type: String

    /// Reads the public key `inside.pub` of `root` with `ssh-keygen -l -f`.
    init(publicKey inside: String, in root: FixtureRoot) throws {
        try self.init(hostPath: root.hostPath(inside + ".pub"))
    }

    init(hostPath: String) throws {
        let output = try HostCommand.succeed("ssh-keygen", ["-l", "-f", hostPath]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        // "256 SHA256:abc… root@golden (ED25519)"
        let fields = output.split(separator: " ").map(String.init)
        guard fields.count >= 4, let bits = Int(fields[0]) else { throw FixtureError("unexpected ssh-keygen -l output: \(output)") }
        self.bits = bits
        fingerprint = fields[1]
        comment = fields[2..<(fields.count - 1)].joined(separator: " ")
        type = fields[fields.count - 1].trimmingCharacters(in: CharacterSet(charactersIn: "()"))
    }

    var description: String { "\(type) \(bits) \(fingerprint) \(comment)" }

    /// The public key `ssh-keygen -y` derives from the private key `inside` ("type base64"), read
    /// from a 0600 copy (ssh-keygen refuses Fedora's group-readable 0640 original).
    static func publicKeyDerived(fromPrivate inside: String, in root: FixtureRoot) throws -> String {
        let copy = root.scratch + "/derive-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: copy) }
        guard let bytes = root.bytes(inside), FileManager.default.createFile(atPath: copy, contents: Data(bytes), attributes: [.posixPermissions: 0o600]) else {
            throw FixtureError("cannot copy \(inside)")
        }
        let line = try HostCommand.succeed("ssh-keygen", ["-y", "-f", copy]).stdout
        return line.split(separator: " ").prefix(2).joined(separator: " ")
    }

    /// "type base64" of the public key file `inside.pub`, without its comment.
    static func publicKey(_ inside: String, in root: FixtureRoot) -> String? {
        root.read(inside + ".pub")?.split(separator: " ").prefix(2).joined(separator: " ")
    }

    /// The base64 lines of a private key file (each is key material that must never be printed).
    static func privateKeyBody(_ inside: String, in root: FixtureRoot) -> [String] {
        (root.read(inside) ?? "").split(separator: "\n").map(String.init).filter { !$0.hasPrefix("-----") && $0.count >= 16 }
    }
}
