import Foundation
@testable import SanitizeCloneKit
import Testing

@Suite("SHA-256 against sha256sum, Base64 against Foundation")
struct SHA256Tests {
    /// Lengths around the 55/56/64-byte padding boundaries, and one large input.
    static let lengths = [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 1 << 20]

    @Test("SHA256.hex equals sha256sum", arguments: lengths)
    func matchesSHA256Sum(_ length: Int) throws {
        let directory = try Scratch.makeDirectory(prefix: "sha")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let bytes = (0..<length).map { _ in UInt8.random(in: 0...255) }
        let file = directory + "/input"
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        #expect(SHA256.hex(bytes) == (try HostCommand.sha256sum(file)))
    }

    @Test("the FIPS 180-4 example 'abc'")
    func knownVector() {
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test("Base64 round-trips and equals Foundation's encoding", arguments: [0, 1, 2, 3, 4, 32, 100])
    func base64(_ length: Int) throws {
        let bytes = (0..<length).map { _ in UInt8.random(in: 0...255) }
        let encoded = Base64.encode(bytes)
        #expect(Base64.decode(Substring(encoded)) == bytes)
        #expect(encoded == Data(bytes).base64EncodedString())
        #expect(Base64.encode(bytes, padding: false) == encoded.replacingOccurrences(of: "=", with: ""))
    }
}
