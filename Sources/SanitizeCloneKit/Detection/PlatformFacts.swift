#if canImport(Glibc)
import Glibc
#endif
import CShims

/// A network interface as clone detection sees it.
public struct NetworkInterface: Sendable, Equatable, Codable {
    public var name: String
    /// The current address, lowercase "52:54:00:…".
    public var mac: String
    /// The burned-in address (ETHTOOL_GPERMADDR), or the current one when the driver has none.
    public var permanentMAC: String
    /// True for a device with a bus behind it (not lo, bridges, veth…).
    public var isPhysical: Bool
    /// The PCI address of the device ("0000:00:03.0"), when it sits on PCI.
    public var pciAddress: String?

    public init(name: String, mac: String, permanentMAC: String? = nil, isPhysical: Bool = true, pciAddress: String? = nil) {
        self.name = name
        self.mac = mac.lowercased()
        self.permanentMAC = (permanentMAC ?? mac).lowercased()
        self.isPhysical = isPhysical
        self.pciAddress = pciAddress?.lowercased()
    }

    /// Parses `NAME=MAC` or `NAME=MAC,PCI-ADDRESS` (the `--nic` option and `[Network] Interfaces=`).
    public init(parsing entry: String) throws {
        let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
        let fields = parts.count == 2 ? parts[1].split(separator: ",", maxSplits: 1).map(String.init) : []
        guard parts.count == 2, !parts[0].isEmpty, let first = fields.first, let address = MACAddress(first) else {
            throw InputError("\(entry): expected NAME=MAC or NAME=MAC,PCI-ADDRESS, e.g. ens3=52:54:00:12:34:56,0000:00:03.0 ('sanitize-clone detect' on the machine lists its NICs in this form)")
        }
        self.init(name: parts[0], mac: address.description, pciAddress: fields.count > 1 ? fields[1] : nil)
    }
}

/// What the platform says about this machine: the DMI product UUID and the NICs. Read from the
/// running system, or — for a `--root` that is not the running system — given on the command
/// line, since the build host's own facts are never the guest's.
public struct PlatformFacts: Sendable, Equatable {
    /// `/sys/class/dmi/id/product_uuid` (root-only), lowercase; nil when the platform has none.
    public var productUUID: String?
    public var interfaces: [NetworkInterface]

    public init(productUUID: String?, interfaces: [NetworkInterface]) {
        self.productUUID = productUUID.flatMap(ProductUUID.normalized)
        self.interfaces = interfaces
    }

    /// The facts of the running system, once udev has processed the devices it was told about:
    /// early at boot the NIC drivers are loaded, and the NICs renamed, by udev's coldplug events.
    public static func live() -> PlatformFacts {
        UdevQueue.settle()
        // sysfs is read with plain paths: its entries are symlinks into /sys/devices, which a
        // RootDirectory (RESOLVE_IN_ROOT) would keep inside /sys/class/net.
        let uuid = Sysfs.firstLine("/sys/class/dmi/id/product_uuid")
        var interfaces: [NetworkInterface] = []
        for name in Sysfs.entries(of: "/sys/class/net").sorted() where name != "lo" {
            guard let address = Sysfs.firstLine("/sys/class/net/\(name)/address")?.trimmingWhitespace(),
                  address.count == 17, address != "00:00:00:00:00:00" else { continue }
            let physical = Sysfs.exists("/sys/class/net/\(name)/device")
            interfaces.append(NetworkInterface(name: name, mac: address, permanentMAC: permanentAddress(of: name), isPhysical: physical,
                                               pciAddress: physical ? pciAddress(of: name) : nil))
        }
        return PlatformFacts(productUUID: uuid, interfaces: interfaces)
    }

    /// The PCI address the device of interface `name` sits at (the last PCI component of the
    /// device's sysfs path: virtio-net's `…/0000:00:03.0/virtio0` gives 0000:00:03.0).
    static func pciAddress(of name: String) -> String? {
        guard let resolved = try? System.canonicalPath("/sys/class/net/\(name)/device") else { return nil }
        return resolved.split(separator: "/").reversed().first(where: isPCIAddress).map(String.init)
    }

    /// True for "dddd:bb:ss.f" in hex.
    static func isPCIAddress(_ text: Substring) -> Bool {
        let characters = Array(text)
        guard characters.count == 12, characters[4] == ":", characters[7] == ":", characters[10] == "." else { return false }
        return characters.enumerated().allSatisfy { [4, 7, 10].contains($0.offset) || $0.element.isASCIIHexDigit }
    }

    /// The permanent MAC of `name`, or nil when the driver reports none. A driver that cannot
    /// tell (EOPNOTSUPP) or an interface gone meanwhile (ENODEV) fails the ioctl: the current
    /// address then stands in, as it does for a driver that has none.
    static func permanentAddress(of name: String) -> String? {
        guard let bytes = try? System.permanentHardwareAddress(name),
              bytes.count == 6, bytes.contains(where: { $0 != 0 }) else { return nil }
        return bytes.map { Hex.encode([$0]) }.joined(separator: ":")
    }

    /// The permanent MACs of physical NICs (all NICs when none is physical), sorted.
    public var permanentMACs: [String] {
        let physical = interfaces.filter(\.isPhysical)
        return (physical.isEmpty ? interfaces : physical).map(\.permanentMAC).sorted()
    }
}

/// DMI product UUIDs: compared case-insensitively, and firmware that stores the first three
/// groups little-endian (SMBIOS 2.6+) shows the byte-swapped form of the same UUID.
public enum ProductUUID {
    /// Lowercase with dashes; nil for an empty, all-zero or malformed value.
    public static func normalized(_ text: String) -> String? {
        let value = text.trimmingWhitespace().lowercased()
        let hex = value.filter { $0 != "-" }
        guard hex.count == 32, hex.allSatisfy({ $0.isASCIIHexDigit }),
              hex != String(repeating: "0", count: 32), hex != String(repeating: "f", count: 32) else { return nil }
        let characters = Array(hex)
        func part(_ range: Range<Int>) -> String { String(characters[range]) }
        return [part(0..<8), part(8..<12), part(12..<16), part(16..<20), part(20..<32)].joined(separator: "-")
    }

    /// The same UUID with its first three groups byte-swapped.
    public static func byteSwapped(_ uuid: String) -> String {
        let groups = uuid.split(separator: "-").map(String.init)
        guard groups.count == 5 else { return uuid }
        func swap(_ group: String) -> String {
            let characters = Array(group)
            return stride(from: characters.count - 2, through: 0, by: -2).map { String(characters[$0...$0 + 1]) }.joined()
        }
        return [swap(groups[0]), swap(groups[1]), swap(groups[2]), groups[3], groups[4]].joined(separator: "-")
    }

    /// True when `a` and `b` name the same UUID (either byte order).
    public static func same(_ a: String, _ b: String) -> Bool {
        guard let x = normalized(a), let y = normalized(b) else { return false }
        return x == y || x == byteSwapped(y)
    }

    /// The machine-ids systemd may derive from this product UUID on a VM (either byte order).
    public static func derivedMachineIDs(_ uuid: String) -> [String] {
        guard let value = normalized(uuid) else { return [] }
        return [value, byteSwapped(value)].map { $0.filter { $0 != "-" } }
    }
}

/// udev's event queue on the running system.
enum UdevQueue {
    /// Waits (at most `timeoutMilliseconds`) until every network controller on PCI has its network interface
    /// and udev has processed every physical interface (its database entry `/run/udev/data/n<ifindex>`
    /// exists, so it has its final name). Early at boot the NIC drivers are loaded, and the NICs
    /// renamed, by udev's coldplug events, which udevd may not even have read yet: `udevadm settle`
    /// alone returns at once then (measured in the e2e guest: the NIC appeared 3 s after it).
    /// Returns at once when udevd does not run.
    static func settle(timeoutMilliseconds: UInt64 = 15_000) {
        guard Sysfs.exists("/run/udev/control") else { return }
        let udevadm = try? Program.find("udevadm", package: "udev")
        let deadline = Clock.monotonicNanoseconds() + timeoutMilliseconds * 1_000_000
        repeat {
            _ = try? udevadm?.run(["settle", "--timeout=5"])
            if !networkDevicesPending() { return }
            usleep(100_000)
        } while Clock.monotonicNanoseconds() < deadline
    }

    /// True while a PCI network controller has no interface yet, or an interface with a device
    /// behind it has not been processed by udev.
    static func networkDevicesPending() -> Bool {
        for device in Sysfs.entries(of: "/sys/bus/pci/devices") {
            let path = "/sys/bus/pci/devices/\(device)"
            guard Sysfs.firstLine("\(path)/class")?.hasPrefix("0x02") == true else { continue }
            let hasInterface = Sysfs.exists("\(path)/net")
                || Sysfs.entries(of: path).contains { $0.hasPrefix("virtio") && Sysfs.exists("\(path)/\($0)/net") }
            if !hasInterface { return true }
        }
        for name in Sysfs.entries(of: "/sys/class/net") where Sysfs.exists("/sys/class/net/\(name)/device") {
            guard let index = Sysfs.firstLine("/sys/class/net/\(name)/ifindex") else { continue }
            if !Sysfs.exists("/run/udev/data/n\(index)") { return true }
        }
        return false
    }
}

/// Reading sysfs (and other small kernel files) by plain host paths.
///
/// What cannot be read reads as absent: these are facts the kernel may or may not offer (an
/// attribute a driver does not implement fails to read with EINVAL or EOPNOTSUPP, one that is
/// root-only with EACCES, a device may vanish meanwhile), and every caller has an answer for
/// "not there".
enum Sysfs {
    /// True when something is at the host path (access(2) F_OK).
    static func exists(_ path: String) -> Bool {
        (try? System.isAccessible(path, F_OK)) ?? false
    }

    /// The names in a host directory, or none.
    static func entries(of directory: String) -> [String] {
        (try? System.directoryEntries(directory)) ?? []
    }

    /// The lines of a small host file (/proc/filesystems…).
    static func lines(_ path: String) -> [String] {
        guard let bytes = try? read(path, limit: 16 << 20) else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline).map(String.init)
    }

    /// The first line of a small host file (sysfs attributes), trimmed.
    static func firstLine(_ path: String) -> String? {
        guard let bytes = try? read(path, limit: 4096), !bytes.isEmpty else { return nil }
        return String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init)
    }

    /// The bytes of the host file `path`.
    static func read(_ path: String, limit: Int) throws -> [UInt8] {
        let fd = try System.open(path, O_RDONLY)
        defer { System.close(fd) }
        return try FileDescriptorIO.readAll(fd, path: path, limit: limit)
    }
}
