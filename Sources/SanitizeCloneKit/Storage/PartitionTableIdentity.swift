import FoundationEssentials

/// The identifiers of a disk image's partition table — the GPT disk GUID and each partition's
/// unique GUID, or the MBR disk identifier (which every MBR PARTUUID `<id>-NN` is made of) — read
/// and written in userspace with sfdisk on the image file itself.
///
/// As found with util-linux 2.38.1: `sfdisk --disk-id FILE ID` and `sfdisk --part-uuid FILE N
/// UUID` rewrite the primary and backup GPT headers and entry arrays (with their CRCs), or the four
/// bytes at offset 440 of an MBR, and nothing else; setting the old value back gives the same
/// bytes again. Without a value they only print the current one, so the new values are ours. A
/// regular file is never locked by sfdisk (no `--lock`), and it is never re-read by the kernel.
public struct PartitionTableIdentity: Sendable, Equatable {
    /// One partition of the table.
    public struct Partition: Sendable, Equatable {
        /// Its number in the table (5 and up: MBR logical partitions).
        public let number: Int
        /// Where it starts, in bytes from the start of the image.
        public let offset: UInt64
        /// The GPT type GUID (upper case) or the MBR type in hex ("83", "ef").
        public let type: String
        /// The GPT partition's unique GUID, as sfdisk prints it (upper case); nil for MBR.
        public let uuid: String?
    }

    /// "gpt" or "dos" (another label is read but never changed).
    public let label: String
    /// The disk identifier as sfdisk prints it: an upper-case GUID, or `0x1234abcd` for MBR.
    public let diskID: String
    /// The partitions in table order (empty entries left out).
    public let partitions: [Partition]

    /// The GPT type of an EFI system partition, and the MBR type of one.
    public static let efiSystemTypes: Set<String> = ["C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "EF"]

    /// True for an EFI system partition, the one a firmware boot entry names.
    public func isEFISystemPartition(_ partition: Partition) -> Bool {
        Self.efiSystemTypes.contains(partition.type.uppercased())
    }

    /// PARTUUID as blkid and the kernel's `root=PARTUUID=` spell it: the GPT GUID in lower case,
    /// or `<MBR disk id>-NN` (nil for an MBR disk whose identifier is 0).
    public func partUUID(of partition: Partition, diskID: String? = nil) -> String? {
        PartitionLayout.partUUID(label: label, diskID: diskID ?? self.diskID, number: partition.number, uuid: partition.uuid)
    }

    /// The table of `image` (`sfdisk --json IMAGE`), nil when it has none (a bare filesystem).
    ///
    /// Throws `InputError` for output sfdisk cannot make sense of, `ProgramFailedError` for any
    /// other failure, `MissingProgramError` without sfdisk. Reads the image; writes nothing.
    public static func read(image: String) throws -> PartitionTableIdentity? {
        let result = try sfdisk().run(["--json", image])
        if result.exitCode != 0 && result.output.contains("does not contain a recognized partition table") { return nil }
        try result.check()
        let dump: PartitionLayout.Dump
        do {
            dump = try JSONDecoder().decode(PartitionLayout.Dump.self, from: Data(PartitionLayout.jsonDocument(in: result.output).utf8))
        } catch {
            throw InputError("\(image): sfdisk --json printed no partition table we can read (\(error)); check it with `sfdisk --verify \(image)`")
        }
        let table = dump.partitiontable
        let sectorSize = table.sectorsize ?? 512
        let partitions = (table.partitions ?? []).compactMap { entry -> Partition? in
            guard entry.size > 0, let number = PartitionLayout.number(of: entry.node, device: table.device) else { return nil }
            let offset = entry.start.multipliedReportingOverflow(by: sectorSize)
            return Partition(number: number, offset: offset.overflow ? .max : offset.partialValue, type: entry.type ?? "", uuid: entry.uuid)
        }
        return PartitionTableIdentity(label: table.label, diskID: table.id ?? "", partitions: partitions)
    }

    /// Sets the disk identifier of `image` (`sfdisk --disk-id IMAGE ID`): a GUID for GPT,
    /// `0x` and 8 hex digits for MBR. Throws `InputError` for a malformed identifier,
    /// `PartitionTableError` when sfdisk fails. Side effect: rewrites the table's headers.
    public static func setDiskID(_ id: String, label: String, image: String) throws {
        try requireWellFormed(id, field: label == "gpt" ? .gptDiskGUID : .mbrDiskID)
        let result = try sfdisk().run(["--disk-id", image, id])
        guard result.exitCode == 0 else { throw PartitionTableError(image: image, what: "the disk identifier", output: result.output) }
    }

    /// Sets the unique GUID of GPT partition `number` of `image` (`sfdisk --part-uuid IMAGE N UUID`).
    /// Throws `InputError` for a malformed GUID, `PartitionTableError` when sfdisk fails.
    /// Side effect: rewrites the table's entry arrays and headers.
    public static func setPartitionUUID(_ uuid: String, number: Int, image: String) throws {
        try requireWellFormed(uuid, field: .gptPartitionGUID)
        let result = try sfdisk().run(["--part-uuid", image, String(number), uuid])
        guard result.exitCode == 0 else {
            throw PartitionTableError(image: image, what: "the GUID of partition \(number)", output: result.output)
        }
    }

    /// A new random GUID (version 4), upper case as sfdisk prints it.
    public static func newGUID() throws -> String { try RandomBytes.uuid().uppercased() }

    /// A new random MBR disk identifier, never 0 (which would leave the partitions without PARTUUID).
    public static func newMBRDiskID() throws -> String {
        var bytes = try RandomBytes.generate(4)
        while bytes == [0, 0, 0, 0] { bytes = try RandomBytes.generate(4) }
        return "0x" + Hex.encode(bytes)
    }

    /// The identifiers a table holds, as the journal names them.
    public enum Field: String, Sendable, CaseIterable {
        case gptDiskGUID = "gpt-disk-guid"
        case gptPartitionGUID = "gpt-partition-guid"
        case mbrDiskID = "mbr-disk-id"
    }

    /// Throws `InputError` unless `value` is a GUID (8-4-4-4-12 hex digits, either case) for a
    /// GPT field, or `0x` and 8 hex digits for the MBR disk identifier.
    public static func requireWellFormed(_ value: String, field: Field) throws {
        switch field {
        case .mbrDiskID:
            let digits = value.lowercased().hasPrefix("0x") ? value.dropFirst(2) : ""
            guard digits.count == 8, digits.allSatisfy(\.isASCIIHexDigit) else {
                throw InputError("\(value) is not an MBR disk identifier (expected 0x and 8 hex digits, e.g. 0x1a2b3c4d)")
            }
        case .gptDiskGUID, .gptPartitionGUID:
            let parts = value.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 5, zip(parts, [8, 4, 4, 4, 12]).allSatisfy({ $0.count == $1 && $0.allSatisfy(\.isASCIIHexDigit) }) else {
                throw InputError("\(value) is not a GUID (expected 8-4-4-4-12 hex digits, e.g. 0F6E2B9C-3D1A-4C5E-9B7A-2E4D6F8A0C1B)")
            }
        }
    }

    /// True when two identifiers are the same (hex digits compared without regard to case).
    public static func same(_ first: String, _ second: String) -> Bool { first.lowercased() == second.lowercased() }

    private static func sfdisk() throws -> Program { try Program.find("sfdisk", package: "fdisk") }
}

/// sfdisk could not set an identifier of an image's partition table.
public struct PartitionTableError: Error, CustomStringConvertible, Sendable {
    let image: String, what: String, output: String
    /// One line: what failed, sfdisk's reason, what to do.
    public var description: String {
        let reason = FilesystemUUIDError.oneLineReason(output)
        return "Failed to set \(what) of \(image) with sfdisk\(reason.isEmpty ? "" : ": \(reason)") (check the table with `sfdisk --verify \(image)`, then retry)"
    }
}
