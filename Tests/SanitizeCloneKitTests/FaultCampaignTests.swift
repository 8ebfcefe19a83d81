import Foundation
import Testing

/// The fault campaign: every call site of a real run (kind of call × operation × step of the run)
/// made to fail with the errnos that kind of call really returns, the child programs replaced by
/// stand-ins that fail, and the process killed at random moments. Every case must end with the
/// root byte-identical to before (exit 1 or 2) or committed and consistent (exit 0) — exit 4 only
/// when the undo itself was made to fail — and a later `run` must always converge.
///
/// `make test` runs a seeded sample within a fixed time budget; `make faults`
/// (`SANITIZE_CLONE_FAULTS=full`) runs every site, errno and kill.
@Suite("Fault campaign: faults at every call site, failing programs and kills converge", .requiresRoot, .serialized)
struct FaultCampaignTests {
    /// The whole sweep (`make faults`), or a sample.
    static let full = ProcessInfo.processInfo.environment["SANITIZE_CLONE_FAULTS"] == "full"
    /// The seed of the sample (printed, so a failure can be replayed with SANITIZE_CLONE_FAULTS_SEED).
    static let seed = UInt64(ProcessInfo.processInfo.environment["SANITIZE_CLONE_FAULTS_SEED"] ?? "") ?? 20261207
    /// Seconds the sample may take per test in `make test`.
    static let budget: Double = full ? .infinity : 45

    static let nics = ["--nic", "ens3=52:54:00:c1:0e:07,0000:00:03.0", "--nic", "ens4=52:54:00:c1:0e:08,0000:00:04.0"]

    /// The errnos each kind of call can really return.
    static let errnos: [String: [String]] = [
        "open": ["EACCES", "EIO", "EMFILE"], "read": ["EIO", "EINTR"], "write": ["ENOSPC", "EDQUOT", "EIO", "EINTR"],
        "fsync": ["EIO", "ENOSPC"], "rename": ["EIO", "EROFS", "ENOSPC"], "unlink": ["EACCES", "EIO", "EROFS"],
        "mkdir": ["ENOSPC", "EROFS", "EEXIST"], "chown": ["EPERM", "EROFS"], "chmod": ["EPERM", "EROFS"],
        "symlink": ["ENOSPC", "EEXIST"], "readlink": ["EIO"], "stat": ["EACCES", "EIO"],
    ]

    /// The demo template (no RSA key, so a run takes a tenth of a second), made once.
    static let template: String = {
        let directory = (try? Scratch.makeDirectory(prefix: "faults")) ?? "/tmp"
        let root = directory + "/template"
        _ = try? HostCommand.run("bash", [SanitizeClone.packageRoot + "/demo/make-template-root.sh", root, "ecdsa ed25519"])
        return root
    }()

    /// A fresh copy of the template, removed by the caller.
    static func freshRoot() throws -> String {
        let directory = try Scratch.makeDirectory(prefix: "fault-case")
        try HostCommand.succeed("cp", ["-a", template, directory + "/root"])
        return directory + "/root"
    }

    static func remove(_ root: String) {
        try? FileManager.default.removeItem(atPath: (root as NSString).deletingLastPathComponent)
    }

    /// The sites a clean run reaches (`SANITIZE_CLONE_FAULT=count`), with their calls; with a
    /// failpoint, the sites of the rollback it causes too.
    static func sites(failpoint: String? = nil) throws -> [(site: String, calls: Int)] {
        let root = try freshRoot()
        defer { remove(root) }
        let report = (root as NSString).deletingLastPathComponent + "/sites"
        let result = try SanitizeClone.run(["run", "--root", root, "--json"] + nics, failpoint: failpoint,
                                           environment: ["SANITIZE_CLONE_FAULT": "count", "SANITIZE_CLONE_FAULT_REPORT": report])
        #expect(result.exitCode == (failpoint == nil ? 0 : 1), "\(result)")
        let text = try String(contentsOfFile: report, encoding: .utf8)
        return text.split(separator: "\n").compactMap { line in
            guard let bar = line.lastIndex(of: "|"), let calls = Int(line[line.index(after: bar)...]) else { return nil }
            return (String(line[..<bar]), calls)
        }
    }

    /// Every case of the sweep: each site × the errnos of its kind × its first and last call.
    static func cases(of sites: [(site: String, calls: Int)], only step: String? = nil) -> [String] {
        sites.flatMap { site, calls -> [String] in
            let kind = String(site.prefix { $0 != "|" })
            if let step, !site.hasSuffix("|" + step) { return [] }
            return Set([1, calls]).sorted().flatMap { hit in (errnos[kind] ?? ["EIO"]).map { "\(site)|\(hit)|\($0)" } }
        }
    }

    /// `cases` in a seeded order: all of them for the full sweep; as many as the budget allows.
    static func sample(_ cases: [String]) -> [String] {
        var generator = SeededGenerator(seed: seed)
        return full ? cases : cases.shuffled(using: &generator)
    }

    /// What one case ended as.
    enum Ending: String, Equatable, CustomStringConvertible {
        case committed, unchanged, killed, recoveredAfterUndoFault = "exit 4 (undo made to fail), then recovered"
        var description: String { rawValue }
    }

    /// Runs one case on a fresh root and checks its ending; then a plain run must converge and
    /// rolling every committed run back must give the template back byte for byte.
    static func check(fault: String?, failpoint: String? = nil, path: String? = nil, kill delay: Double? = nil,
                      sourceLocation: SourceLocation = #_sourceLocation) throws -> Ending {
        let root = try freshRoot()
        defer { remove(root) }
        let before = try RootSignature(of: root)
        var environment: [String: String] = [:]
        if let fault { environment["SANITIZE_CLONE_FAULT"] = fault }
        if let path { environment["PATH"] = path }
        let what = fault ?? path.map { "stand-in \($0)" } ?? "kill after \(delay ?? 0) s"
        let result: CommandResult
        if let delay {
            // The watchdog's SIGKILL after `delay` seconds is the kill (when the run has not ended by then).
            result = try HostCommand.run(SanitizeClone.binary, ["run", "--root", root, "--json"] + nics, timeout: delay)
        } else {
            result = try SanitizeClone.run(["run", "--root", root, "--json"] + nics, failpoint: failpoint, environment: environment)
        }
        let ending: Ending
        switch result.exitCode {
        case 0 where !result.wasKilled:
            ending = .committed
            let verify = try SanitizeClone.run(["verify", "--root", root, "--json"] + nics)
            let failed = verify.json?["checks"]?.array?.filter { $0["passed"]?.bool == false }.compactMap { $0["check"]?.string } ?? ["no JSON"]
            #expect(failed == ["template identity recorded"], "\(what): committed but not consistent: \(failed)", sourceLocation: sourceLocation)
        case 1, 2:
            ending = .unchanged
            #expect(before.differences(to: try RootSignature(of: root)).isEmpty, "\(what): exit \(result.exitCode) changed the root: \(result)",
                    sourceLocation: sourceLocation)
        case 4:
            ending = .recoveredAfterUndoFault
            #expect(result.stderr.contains("(while undoing)"), "\(what): exit 4 although the undo was not made to fail: \(result)",
                    sourceLocation: sourceLocation)
        default:
            if result.wasKilled, delay != nil {
                ending = .killed
            } else {
                Issue.record("\(what): ended with \(result)", sourceLocation: sourceLocation)
                return .unchanged
            }
        }
        // A later run converges (recovering what is left), and everything rolls back to the byte.
        let next = try SanitizeClone.run(["run", "--root", root, "--json"] + nics)
        #expect(next.exitCode == 0, "\(what): the next run does not converge: \(next)", sourceLocation: sourceLocation)
        let status = try SanitizeClone.json(["status", "--root", root, "--json"])
        let committed = status["runs"]?.array?.filter { $0["outcome"]?.string == "committed" }.count ?? 0
        for _ in 0..<committed {
            let rollback = try SanitizeClone.run(["rollback", "--root", root, "--last", "--json"])
            #expect(rollback.exitCode == 0, "\(what): \(rollback)", sourceLocation: sourceLocation)
        }
        #expect(before.differences(to: try RootSignature(of: root)).isEmpty, "\(what): rolling every run back does not give the template back",
                sourceLocation: sourceLocation)
        return ending
    }

    /// Runs `cases` within the budget; returns how many ran and the endings seen.
    static func sweep(_ cases: [String], label: String, _ body: (String) throws -> Ending) throws -> (ran: Int, endings: [Ending: Int]) {
        let started = Date()
        var endings: [Ending: Int] = [:]
        var ran = 0
        for item in cases {
            guard Date().timeIntervalSince(started) < budget else { break }
            endings[try body(item), default: 0] += 1
            ran += 1
        }
        print("\(label): \(ran) of \(cases.count) case(s) in \(Int(Date().timeIntervalSince(started))) s (seed \(seed)): \(endings)")
        return (ran, endings)
    }

    @Test("a fault at any call site of a run ends committed or unchanged, and the next run converges")
    func faultAtEveryCallSite() throws {
        let sites = try Self.sites()
        #expect(sites.count > 50, "a run reaches many sites: \(sites.count)")
        let all = Self.cases(of: sites)
        let (ran, endings) = try Self.sweep(Self.sample(all), label: "call sites") { fault in try Self.check(fault: fault) }
        #expect(ran >= min(all.count, 20), "the budget allows a useful sample")
        #expect(endings[.recoveredAfterUndoFault] == nil, "exit 4 only when undo is made to fail")
        #expect((endings[.unchanged] ?? 0) > 0, "faults do fail runs")
        if ran == all.count {
            let errnoCount = Set(all.map { String($0.split(separator: "|").last!) }).count
            print("\(sites.count) sites × \(errnoCount) errnos: all converged")
        }
    }

    @Test("a fault while a failed run undoes itself is exit 4 at worst, and the next run finishes the undo")
    func faultWhileUndoing() throws {
        let failpoint = "ssh-host-keys:after-apply:error"
        let sites = try Self.sites(failpoint: failpoint)
        let all = Self.cases(of: sites, only: "undo")
        #expect(!all.isEmpty, "the rollback reaches sites of its own")
        let (ran, endings) = try Self.sweep(Self.sample(all), label: "undo sites") { fault in try Self.check(fault: fault, failpoint: failpoint) }
        #expect(ran > 0 && (endings[.recoveredAfterUndoFault] ?? 0) > 0, "a failed undo is exit 4: \(endings)")
    }

    @Test("a child program that fails (a stand-in on PATH) fails the run with everything as it was")
    func failingChildPrograms() throws {
        let directory = try Scratch.makeDirectory(prefix: "stand-ins")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for program in ["ssh-keygen", "netplan", "udevadm", "chroot", "dbus-uuidgen", "blkid"] {
            let standIn = "\(directory)/\(program)/\(program)"
            try FileManager.default.createDirectory(atPath: "\(directory)/\(program)", withIntermediateDirectories: true)
            try "#!/bin/sh\necho \"stand-in \(program) fails on cue\" >&2\nexit 1\n".write(toFile: standIn, atomically: true, encoding: .utf8)
            chmod(standIn, 0o755)
            let ending = try Self.check(fault: nil, path: "\(directory)/\(program):\(path)")
            if program == "ssh-keygen" { #expect(ending == .unchanged, "without ssh-keygen the run fails") }
        }
    }

    @Test("a run killed at a random moment — within its first 50 ms or anywhere — is recovered by the next run")
    func killsAtRandomMoments() throws {
        var generator = SeededGenerator(seed: Self.seed)
        let count = Self.full ? 60 : 10
        let early = (0..<count).map { _ in Double.random(in: 0...0.05, using: &generator) }
        let anywhere = (0..<count).map { _ in Double.random(in: 0...0.6, using: &generator) }
        let delays = (early + anywhere).map { String(format: "%.4f", $0) }
        let (ran, endings) = try Self.sweep(delays, label: "kills") { delay in try Self.check(fault: nil, kill: Double(delay)!) }
        #expect(ran >= min(delays.count, 10), "\(endings)")
        if Self.full { print("\(ran) kills: all converged") }
    }
}

/// A small deterministic generator (SplitMix64), so a sample can be replayed from its seed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e3779b97f4a7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58476d1ce4e5b9
        z = (z ^ (z >> 27)) &* 0x94d049bb133111eb
        return z ^ (z >> 31)
    }
}
