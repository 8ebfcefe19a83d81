import Foundation
import Testing

/// The units and the udev rule as installed: they load cleanly, the service is hardened as far
/// as its job allows, and it is ordered the way a first boot needs.
@Suite("systemd units and the udev rule")
struct UnitFileTests {
    static let directory = SanitizeClone.packageRoot + "/systemd"

    static var serviceFiles: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".service") }.sorted()
    }

    /// The units with ExecStart= pointed at the built binary (as `make unit-check` does), in a scratch directory.
    static func unitsForTheBuiltBinary() throws -> String {
        let scratch = try Scratch.makeDirectory(prefix: "units")
        for name in serviceFiles {
            let text = try String(contentsOfFile: directory + "/" + name, encoding: .utf8)
            try text.replacingOccurrences(of: "/usr/bin/sanitize-clone", with: SanitizeClone.binary)
                .write(toFile: scratch + "/" + name, atomically: true, encoding: .utf8)
        }
        return scratch
    }

    /// `Key=Value` settings of `text` in file order (a key may repeat).
    static func settings(_ text: String) -> [(key: String, value: String)] {
        text.split(whereSeparator: \.isNewline).compactMap { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.hasPrefix("#"), !trimmed.hasPrefix(";"), let equals = trimmed.firstIndex(of: "=") else { return nil }
            return (String(trimmed[..<equals]), String(trimmed[trimmed.index(after: equals)...]))
        }
    }

    static func values(_ key: String, in text: String) -> [String] {
        settings(text).filter { $0.key == key }.flatMap { $0.value.split(separator: " ").map(String.init) }
    }

    static let service = (try? String(contentsOfFile: directory + "/sanitize-clone.service", encoding: .utf8)) ?? ""

    @Test("systemd-analyze verify prints nothing for every unit", .enabled(if: HostCommand.isAvailable("systemd-analyze"), "needs systemd-analyze (package systemd)"))
    func unitsVerifyClean() throws {
        #expect(Self.serviceFiles.contains("sanitize-clone.service") && Self.serviceFiles.contains("sanitize-clone-vmgenid.service"), "\(Self.serviceFiles)")
        try #require(FileManager.default.isExecutableFile(atPath: SanitizeClone.binary), "the built binary at \(SanitizeClone.binary)")
        let units = try Self.unitsForTheBuiltBinary()
        defer { try? FileManager.default.removeItem(atPath: units) }
        let result = try HostCommand.run("systemd-analyze", ["verify"] + Self.serviceFiles.map { units + "/" + $0 })
        #expect(result.exitCode == 0, "\(result)")
        #expect(result.stdout.isEmpty && result.stderr.isEmpty, "\(result)")
    }

    @Test("systemd-analyze security: the service's exposure is below 6.0", .enabled(if: HostCommand.isAvailable("systemd-analyze"), "needs systemd-analyze (package systemd)"))
    func exposureIsBelowSix() throws {
        let units = try Self.unitsForTheBuiltBinary()
        defer { try? FileManager.default.removeItem(atPath: units) }
        let result = try HostCommand.run("systemd-analyze", ["security", "--offline=true", units + "/sanitize-clone.service"])
        #expect(result.exitCode == 0, "\(result)")
        // "→ Overall exposure level for sanitize-clone.service: 4.8 OK 🙂" (":-)" without a UTF-8 locale)
        let label = "Overall exposure level for sanitize-clone.service:"
        let line = try #require(result.stdout.split(separator: "\n").first { $0.contains(label) }, "\(result)")
        let figure = line.components(separatedBy: label).last?.split(separator: " ").first.flatMap { Double($0) }
        let exposure = try #require(figure, "no figure in \(line)")
        #expect(exposure < 6.0, "\(line)")
    }

    @Test("the service: a oneshot that runs 'run --auto', before first-boot-complete.target and wanting it")
    func serviceOrdering() throws {
        let service = Self.service
        try #require(!service.isEmpty, "systemd/sanitize-clone.service")
        #expect(Self.values("Type", in: service) == ["oneshot"])
        #expect(Self.values("Before", in: service).contains("first-boot-complete.target"), "an aborted first boot is a first boot again")
        #expect(Self.values("Wants", in: service).contains("first-boot-complete.target"))
        #expect(Self.values("NotifyAccess", in: service) == ["main"], "STATUS= from sd_notify")
        let execStart = try #require(Self.settings(service).last { $0.key == "ExecStart" }?.value)
        #expect(execStart.hasPrefix("/usr/bin/sanitize-clone ") && execStart.hasSuffix("run --auto"), "\(execStart)")
        #expect(Self.values("TimeoutStartSec", in: service).first.map { $0 != "infinity" && $0 != "0" } == true, "a timeout that fits key generation")
        for unit in ["dbus.service", "ssh.service", "systemd-hostnamed.service", "network-pre.target", "cloud-init-local.service", "cloud-init.service"] {
            #expect(Self.values("Before", in: service).contains(unit), "everything that uses the identity starts after it: \(unit)")
        }
        #expect(!Self.values("After", in: service).contains("dbus.service") && !Self.values("Requires", in: service).contains("dbus.service"),
                "it never waits for the bus")
    }

    @Test("the service does not set ProtectHostname=yes (sethostname would be private)")
    func noProtectHostname() {
        for name in Self.serviceFiles {
            let text = (try? String(contentsOfFile: Self.directory + "/" + name, encoding: .utf8)) ?? ""
            #expect(!Self.values("ProtectHostname", in: text).contains { ["yes", "true", "1", "on"].contains($0.lowercased()) }, "\(name)")
        }
    }

    @Test("the service is enabled into sysinit.target, where seal links it")
    func installSection() {
        #expect(Self.values("WantedBy", in: Self.service).contains("sysinit.target"))
    }

    @Test("the udev rule starts the vmgenid service on NEW_VMGENID==\"1\", which runs 'run --auto --generation-changed'")
    func udevRule() throws {
        let rule = try String(contentsOfFile: Self.directory + "/60-sanitize-clone-vmgenid.rules", encoding: .utf8)
        let lines = rule.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.hasPrefix("#") && !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        #expect(lines.count == 1, "\(lines)")
        let line = try #require(lines.first)
        #expect(line.contains(#"ENV{NEW_VMGENID}=="1""#), "\(line)")
        #expect(line.contains(#"ACTION=="change""#), "\(line)")
        #expect(line.contains("sanitize-clone-vmgenid.service") && line.contains("--no-block"), "udev must not wait for the run: \(line)")
        let vmgenid = try String(contentsOfFile: Self.directory + "/sanitize-clone-vmgenid.service", encoding: .utf8)
        let execStart = try #require(Self.settings(vmgenid).last { $0.key == "ExecStart" }?.value)
        #expect(execStart.hasSuffix("run --auto --generation-changed"), "\(execStart)")
    }
}
