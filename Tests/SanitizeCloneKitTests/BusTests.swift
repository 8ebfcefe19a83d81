import Foundation
import SanitizeCloneKit
import Testing

/// The libdbus client against a real dbus-daemon on a private socket, with
/// Tests/Support/fake-system-services.py standing in for hostnamed and systemd. Never the
/// machine's own system bus: every bus here is reached by its explicit address.
@Suite("D-Bus client: system bus, hostnamed, systemd manager", .serialized, .enabled(if: FakeSystemServices.canRun, FakeSystemServices.requirement))
struct BusTests {
    // MARK: hostnamed

    @Test("sets the transient hostname with SetHostname(name, interactive: false)")
    func setsTransientHostname() throws {
        try withFakeSystemServices { services in
            let hostnamed = HostnameService(bus: try services.connect())
            try hostnamed.setHostname("clone-42")
            #expect(services.calls() == [#"/org/freedesktop/hostname1 org.freedesktop.hostname1.SetHostname(sb) ["clone-42", false]"#])
            #expect(try hostnamed.hostname == "clone-42")
        }
    }

    @Test("sets the static hostname with SetStaticHostname(name, interactive: false)")
    func setsStaticHostname() throws {
        try withFakeSystemServices { services in
            let hostnamed = HostnameService(bus: try services.connect())
            try hostnamed.setStaticHostname("clone-42.example.org")
            #expect(try hostnamed.staticHostname == "clone-42.example.org")
            #expect(services.calls() == [
                #"/org/freedesktop/hostname1 org.freedesktop.hostname1.SetStaticHostname(sb) ["clone-42.example.org", false]"#,
                #"/org/freedesktop/hostname1 org.freedesktop.DBus.Properties.Get(ss) ["org.freedesktop.hostname1", "StaticHostname"]"#,
            ])
        }
    }

    @Test("reads the Hostname property through org.freedesktop.DBus.Properties.Get")
    func readsHostnameProperty() throws {
        try withFakeSystemServices { services in
            let hostnamed = HostnameService(bus: try services.connect())
            #expect(try hostnamed.hostname == "golden-template")
            #expect(services.calls() == [
                #"/org/freedesktop/hostname1 org.freedesktop.DBus.Properties.Get(ss) ["org.freedesktop.hostname1", "Hostname"]"#,
            ])
        }
    }

    @Test("a refusal from hostnamed is one line that says what to do")
    func accessDeniedIsOneLine() throws {
        try withFakeSystemServices { services in
            let error = try requireBusError { try HostnameService(bus: try services.connect()).setHostname("denied.example") }
            #expect(error.name == "org.freedesktop.DBus.Error.AccessDenied")
            #expect(error.description == "org.freedesktop.hostname1.SetHostname failed: org.freedesktop.DBus.Error.AccessDenied: Access denied by the test policy (run as root or pass --root)")
        }
    }

    @Test("an unknown property is an error naming the property")
    func unknownProperty() throws {
        try withFakeSystemServices { services in
            let bus = try services.connect()
            let error = try requireBusError {
                _ = try bus.property("Chassis", interface: HostnameService.interface, path: HostnameService.path, service: HostnameService.service)
            }
            #expect(error.name == "org.freedesktop.DBus.Error.UnknownProperty")
            #expect(error.description.hasPrefix("Reading property org.freedesktop.hostname1.Chassis failed: org.freedesktop.DBus.Error.UnknownProperty: "))
        }
    }

    @Test("a call to a service nobody provides says it is not running")
    func serviceUnknown() throws {
        try withFakeSystemServices { services in
            let bus = try services.connect()
            let error = try requireBusError {
                try bus.call(service: "org.freedesktop.login1", path: "/org/freedesktop/login1",
                             interface: "org.freedesktop.login1.Manager", method: "Reload", arguments: [.uint32(0)])
            }
            #expect(error.name == "org.freedesktop.DBus.Error.ServiceUnknown")
            #expect(error.description.hasSuffix("(the service is not running on this bus: install or start it, or pass --root)"))
        }
    }

    @Test("a reply that never comes ends at the timeout with an error")
    func callTimesOut() throws {
        try withFakeSystemServices { services in
            let hostnamed = HostnameService(bus: try services.connect(), timeout: .milliseconds(300))
            let started = ContinuousClock.now
            let error = try requireBusError { try hostnamed.setStaticHostname("never-answered.example") }
            #expect(ContinuousClock.now - started < .seconds(5))
            #expect(error.name == "org.freedesktop.DBus.Error.NoReply")
            #expect(!error.description.contains("\n"))
            #expect(error.description.hasSuffix("(no answer in time: check the service with systemctl status, then retry)"))
        }
    }

    // MARK: The bus itself

    @Test("sends strings, booleans, uint32 and object paths with their D-Bus types")
    func sendsTypedArguments() throws {
        try withFakeSystemServices { services in
            let reply = try services.connect().call(
                service: HostnameService.service, path: HostnameService.path, interface: "org.sanitizeclone.Test", method: "Echo",
                arguments: [.string("zoë"), .boolean(true), .uint32(4_000_000_000), .objectPath("/org/freedesktop/systemd1/job/7")])
            #expect(reply == [.string("zoë"), .boolean(true), .uint32(4_000_000_000), .objectPath("/org/freedesktop/systemd1/job/7")])
            #expect(services.calls() == [#"/org/freedesktop/hostname1 org.sanitizeclone.Test.Echo(sbuo) ["zo\u00eb", true, 4000000000, "/org/freedesktop/systemd1/job/7"]"#])
        }
    }

    @Test("decodes every basic type, structures, dictionaries and variants in a reply")
    func decodesReplies() throws {
        try withFakeSystemServices { services in
            let reply = try services.connect().call(
                service: HostnameService.service, path: HostnameService.path, interface: "org.sanitizeclone.Test", method: "AllTypes")
            #expect(reply == [
                .byte(7), .int16(-16), .uint16(16), .int32(-32), .uint32(32), .int64(-64), .uint64(64), .double(0.5),
                .boolean(true), .string("text"), .objectPath("/a/path"), .signature("a{sv}"),
                .structure([.string("inner"), .uint32(3)]),
                .array([.dictionaryEntry(key: .string("answer"), value: .variant(.uint32(42)))]),
                .array([.variant(.string("x"))]),
            ])
        }
    }

    @Test("refuses malformed names, paths and strings itself, because libdbus would abort the process")
    func refusesMalformedInput() throws {
        try withFakeSystemServices { services in
            let bus = try services.connect()
            func call(service: String = HostnameService.service, path: String = HostnameService.path,
                      interface: String = HostnameService.interface, method: String = "SetHostname",
                      arguments: [BusArgument] = [.string("clone"), .boolean(false)]) throws {
                try bus.call(service: service, path: path, interface: interface, method: method, arguments: arguments)
            }
            let attempts: [() throws -> Void] = [
                { try call(service: "not a bus name") },
                { try call(path: "org/freedesktop/hostname1") },
                { try call(path: "/trailing/") },
                { try call(interface: "hostname1") },
                { try call(method: "Set-Hostname") },
                { try call(arguments: [.objectPath("relative/path"), .boolean(false)]) },
                { try call(arguments: [.string("clone\u{0}evil"), .boolean(false)]) },
            ]
            for attempt in attempts {
                let error = try requireBusError(attempt)
                #expect(error.name == "org.freedesktop.DBus.Error.InvalidArgs", "\(error)")
            }
            #expect(services.calls() == [], "nothing malformed may reach the service")
        }
    }

    @Test("connecting where no bus listens is an error, not a crash")
    func noBusListening() throws {
        try withFakeSystemServices(withServices: false) { services in
            let address = "unix:path=\(services.directory)/no-such-socket"
            let error = try requireBusError { _ = try SystemBus(address: address) }
            #expect(error.name == "org.freedesktop.DBus.Error.FileNotFound")
            #expect(error.description.hasPrefix("Connection to the system bus at \(address) failed: org.freedesktop.DBus.Error.FileNotFound: "))
            #expect(error.description.hasSuffix("(no system bus is running there: start dbus, set DBUS_SYSTEM_BUS_ADDRESS, or pass --root)"))
        }
    }

    @Test("a bus that dies mid-session answers with errors instead of exiting the process")
    func deadBus() throws {
        try withFakeSystemServices { services in
            let bus = try services.connect()
            let hostnamed = HostnameService(bus: bus, timeout: .seconds(5))
            #expect(try hostnamed.hostname == "golden-template")
            services.killDaemon()
            for _ in 0..<2 {
                let error = try requireBusError { try hostnamed.setHostname("after-death") }
                #expect(["org.freedesktop.DBus.Error.Disconnected", "org.freedesktop.DBus.Error.NoReply"].contains(error.name), "\(error)")
                #expect(!error.description.contains("\n"))
            }
            let waitError = try requireBusError { _ = try SystemdManager(bus: bus).startUnitAndWait("sshd.service", timeout: .seconds(5)) }
            #expect(waitError.name == "org.freedesktop.DBus.Error.Disconnected", "\(waitError)")
        }
    }

    @Test("isAvailable sees a listening socket and not a missing one")
    func availability() throws {
        try withFakeSystemServices(withServices: false) { services in
            #expect(SystemBus.isAvailable(at: services.address))
            #expect(SystemBus.isAvailable(at: "unix:path=/nonexistent/bus;" + services.address), "any entry of a list may answer")
            #expect(!SystemBus.isAvailable(at: "unix:path=\(services.directory)/no-such-socket"))
            #expect(!SystemBus.isAvailable(at: "unix:path=\(services.directory)/bus.conf"), "a regular file is not a bus")
            #expect(!SystemBus.isAvailable(at: "not an address"))
        }
    }

    @Test("leaves the process's SIGPIPE disposition as it found it")
    func leavesSIGPIPEAlone() throws {
        try withFakeSystemServices(withServices: false) { services in
            let before = sigpipeHandler()
            _ = try services.connect()
            #expect(sigpipeHandler() == before)
        }
    }

    @Test("callers on several threads share one bus, one call at a time")
    func concurrentCallers() async throws {
        let services = try FakeSystemServices()
        defer { services.stop() }
        let bus = try services.connect()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<8 {
                group.addTask { try HostnameService(bus: bus).setHostname("clone-\(index)") }
            }
            try await group.waitForAll()
        }
        let calls = services.calls()
        #expect(calls.count == 8)
        #expect(Set(calls) == Set((0..<8).map { #"/org/freedesktop/hostname1 org.freedesktop.hostname1.SetHostname(sb) ["clone-\#($0)", false]"# }))
    }

    // MARK: network services

    @Test("changed network configuration makes NetworkManager and systemd-networkd reload, each only for what it reads")
    func networkServicesReload() throws {
        try withFakeSystemServices { services in
            let bus = try services.connect()
            var notices: [String] = []
            NetworkReload.reloadServices(after: [.ifupdown, .udevPersistentNet], on: bus) { notices.append($0) }
            #expect(services.calls().isEmpty && notices.isEmpty, "neither service reads ifupdown or udev files: \(services.calls())")
            NetworkReload.reloadServices(after: [.networkManager], on: bus) { notices.append($0) }
            #expect(services.calls() == [#"/org/freedesktop/NetworkManager/Settings org.freedesktop.NetworkManager.Settings.ReloadConnections() []"#])
            NetworkReload.reloadServices(after: [.netplan], on: bus) { notices.append($0) }
            #expect(services.calls().suffix(2) == [
                #"/org/freedesktop/NetworkManager/Settings org.freedesktop.NetworkManager.Settings.ReloadConnections() []"#,
                #"/org/freedesktop/network1 org.freedesktop.network1.Manager.Reload() []"#,
            ])
            #expect(notices == ["Reloaded: NetworkManager connections", "Reloaded: NetworkManager connections", "Reloaded: systemd-networkd"])
        }
    }

    // MARK: systemd manager

    @Test("StartUnit and TryRestartUnit return the job's object path")
    func queuesJobs() throws {
        try withFakeSystemServices { services in
            let systemd = SystemdManager(bus: try services.connect())
            let started = try systemd.startUnit("sshd.service")
            let restarted = try systemd.tryRestartUnit("sshd.service", mode: .fail)
            #expect(started == "/org/freedesktop/systemd1/job/41")
            #expect(restarted == "/org/freedesktop/systemd1/job/42")
            #expect(services.calls() == [
                #"/org/freedesktop/systemd1 org.freedesktop.systemd1.Manager.StartUnit(ss) ["sshd.service", "replace"]"#,
                #"/org/freedesktop/systemd1 org.freedesktop.systemd1.Manager.TryRestartUnit(ss) ["sshd.service", "fail"]"#,
            ])
        }
    }

    @Test("startUnitAndWait subscribes, starts the unit and returns \"done\" from its own job's JobRemoved")
    func startAndWaitDone() throws {
        try withFakeSystemServices { services in
            // The fake first reports another job of the same unit as "canceled": only the job
            // path tells them apart.
            let result = try SystemdManager(bus: try services.connect()).startUnitAndWait("sshd.service", timeout: .seconds(10))
            #expect(result == "done")
            #expect(services.calls() == [
                "/org/freedesktop/systemd1 org.freedesktop.systemd1.Manager.Subscribe() []",
                #"/org/freedesktop/systemd1 org.freedesktop.systemd1.Manager.StartUnit(ss) ["sshd.service", "replace"]"#,
            ])
        }
    }

    @Test("sanitize-clone trigger restarts the unit over the bus and follows its job (exit 0 done, 1 failed)")
    func triggerCommand() throws {
        try withFakeSystemServices { services in
            let done = try SanitizeClone.run(["trigger", "--json"], environment: ["DBUS_SYSTEM_BUS_ADDRESS": services.address])
            #expect(done.exitCode == 0, "\(done)")
            #expect(done.json?["result"]?.string == "done", "\(done)")
            #expect(services.calls().contains(#"/org/freedesktop/systemd1 org.freedesktop.systemd1.Manager.RestartUnit(ss) ["sanitize-clone.service", "replace"]"#),
                    "\(services.calls())")
            let failed = try SanitizeClone.run(["trigger", "--unit", "failing.service"], environment: ["DBUS_SYSTEM_BUS_ADDRESS": services.address])
            #expect(failed.exitCode == 1, "\(failed)")
        }
    }

    @Test("startUnitAndWait returns \"failed\" for a unit whose job fails")
    func startAndWaitFailed() throws {
        try withFakeSystemServices { services in
            let systemd = SystemdManager(bus: try services.connect())
            #expect(try systemd.startUnitAndWait("failing.service", timeout: .seconds(10)) == "failed")
            #expect(try systemd.unitActiveState("failing.service") == "failed")
        }
    }

    @Test("startUnitAndWait sees a job that finishes before StartUnit's reply arrives")
    func startAndWaitInstant() throws {
        try withFakeSystemServices { services in
            let systemd = SystemdManager(bus: try services.connect())
            #expect(try systemd.startUnitAndWait("instant.service", timeout: .seconds(10)) == "done")
        }
    }

    @Test("startUnitAndWait on one connection twice: the second Subscribe's AlreadySubscribed is fine")
    func startAndWaitTwice() throws {
        try withFakeSystemServices { services in
            let systemd = SystemdManager(bus: try services.connect())
            #expect(try systemd.startUnitAndWait("sshd.service", timeout: .seconds(10)) == "done")
            #expect(try systemd.startUnitAndWait("failing.service", timeout: .seconds(10)) == "failed")
            #expect(services.calls().map { $0.split(separator: "(")[0] } == [
                "/org/freedesktop/systemd1 org.freedesktop.systemd1.Manager.Subscribe",
                "/org/freedesktop/systemd1 org.freedesktop.systemd1.Manager.StartUnit",
                "/org/freedesktop/systemd1 org.freedesktop.systemd1.Manager.Subscribe",
                "/org/freedesktop/systemd1 org.freedesktop.systemd1.Manager.StartUnit",
            ])
        }
    }

    @Test("startUnitAndWait gives up at its timeout with an error")
    func startAndWaitTimesOut() throws {
        try withFakeSystemServices { services in
            let started = ContinuousClock.now
            let error = try requireBusError {
                _ = try SystemdManager(bus: try services.connect()).startUnitAndWait("hanging.service", timeout: .milliseconds(400))
            }
            let elapsed = ContinuousClock.now - started
            #expect(elapsed >= .milliseconds(400) && elapsed < .seconds(5), "\(elapsed)")
            #expect(error.name == "org.freedesktop.DBus.Error.Timeout")
            #expect(error.description.hasPrefix("Waiting for job /org/freedesktop/systemd1/job/41 starting hanging.service failed: "))
        }
    }

    @Test("a start systemd refuses is an error, with or without waiting")
    func refusedStart() throws {
        try withFakeSystemServices { services in
            let systemd = SystemdManager(bus: try services.connect())
            let error = try requireBusError { try systemd.startUnit("missing.service") }
            #expect(error.description == "org.freedesktop.systemd1.Manager.StartUnit failed: org.freedesktop.systemd1.NoSuchUnit: Unit missing.service not found.")
            let waitError = try requireBusError { _ = try systemd.startUnitAndWait("missing.service", timeout: .seconds(10)) }
            #expect(waitError.name == "org.freedesktop.systemd1.NoSuchUnit")
            let modeError = try requireBusError { try systemd.startUnit("sshd.service", mode: SystemdManager.JobMode(rawValue: "bogus")) }
            #expect(modeError.name == "org.freedesktop.DBus.Error.InvalidArgs")
        }
    }

    @Test("unitActiveState reads ActiveState through GetUnit, and nil for a unit that is not loaded")
    func activeState() throws {
        try withFakeSystemServices { services in
            let systemd = SystemdManager(bus: try services.connect())
            #expect(try systemd.unitActiveState("dbus.service") == "active")
            #expect(try systemd.unitActiveState("no-such.service") == nil)
            #expect(services.calls() == [
                #"/org/freedesktop/systemd1 org.freedesktop.systemd1.Manager.GetUnit(s) ["dbus.service"]"#,
                #"/org/freedesktop/systemd1/unit/dbus_2eservice org.freedesktop.DBus.Properties.Get(ss) ["org.freedesktop.systemd1.Unit", "ActiveState"]"#,
                #"/org/freedesktop/systemd1 org.freedesktop.systemd1.Manager.GetUnit(s) ["no-such.service"]"#,
            ])
        }
    }
}

// MARK: - Helpers

/// Runs `body`, which must throw a `BusError`, and returns that error.
private func requireBusError(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) throws -> BusError {
    do {
        try body()
    } catch let error as BusError {
        #expect(!error.description.contains("\n"), "a BusError is one line: \(error)", sourceLocation: sourceLocation)
        return error
    }
    Issue.record("expected a BusError, but the call succeeded", sourceLocation: sourceLocation)
    throw FixtureError("no BusError")
}

/// The current SIGPIPE handler, as a number (SIG_DFL is 0, SIG_IGN 1).
private func sigpipeHandler() -> Int {
    var action = sigaction()
    sigaction(SIGPIPE, nil, &action)
    return unsafeBitCast(action.__sigaction_handler.sa_handler, to: Int.self)
}

/// Starts a private bus (and, when `withServices`, the fake services on it) for `body`, and tears
/// everything down afterwards.
private func withFakeSystemServices(withServices: Bool = true, _ body: (FakeSystemServices) throws -> Void) throws {
    let services = try FakeSystemServices(withServices: withServices)
    defer { services.stop() }
    try body(services)
}

/// A dbus-daemon listening on a socket in a scratch directory, and fake-system-services.py on it
/// owning org.freedesktop.hostname1 and org.freedesktop.systemd1. Call `stop()` when done.
final class FakeSystemServices: @unchecked Sendable {
    // @unchecked: one test uses a fixture at a time; `stop()` is called once, after the test.

    static let python = "/usr/bin/python3"
    static let daemonProgram = "/usr/bin/dbus-daemon"
    static let script = SanitizeClone.packageRoot + "/Tests/Support/fake-system-services.py"
    static let requirement: Comment = "needs /usr/bin/dbus-daemon and /usr/bin/python3 with dbus and gi (apt-get install dbus-daemon python3-dbus python3-gi)"

    /// True when dbus-daemon and python3's dbus and gi modules are installed.
    static let canRun: Bool = FileManager.default.isExecutableFile(atPath: daemonProgram)
        && ((try? HostCommand.run(python, ["-c", "import dbus, dbus.mainloop.glib, gi"]).exitCode) == 0)

    /// The scratch directory: the bus socket, its configuration and the fake's files.
    let directory: String
    /// The bus's address, e.g. "unix:path=/tmp/sanitize-clone-tests.bus.Ab12Cd/bus".
    let address: String
    private let daemon: Process
    private var peer: Process?

    /// Starts the daemon and, when `withServices`, the fake services on it.
    init(withServices: Bool = true) throws {
        directory = try Scratch.makeDirectory(prefix: "bus")
        address = "unix:path=\(directory)/bus"
        let configuration = """
            <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
             "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
            <busconfig>
              <type>system</type>
              <listen>\(address)</listen>
              <auth>EXTERNAL</auth>
              <policy context="default">
                <allow send_destination="*" eavesdrop="true"/>
                <allow eavesdrop="true"/>
                <allow own="*"/>
              </policy>
            </busconfig>
            """
        try configuration.write(toFile: directory + "/bus.conf", atomically: true, encoding: .utf8)
        daemon = try Self.launch(Self.daemonProgram,
                                 ["--config-file=\(directory)/bus.conf", "--nofork", "--nopidfile", "--nosyslog"],
                                 log: directory + "/dbus-daemon.log")
        do {
            try waitFor("the bus socket", process: daemon, log: directory + "/dbus-daemon.log") {
                SystemBus.isAvailable(at: address)
            }
            guard withServices else { return }
            let peer = try Self.launch(Self.python, [Self.script, "--address", address, "--log", directory + "/calls",
                                                      "--ready", directory + "/ready", "--lifetime", "120"],
                                       log: directory + "/fake-system-services.log")
            self.peer = peer
            try waitFor("fake-system-services.py", process: peer, log: directory + "/fake-system-services.log") {
                FileManager.default.fileExists(atPath: directory + "/ready")
            }
        } catch {
            stop()
            throw error
        }
    }

    /// A new private connection to this bus.
    func connect() throws -> SystemBus { try SystemBus(address: address) }

    /// The method calls the fake services received so far, one line each (see the script).
    func calls() -> [String] {
        let text = (try? String(contentsOfFile: directory + "/calls", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
    }

    /// Kills the bus daemon (SIGKILL) and waits for it to go.
    func killDaemon() {
        guard daemon.isRunning else { return }
        kill(daemon.processIdentifier, SIGKILL)
        daemon.waitUntilExit()
    }

    /// Ends the fake services and the daemon, and removes the scratch directory.
    ///
    /// SIGKILL, not `terminate()`: Foundation's Process starts children with the signal mask of
    /// the test's dispatch thread, which blocks SIGTERM, so dbus-daemon would never see it.
    func stop() {
        for process in [peer, daemon].compactMap({ $0 }) where process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func launch(_ program: String, _ arguments: [String], log: String) throws -> Process {
        guard FileManager.default.createFile(atPath: log, contents: nil) else { throw FixtureError("cannot create \(log)") }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "DBUS_SYSTEM_BUS_ADDRESS")
        environment.removeValue(forKey: "DBUS_SESSION_BUS_ADDRESS")
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        try process.run()
        try? output.close()
        return process
    }

    private func waitFor(_ what: String, process: Process, log: String, until ready: () -> Bool) throws {
        let deadline = ContinuousClock.now + .seconds(15)
        while !ready() {
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            guard process.isRunning else { throw FixtureError("\(what) exited before it was ready: \(output)") }
            guard ContinuousClock.now < deadline else { throw FixtureError("\(what) was not ready after 15 s: \(output)") }
            usleep(10_000)
        }
    }
}
