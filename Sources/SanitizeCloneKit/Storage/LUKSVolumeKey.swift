/// Whether a clone's LUKS volume still has the template's volume key.
///
/// A clone copied from a template shares its LUKS volume key: a key taken from one clone (from
/// its memory, or a header with a keyslot whose passphrase leaked) opens every clone's disk. A
/// new UUID does not change that; only re-encryption (`cryptsetup reencrypt`, LUKS2) does, which
/// rewrites every sector and cannot be undone through the journal. The key itself is never read:
/// the header's digest of it (LUKS2's `Digests:` section, LUKS1's `MK digest`/`MK salt`: a salted
/// PBKDF2 hash, public in the header) changes with the key and only with it — not with
/// `luksUUID`. `seal` records a fingerprint of it, `verify` compares, and the plan says so.
public enum LUKSVolumeKey {
    /// SHA-256 of the digest lines `cryptsetup luksDump DEVICE` prints, or nil when the device
    /// holds no LUKS header cryptsetup can read. Reads the header only.
    public static func fingerprint(of device: String) throws -> String? {
        let result = try Program.find("cryptsetup", package: "cryptsetup-bin").run(["luksDump", device])
        guard result.exitCode == 0, let lines = digestLines(result.output) else { return nil }
        return SHA256.hex(Array(lines.joined(separator: "\n").utf8))
    }

    /// The lines of a `luksDump` that describe the volume key's digest: LUKS2's `Digests:`
    /// section (its last), LUKS1's `MK digest:` and `MK salt:` with their continuation lines.
    static func digestLines(_ dump: String) -> [String]? {
        let lines = dump.split(whereSeparator: \.isNewline).map(String.init)
        if let start = lines.firstIndex(where: { $0.hasPrefix("Digests:") }) {
            return Array(lines[start...])
        }
        var kept: [String] = []
        var inDigest = false
        for line in lines {
            if line.hasPrefix("MK digest:") || line.hasPrefix("MK salt:") {
                inDigest = true
            } else if !line.hasPrefix(" ") && !line.hasPrefix("\t") {
                inDigest = false
            }
            if inDigest { kept.append(line) }
        }
        return kept.isEmpty ? nil : kept
    }

    /// The plan's note for a LUKS volume a run gives a new UUID (or keeps): the key stays.
    static func sharedKeyNote(place: String, device: String, uuid: String) -> String {
        "\(place): the LUKS volume on \(device) keeps the template's volume key (a new UUID does not change it): a key taken from one clone opens every clone's disk; \(advice(uuid: uuid))"
    }

    /// What re-encrypts the volume with UUID `uuid` (named as the clone names it).
    static func advice(uuid: String) -> String {
        "re-encrypt it in the clone once the run has committed: cryptsetup reencrypt /dev/disk/by-uuid/\(uuid) (LUKS2, online; it rewrites every sector and is not undone by rollback, see storage.md)"
    }
}
