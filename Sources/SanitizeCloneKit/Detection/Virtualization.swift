/// What kind of machine this is: VM or container, and which hypervisor, from the CPU's
/// hypervisor flag, DMI vendor and product, and `systemd-detect-virt` when present.
public struct Virtualization: Sendable {
    public var kind: String
    public var name: String?
    public var evidence: [String]

    /// Inspects the running system.
    public static func detect() -> Virtualization {
        var evidence: [String] = []
        let cpuinfo = (try? RootDirectory(path: "/proc").readTextLeniently("cpuinfo")).flatMap { $0 } ?? ""
        let hypervisorFlag = cpuinfo.split(whereSeparator: \.isNewline).contains { $0.hasPrefix("flags") && $0.split(separator: " ").contains("hypervisor") }
        evidence.append(hypervisorFlag ? "the CPU reports the hypervisor flag" : "no hypervisor CPU flag")
        let dmi = try? RootDirectory(path: "/sys/class/dmi/id")
        let vendor = (try? dmi?.readTextLeniently("sys_vendor")).flatMap { $0 }?.trimmingWhitespace()
        let product = (try? dmi?.readTextLeniently("product_name")).flatMap { $0 }?.trimmingWhitespace()
        if let vendor, !vendor.isEmpty { evidence.append("DMI vendor: \(vendor)") }
        if let product, !product.isEmpty { evidence.append("DMI product: \(product)") }
        var name: String?
        var kind = hypervisorFlag ? "vm" : "none"
        if let tool = try? Program.find("systemd-detect-virt", package: "systemd") {
            if let container = try? tool.run(["--container"]), container.exitCode == 0 {
                kind = "container"
                name = container.output.trimmingWhitespace()
                evidence.append("systemd-detect-virt --container: \(name!)")
            } else if let vm = try? tool.run(["--vm"]), vm.exitCode == 0 {
                kind = "vm"
                name = vm.output.trimmingWhitespace()
                evidence.append("systemd-detect-virt --vm: \(name!)")
            }
        }
        if name == nil, kind == "vm" {
            let known = ["QEMU": "qemu", "KVM": "kvm", "VMware": "vmware", "VirtualBox": "oracle", "innotek": "oracle", "Microsoft": "microsoft", "Xen": "xen"]
            name = known.first { key, _ in (vendor ?? "").contains(key) || (product ?? "").contains(key) }?.value
        }
        return Virtualization(kind: kind, name: name, evidence: evidence)
    }
}
