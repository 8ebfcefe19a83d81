import Testing
@testable import SanitizeCloneKit

/// Identities in guest files are ASCII: Swift's `isHexDigit` also accepts fullwidth digits
/// (U+FF10…), which must never make a MAC, a UUID or a product UUID.
@Suite("Hexadecimal identities are ASCII only")
struct ASCIIHexDigitsTests {
    static let fullwidthMAC = "５２:54:00:12:34:56"

    @Test("a MAC with a fullwidth digit is no MAC; the ASCII one parses")
    func macAddresses() {
        #expect(MACAddress(Self.fullwidthMAC) == nil)
        #expect(MACAddress("52:54:00:12:34:56")?.bytes == [0x52, 0x54, 0x00, 0x12, 0x34, 0x56])
        #expect(MACAddress("52-54-00-AB-cd-EF") != nil)
    }

    @Test("a filesystem UUID with a fullwidth digit is refused in the journal and by the changer")
    func uuids() throws {
        #expect(throws: InputError.self) { try FilesystemUUIDChanger.requireWellFormed("０f6e2b9c-3d1a-4c5e-9b7a-2e4d6f8a0c1b", type: "ext4") }
        try FilesystemUUIDChanger.requireWellFormed("0f6e2b9c-3d1a-4c5e-9b7a-2e4d6f8a0c1b", type: "ext4")
        #expect(throws: InputError.self) { try StorageIdentityUndo().validate(["vfat", "ＡBCD-1234", "ABCD-1235"]) }
    }

    @Test("the ASCII digits and letters are hex, nothing else is", arguments: ["0", "9", "a", "f", "A", "F", "g", "０", "ａ", "Ｆ", "-", " "])
    func characters(_ text: String) {
        let character = Character(text)
        #expect(character.isASCIIHexDigit == (character.isASCII && character.isHexDigit))
    }
}
