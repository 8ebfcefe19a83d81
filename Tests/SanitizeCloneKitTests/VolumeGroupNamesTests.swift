import SanitizeCloneKit
import Testing

/// Following a renamed volume group through the ways a configuration writes its name, and
/// choosing the new name the way vgimportclone does.
@Suite("Volume group names")
struct VolumeGroupNamesTests {
    @Test("every form of reference follows the new name; look-alikes stay")
    func rewritten() {
        let text = """
            /dev/mapper/vg-root / ext4 defaults 0 1
            /dev/vg/home /home ext4 defaults 0 2
            /dev/disk/by-id/dm-name-vg-swap none swap sw 0 0
            /dev/mapper/vg--old-data /old ext4 defaults 0 2
            /dev/vgx/data /x ext4 defaults 0 2
            linux /vmlinuz root=/dev/mapper/vg-root rd.lvm.vg=vg rd.lvm.vg=vgx rd.lvm.lv=vg/root (lvm/vg-root) /etc/lvm/vg-x
            """
        #expect(VolumeGroupNames.rewritten(text, renaming: ["vg": "vg1"]) == """
            /dev/mapper/vg1-root / ext4 defaults 0 1
            /dev/vg1/home /home ext4 defaults 0 2
            /dev/disk/by-id/dm-name-vg1-swap none swap sw 0 0
            /dev/mapper/vg--old-data /old ext4 defaults 0 2
            /dev/vgx/data /x ext4 defaults 0 2
            linux /vmlinuz root=/dev/mapper/vg1-root rd.lvm.vg=vg1 rd.lvm.vg=vgx rd.lvm.lv=vg1/root (lvm/vg1-root) /etc/lvm/vg-x
            """)
        #expect(VolumeGroupNames.rewritten(text, renaming: ["vg-old": "vg-old1"])?.contains("/dev/mapper/vg--old1-data /old") == true)
        #expect(VolumeGroupNames.rewritten("UUID=1234 / ext4\n", renaming: ["vg": "vg1"]) == nil)
    }

    @Test("a new name is the old one with the lowest free number appended")
    func unused() {
        #expect(VolumeGroupNames.unused(basedOn: "vg0", taken: ["vg0"]) == "vg01")
        #expect(VolumeGroupNames.unused(basedOn: "debian-vg", taken: ["debian-vg", "debian-vg1", "debian-vg2"]) == "debian-vg3")
        #expect(VolumeGroupNames.unused(basedOn: String(repeating: "a", count: 127), taken: []).utf8.count == 127)
    }

    @Test("the volume group a device path names, dashes undoubled; other devices name none")
    func volumeGroupOfPath() {
        #expect(VolumeGroupNames.volumeGroup(namedBy: "/dev/mapper/debian--vg-root") == "debian-vg")
        #expect(VolumeGroupNames.volumeGroup(namedBy: "/dev/vg0/home") == "vg0")
        #expect(VolumeGroupNames.volumeGroup(namedBy: "/dev/mapper/cryptroot") == nil)
        #expect(VolumeGroupNames.volumeGroup(namedBy: "/dev/vda2") == nil)
        #expect(VolumeGroupNames.volumeGroup(namedBy: "/dev/disk/by-label") == nil)
    }
}
