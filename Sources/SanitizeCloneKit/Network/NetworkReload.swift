/// Makes the running system read changed network configuration again: the service runs after
/// systemd's generators and udev have already read it.
public enum NetworkReload {
    /// Runs what each changed renderer needs. Failures are reported as notices, never fatal:
    /// the change is committed and takes effect at the next boot in any case.
    static func afterChanging(_ renderers: Set<NetworkRenderer>, context: ApplyContext) {
        func attempt(_ what: String, _ body: () throws -> Void) {
            do { try body(); context.notice("Reloaded: \(what)") } catch { context.notice("Could not reload \(what): \(error)") }
        }
        if renderers.contains(.netplan), let netplan = try? Program.find("netplan", package: "netplan.io") {
            attempt("netplan generate") { _ = try netplan.run(["generate"]).check() }
        }
        if renderers.contains(.networkd) || renderers.contains(.udevPersistentNet), let udevadm = try? Program.find("udevadm", package: "udev") {
            attempt("udev link settings") {
                _ = try udevadm.run(["control", "--reload"]).check()
                _ = try udevadm.run(["trigger", "--action=add", "--subsystem-match=net"]).check()
            }
        }
        guard SystemBus.isAvailable, let bus = try? SystemBus() else { return }
        reloadServices(after: renderers, on: bus) { context.notice($0) }
    }

    /// Asks NetworkManager and systemd-networkd, when they are on `bus`, to read their
    /// configuration again if a renderer they read changed (netplan renders for both).
    public static func reloadServices(after renderers: Set<NetworkRenderer>, on bus: SystemBus, notice: (String) -> Void) {
        func attempt(_ what: String, _ body: () throws -> Void) {
            do { try body(); notice("Reloaded: \(what)") } catch { notice("Could not reload \(what): \(error)") }
        }
        let nameOwned: (String) -> Bool = { name in
            (try? bus.call(service: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus",
                           method: "NameHasOwner", arguments: [.string(name)]).first) == .boolean(true)
        }
        if !renderers.isDisjoint(with: [.networkManager, .ifcfg, .netplan]), nameOwned("org.freedesktop.NetworkManager") {
            attempt("NetworkManager connections") {
                try bus.call(service: "org.freedesktop.NetworkManager", path: "/org/freedesktop/NetworkManager/Settings",
                             interface: "org.freedesktop.NetworkManager.Settings", method: "ReloadConnections")
            }
        }
        if !renderers.isDisjoint(with: [.networkd, .netplan]), nameOwned("org.freedesktop.network1") {
            attempt("systemd-networkd") {
                try bus.call(service: "org.freedesktop.network1", path: "/org/freedesktop/network1",
                             interface: "org.freedesktop.network1.Manager", method: "Reload")
            }
        }
    }
}
