import FoundationEssentials

/// Where the logical volumes of one LVM physical volume lie on it, read from its VG metadata, so
/// that a host without device-mapper can reach them through loop devices at byte offsets.
///
/// Only a *linear* LV lying in one contiguous piece on this one PV is a plain range of bytes:
/// `pe_start + first extent × extent size`, `extents × extent size` long. Everything else is
/// refused with its reason, because reading it needs device-mapper's mapping:
/// - striped (the stripes interleave), RAID and mirror LVs (their images and logs);
/// - thin LVs (the thin pool's metadata maps their blocks), cache, writecache, VDO, integrity;
/// - snapshots and their origins (a write to the origin must copy to the snapshot first);
/// - an LV with extents on another PV (`[unknown]` when that PV is not seen), and a linear LV in
///   several pieces that do not follow each other on the PV;
/// - an LV whose extents lie past the end of the PV's device (hostile or truncated metadata).
///
/// The metadata is a stranger's input: LVM's own parser reads it (`lvs --readonly`, confined to
/// the one device as `ConfinedLVM` describes: no other device, no activation, no backups), and
/// every number it reports is checked for overflow and against the device's size here.
struct LogicalVolumeLayout: Sendable, Equatable {
    /// One LV reachable as a byte range of the PV's device.
    struct Volume: Sendable, Equatable {
        /// `VG/LV`, as LVM names it.
        let name: LogicalVolumeName
        /// The LV's UUID, as LVM prints it.
        let uuid: String
        /// Where the LV starts on the PV's device, in bytes.
        let offset: UInt64
        /// The LV's size, in bytes.
        let size: UInt64
    }

    /// An LV that cannot be reached without device-mapper, and why (one line, for the plan).
    struct Refusal: Sendable, Equatable, CustomStringConvertible {
        let name: LogicalVolumeName
        let reason: String
        var description: String { "LV \(name) \(reason)" }
    }

    let volumes: [Volume]
    let refusals: [Refusal]

    /// Reads the LVs of the PV on `device` (a loop device of `deviceSize` bytes): `pvs` for the
    /// data offset, `lvs --segments` for the extents, both confined to the device and read-only.
    ///
    /// Throws `FilesystemUUIDError` when LVM cannot read the PV or its report, `InputError` for a
    /// device LVM may not be given, `MissingProgramError` without lvm2. Writes nothing.
    static func read(_ device: String, deviceSize: UInt64) throws -> LogicalVolumeLayout {
        guard let physicalVolume = try LVMReport.read(device) else { return LogicalVolumeLayout(volumes: [], refusals: []) }
        guard physicalVolume.vgName != nil else { return LogicalVolumeLayout(volumes: [], refusals: []) }
        let lvm = try ConfinedLVM(device: device).actingAs(systemID: physicalVolume.systemID)
        let result = try lvm.run("lvs", ["--readonly", "--foreign", "--shared", "--segments", "--reportformat", "json",
                                         "--units", "b", "--nosuffix", "-o", reportFields])
        guard result.exitCode == 0 else {
            throw FilesystemUUIDError(
                device: device, toolOutput: result.output,
                summary: "LVM cannot list the LVs on \(device)\(LVMIdentityChanger.reasonSuffix(result.output)) (check the PV with `pvck \(device)`)")
        }
        return try parse(report: PartitionLayout.jsonDocument(in: Self.withoutWarnings(result.output)), device: lvm.device,
                         dataStart: physicalVolume.dataStart, deviceSize: deviceSize)
    }

    /// The fields of `lvs --segments` this reads.
    static let reportFields = "vg_name,lv_name,lv_uuid,lv_role,segtype,stripes,seg_start_pe,seg_size_pe,seg_pe_ranges,vg_extent_size"

    /// `lvs --reportformat json` output: `{"report": [{"seg": [{…}, …]}]}`, every value a string.
    struct Report: Decodable {
        struct Section: Decodable { var seg: [[String: String]]? }
        var report: [Section]
    }

    /// The layout an `lvs --segments` JSON report describes for the PV on `device` (as LVM names
    /// it in `seg_pe_ranges`), whose extents start `dataStart` bytes in. Pure.
    ///
    /// Throws `FilesystemUUIDError` when the report is not one we can read.
    static func parse(report text: String, device: String, dataStart: UInt64, deviceSize: UInt64) throws -> LogicalVolumeLayout {
        let report: Report
        do {
            report = try JSONDecoder().decode(Report.self, from: Data(text.utf8))
        } catch {
            throw FilesystemUUIDError(device: device, toolOutput: text,
                                      summary: "LVM's report of the LVs on \(device) is not JSON we can read (\(error)); check the PV with `pvck \(device)`")
        }
        // Segments of each LV, in the order LVM lists them (by name, then by first extent).
        var order: [String] = []
        var segments: [String: [Segment]] = [:]
        for row in report.report.flatMap({ $0.seg ?? [] }) {
            guard let segment = Segment(row) else { continue }
            if segments[segment.key] == nil { order.append(segment.key) }
            segments[segment.key, default: []].append(segment)
        }
        var volumes: [Volume] = [], refusals: [Refusal] = []
        for key in order {
            let pieces = segments[key, default: []].sorted { $0.startExtent < $1.startExtent }
            let first = pieces[0]
            // A thin pool, its hidden data and metadata, RAID images: never a filesystem of their own.
            guard first.role.contains("public") else { continue }
            // A plain LV none of whose extents is on this PV is another PV's to report.
            if pieces.allSatisfy({ ["linear", "striped"].contains($0.type) && !$0.ranges.isEmpty && $0.ranges.allSatisfy { $0.device != device } }) {
                continue
            }
            switch placement(of: pieces, device: device, dataStart: dataStart, deviceSize: deviceSize) {
            case .success(let range):
                volumes.append(Volume(name: first.name, uuid: first.uuid, offset: range.offset, size: range.size))
            case .failure(let refusal):
                refusals.append(Refusal(name: first.name, reason: refusal.reason))
            }
        }
        return LogicalVolumeLayout(volumes: volumes, refusals: refusals)
    }

    /// Why an LV cannot be reached as one byte range.
    struct Unreachable: Error { let reason: String }

    /// The byte range of an LV's segments on `device`, or why there is none.
    private static func placement(of pieces: [Segment], device: String, dataStart: UInt64,
                                  deviceSize: UInt64) -> Result<(offset: UInt64, size: UInt64), Unreachable> {
        let advice = "only a linear LV lying in one piece on one PV can be reached without device-mapper, so it is not attached and its filesystem keeps its UUID"
        func refuse(_ what: String) -> Result<(offset: UInt64, size: UInt64), Unreachable> { .failure(Unreachable(reason: "\(what): \(advice)")) }
        let first = pieces[0]
        if first.role.contains("snapshot") { return refuse("is a snapshot") }
        if first.role.contains("origin") { return refuse("has snapshots (a write to it must first be copied to them)") }
        for piece in pieces {
            switch piece.type {
            case "linear": break
            case "striped": return refuse("is striped over \(piece.stripes) stripes")
            case "thin": return refuse("is a thin LV (the thin pool's metadata maps its blocks)")
            case "mirror": return refuse("is a mirror LV")
            case let type where type.hasPrefix("raid"): return refuse("is a RAID LV (\(type))")
            default: return refuse("is a \(piece.type) LV")
            }
            guard piece.ranges.count == 1, let range = piece.ranges.first else { return refuse("has a segment in \(piece.ranges.count) pieces") }
            guard range.first <= range.last else { return refuse("has extents LVM reports in a form not understood here") }
            guard range.device == device else {
                return refuse("has extents on another PV (\(range.device == "[unknown]" ? "one that is not in the image" : range.device))")
            }
        }
        // Several segments are one range only when each follows the last on the PV as in the LV.
        for (previous, next) in zip(pieces, pieces.dropFirst()) {
            let (before, after) = (previous.ranges[0], next.ranges[0])
            guard next.startExtent == previous.startExtent + previous.extentCount, after.first == before.last + 1 else {
                let list = pieces.map { "\($0.ranges[0].first)-\($0.ranges[0].last)" }.joined(separator: ", ")
                return refuse("lies in \(pieces.count) pieces that do not follow each other on the PV (extents \(list))")
            }
        }
        let extentSize = first.extentSize
        let firstExtent = pieces[0].ranges[0].first
        let extents = pieces.last!.ranges[0].last - firstExtent + 1
        let start = firstExtent.multipliedReportingOverflow(by: extentSize)
        let offset = dataStart.addingReportingOverflow(start.partialValue)
        let size = extents.multipliedReportingOverflow(by: extentSize)
        let end = offset.partialValue.addingReportingOverflow(size.partialValue)
        guard extentSize > 0, !start.overflow, !offset.overflow, !size.overflow, !end.overflow, end.partialValue <= deviceSize else {
            return refuse("has extents past the end of its PV (\(deviceSize) bytes; the metadata is damaged or the image truncated)")
        }
        guard offset.partialValue % 512 == 0, size.partialValue % 512 == 0, size.partialValue > 0 else {
            return refuse("does not start and end on a 512-byte sector")
        }
        return .success((offset.partialValue, size.partialValue))
    }

    /// One row of the report.
    private struct Segment {
        let name: LogicalVolumeName
        let uuid: String
        let role: [Substring]
        let type: String
        let stripes: UInt64
        let startExtent: UInt64
        let extentCount: UInt64
        let extentSize: UInt64
        /// `DEVICE:FIRST-LAST` each (empty for a thin LV); one that does not parse has first > last.
        let ranges: [(device: String, first: UInt64, last: UInt64)]
        var key: String { uuid.isEmpty ? name.description : uuid }

        /// Nil for a row without a VG and LV name LVM would accept.
        init?(_ row: [String: String]) {
            guard let vg = row["vg_name"], let lv = row["lv_name"], let name = LogicalVolumeName(volumeGroup: vg, volume: lv) else { return nil }
            self.name = name
            uuid = row["lv_uuid"] ?? ""
            role = (row["lv_role"] ?? "").split(separator: ",")
            type = row["segtype"] ?? ""
            stripes = UInt64(row["stripes"] ?? "") ?? 0
            startExtent = UInt64(row["seg_start_pe"] ?? "") ?? 0
            extentCount = UInt64(row["seg_size_pe"] ?? "") ?? 0
            extentSize = UInt64(row["vg_extent_size"] ?? "") ?? 0
            ranges = (row["seg_pe_ranges"] ?? "").split(separator: " ").map { piece in
                // The device name may hold a colon; the extents follow the last one.
                guard let colon = piece.lastIndex(of: ":") else { return (String(piece), 1, 0) }
                let numbers = piece[piece.index(after: colon)...].split(separator: "-", maxSplits: 1)
                guard numbers.count == 2, let first = UInt64(numbers[0]), let last = UInt64(numbers[1]), first <= last else {
                    return (String(piece[..<colon]), 1, 0)
                }
                return (String(piece[..<colon]), first, last)
            }
        }
    }

    /// LVM's output without its warning lines (they go to stderr, which is merged with stdout).
    private static func withoutWarnings(_ output: String) -> String {
        output.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.trimmingWhitespace().hasPrefix("WARNING:") }.joined(separator: "\n")
    }
}

/// A logical volume's name with its volume group's: `vg0/root`.
public struct LogicalVolumeName: Sendable, Hashable, CustomStringConvertible {
    public let volumeGroup: String
    public let volume: String

    /// Nil unless both are names LVM accepts (letters, digits, `+_.-`, not starting with `-`).
    public init?(volumeGroup: String, volume: String) {
        guard (try? LVMIdentityChanger.requireValidName(volumeGroup)) != nil, (try? LVMIdentityChanger.requireValidName(volume)) != nil else { return nil }
        self.volumeGroup = volumeGroup
        self.volume = volume
    }

    /// The LV a device path names: `/dev/mapper/VG-LV` (a `-` in a name doubled),
    /// `/dev/disk/by-id/dm-name-VG-LV`, or `/dev/VG/LV`; nil for any other path.
    public init?(devicePath path: String) {
        for prefix in ["/dev/mapper/", "/dev/disk/by-id/dm-name-"] where path.hasPrefix(prefix) {
            let name = Array(path.dropFirst(prefix.count))
            var index = 0
            while index < name.count {
                if name[index] == "-" {
                    if index + 1 < name.count && name[index + 1] == "-" { index += 2; continue }
                    guard index > 0 else { return nil }
                    self.init(volumeGroup: String(name[0..<index]).replacing("--", with: "-"),
                              volume: String(name[(index + 1)...]).replacing("--", with: "-"))
                    return
                }
                index += 1
            }
            return nil
        }
        guard VolumeGroupNames.volumeGroup(namedBy: path) != nil, !path.hasPrefix("/dev/mapper/") else { return nil }
        let parts = path.split(separator: "/")
        self.init(volumeGroup: String(parts[1]), volume: String(parts[2]))
    }

    public var description: String { "\(volumeGroup)/\(volume)" }
}
