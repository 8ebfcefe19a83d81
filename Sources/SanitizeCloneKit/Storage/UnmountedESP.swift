/// An EFI system partition (FAT) the root's fstab mounts on `/boot/efi`, `/efi` or `/boot` that is
/// not mounted in the root here — a host whose kernel has no vfat driver (`--image`), or a
/// `--root` whose ESP the administrator did not mount — with the boot loader files on it that may
/// name a UUID, read through mtools (`FATVolume`) instead of a mount.
///
/// Only text files are ever rewritten: GRUB's stub `EFI/*/grub.cfg`, Boot Loader Specification
/// entries `loader/entries/*.conf`, systemd-boot's `loader/loader.conf`, and with the ESP on
/// `/boot` GRUB's `grub/grub.cfg` and `grub2/grub.cfg`. Unified kernel images (`EFI/Linux/*.efi`)
/// are binaries whose command line is signed: they are only read, and a UUID one embeds is kept.
public struct UnmountedESP: Sendable {
    /// Where the fstab mounts it, e.g. "/boot/efi".
    public let mountPoint: String
    /// The device of the run's scope that holds it, as probed.
    public let device: BlockDeviceIdentity
    /// Its files through mtools.
    let volume: FATVolume
    /// Text files that may name a UUID: path inside the volume → contents.
    public let texts: [(path: String, bytes: [UInt8], text: String)]
    /// Files that are not text (UKIs, a candidate that does not decode): path → bytes, never written.
    public let binaries: [(path: String, bytes: [UInt8])]

    /// Where boot loader files live on a filesystem of their own.
    static let places = ["/boot/efi", "/efi", "/boot"]

    /// An ESP the run cannot read: where it is mounted and why.
    public struct Unreachable: Sendable {
        public let mountPoint: String
        public let reason: String
    }

    /// The FAT filesystems `references` (fstab) mount on `places` where nothing is mounted in the
    /// root now, each read through mtools when it is in the run's scope (`inventory`) and nothing
    /// on the build host uses it; the others, with the reason. Nothing on the running system
    /// (its ESP is mounted or automounted). Reads only.
    static func find(_ references: [FilesystemReference], inventory: BlockDeviceInventory, in context: PlanningContext) throws
        -> (reachable: [UnmountedESP], unreachable: [Unreachable]) {
        guard !context.root.isLiveSystem else { return ([], []) }
        var reachable: [UnmountedESP] = [], unreachable: [Unreachable] = []
        for place in places {
            guard let reference = references.first(where: { $0.mountPoint == place && $0.file == "/etc/fstab" }),
                  try !isMountPoint(place, in: context.root) else { continue }
            let matching = inventory.devices(for: reference.source)
            guard matching.count <= 1 else {
                unreachable.append(.init(mountPoint: place, reason: "\(matching.count) devices match \(reference.specification) (\(matching.map(\.device).joined(separator: ", ")))"))
                continue
            }
            guard let device = matching.first else {
                if ["vfat", "msdos"].contains(reference.type) {
                    unreachable.append(.init(mountPoint: place, reason: "its \(reference.specification) is not one of \(context.deviceScope.summary) (name the ESP with --device)"))
                }
                continue
            }
            guard device.type == "vfat" else { continue }
            if let use = try HostDeviceUse.reason(device.device) {
                unreachable.append(.init(mountPoint: place, reason: "the build host uses \(device.device) (\(use))"))
                continue
            }
            do {
                reachable.append(try read(device, mountedAt: place))
            } catch let error as InputError {
                throw error
            } catch {
                unreachable.append(.init(mountPoint: place, reason: "\(error)"))
            }
        }
        return (reachable, unreachable)
    }

    /// True when a filesystem other than its parent's is mounted on `place` in the root.
    static func isMountPoint(_ place: String, in root: RootDirectory) throws -> Bool {
        guard let here = try root.followedStatus(of: place), here.kind == .directory,
              let parent = try root.followedStatus(of: RootPath.parent(of: place)) else { return false }
        return here.device != parent.device
    }

    /// The ESP on `device`, its candidate files read (a file over `FATVolume.readLimit` is refused).
    static func read(_ device: BlockDeviceIdentity, mountedAt place: String) throws -> UnmountedESP {
        let volume = try FATVolume(device: device.device)
        var texts: [(path: String, bytes: [UInt8], text: String)] = [], binaries: [(path: String, bytes: [UInt8])] = []
        for entry in try volume.list() where !entry.isDirectory {
            guard let kind = candidate(entry.path, mountedAt: place), let bytes = try volume.read(entry.path) else { continue }
            if kind == .text, GuestText.problem(in: bytes) == nil {
                texts.append((entry.path, bytes, String(decoding: bytes, as: UTF8.self)))
            } else {
                binaries.append((entry.path, bytes))
            }
        }
        return UnmountedESP(mountPoint: place, device: device, volume: volume, texts: texts, binaries: binaries)
    }

    enum Candidate { case text, binary }

    /// Whether the file `path` of an ESP mounted at `place` may name a UUID, and how it is
    /// treated. FAT names compare without case.
    static func candidate(_ path: String, mountedAt place: String) -> Candidate? {
        let parts = path.lowercased().split(separator: "/").map(String.init)
        switch parts.count {
        case 2 where parts[0] == "loader" && parts[1] == "loader.conf": return .text
        case 2 where place == "/boot" && (parts[0] == "grub" || parts[0] == "grub2") && parts[1] == "grub.cfg": return .text
        case 3 where parts[0] == "loader" && parts[1] == "entries" && parts[2].hasSuffix(".conf"): return .text
        case 3 where parts[0] == "efi" && parts[1] == "linux" && parts[2].hasSuffix(".efi"): return .binary
        case 3 where parts[0] == "efi" && parts[2] == "grub.cfg": return .text
        default: return nil
        }
    }

    /// How the plan and the diff name a file of this ESP: as the guest sees it mounted.
    public func displayPath(_ path: String) -> String { RootPath.join(mountPoint, String(path.dropFirst())) }

    /// The contents of `path` now (nil when absent), for verify.
    func readNow(_ path: String) throws -> [UInt8]? { try volume.read(path) }

    /// Writes `contents` to `path` (apply).
    func write(_ path: String, contents: [UInt8]) throws { try volume.write(path, contents: contents) }
}
