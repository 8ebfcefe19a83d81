import Testing
@testable import SanitizeCloneKit

/// How a reference file's UUIDs are rewritten: whole tokens only, in the old one's case, and a
/// vfat serial of digits alone (which shows no case) in the case udev names the new one.
@Suite("UUID references")
struct UUIDReferencesTests {
    @Test("an old UUID is replaced in its own case, as a whole token only")
    func caseAndTokens() {
        let map = ["5f3c1a9e-2b7d-4c6e-8a0f-1b2c3d4e5f60": "6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "ABCD-1234": "03AD-D2DA"]
        let text = """
            UUID=5f3c1a9e-2b7d-4c6e-8a0f-1b2c3d4e5f60 / ext4 defaults 0 1
            UUID=abcd-1234 /boot/efi vfat umask=0077 0 2
            # search --fs-uuid 5F3C1A9E-2B7D-4C6E-8A0F-1B2C3D4E5F60
            UUID=5f3c1a9e-2b7d-4c6e-8a0f-1b2c3d4e5f60x stays: not a whole token

            """
        #expect(UUIDReferences.rewritten(text, replacing: map) == """
            UUID=6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d / ext4 defaults 0 1
            UUID=03ad-d2da /boot/efi vfat umask=0077 0 2
            # search --fs-uuid 6A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D
            UUID=5f3c1a9e-2b7d-4c6e-8a0f-1b2c3d4e5f60x stays: not a whole token

            """)
        #expect(UUIDReferences.rewritten("nothing here\n", replacing: map) == nil)
    }

    @Test("a vfat serial of digits alone gets the new serial as given (upper-case, as udev's by-uuid name), not lower-cased")
    func digitsOnlySerial() {
        // 3 of 3 boots of an image whose ESP serial was 1209-7059 stopped in emergency mode when
        // fstab got 2d40-68f7 for /dev/disk/by-uuid/2D40-68F7.
        #expect(UUIDReferences.rewritten("UUID=1209-7059 /boot/efi vfat defaults 0 2\n", replacing: ["1209-7059": "2D40-68F7"])
                == "UUID=2D40-68F7 /boot/efi vfat defaults 0 2\n")
        #expect(UUIDReferences.rewritten("search.fs_uuid 1209-7059 root\n", replacing: ["1209-7059": "2D40-68F7"]) == "search.fs_uuid 2D40-68F7 root\n")
    }

    @Test("LVM's mixed-case UUIDs are compared and written exactly")
    func exactly() {
        let text = "search --hint='lvmid/qDotm8-9Z2b-16D2-sxUt-d83Z-FAcT-zEDvQk/abc' ...\n"
        #expect(UUIDReferences.rewritten(text, replacing: [:], exactly: ["qDotm8-9Z2b-16D2-sxUt-d83Z-FAcT-zEDvQk": "ywTIgk-xAK0-FsCi-52AD-MZa8-CceN-RwTAde"])
                == "search --hint='lvmid/ywTIgk-xAK0-FsCi-52AD-MZa8-CceN-RwTAde/abc' ...\n")
        #expect(UUIDReferences.rewritten(text, replacing: [:], exactly: ["QDOTM8-9Z2B-16D2-SXUT-D83Z-FACT-ZEDVQK": "x"]) == nil)
    }
}
