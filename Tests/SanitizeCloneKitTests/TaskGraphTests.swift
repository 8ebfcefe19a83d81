@testable import SanitizeCloneKit
import Testing

/// A task that does nothing, for ordering tests: only its name and what it comes after matter.
struct OrderingTask: SanitizeTask {
    let name: String
    let runsAfter: [String]
    let plannedAfter: [String]
    var summary: String { "test task \(name)" }

    init(_ name: String, after runsAfter: [String] = [], plannedAfter: [String] = []) {
        self.name = name
        self.runsAfter = runsAfter
        self.plannedAfter = plannedAfter
    }

    func plan(in context: PlanningContext) throws -> TaskPlan<Bool> { .skip("a test task changes nothing") }
    func apply(_ decision: Bool, in context: ApplyContext) throws {}
    func verify(_ decision: Bool, in context: ApplyContext) throws {}
}

@Suite("Task graph")
struct TaskGraphTests {
    static func names(_ tasks: [any SanitizeTask]) -> [String] { tasks.map(\.name) }

    static let identityChain = ["machine-id", "hostname", "ssh-host-keys"]

    @Test("the built-in tasks run in the order machine-id, hostname, ssh-host-keys, then the other ids")
    func builtInOrder() throws {
        #expect(Self.names(try TaskGraph.order(TaskRegistry.all)) == Self.identityChain + [
            "random-seed", "nm-secret-key", "dhcp-state", "iscsi-initiator", "fs-uuids", "partition-table-ids", "initramfs", "network-bindings", "static-addresses", "hostid", "ssl-snakeoil", "cloud-init-state", "reported-identities", "identity-record",
        ])
        let reversed = Self.names(try TaskGraph.order(TaskRegistry.all.reversed()))
        #expect(reversed.filter(Self.identityChain.contains) == Self.identityChain,
                "the order comes from the graph, not the registry's list: \(reversed)")
    }

    @Test("order is topological, ties broken by registry order")
    func topologicalAndDeterministic() throws {
        let tasks: [any SanitizeTask] = [
            OrderingTask("d", after: ["b", "c"]), OrderingTask("c"), OrderingTask("b", plannedAfter: ["a"]), OrderingTask("a"),
        ]
        #expect(Self.names(try TaskGraph.order(tasks)) == ["c", "a", "b", "d"])
    }

    @Test("a cycle is an error naming the cycle")
    func cycleIsNamed() throws {
        let tasks: [any SanitizeTask] = [OrderingTask("first", after: ["second"]), OrderingTask("second", after: ["first"])]
        let error = try #require(throws: InputError.self) { try TaskGraph.order(tasks) }
        #expect(error.description.contains("cycle"), "\(error)")
        #expect(error.description.contains("first → second → first") || error.description.contains("second → first → second"), "\(error)")
    }

    @Test("a longer cycle behind an innocent task is named without the innocent task")
    func longerCycle() throws {
        let tasks: [any SanitizeTask] = [
            OrderingTask("leaf", after: ["a"]), OrderingTask("a", after: ["c"]), OrderingTask("b", after: ["a"]),
            OrderingTask("c", plannedAfter: ["b"]), OrderingTask("root"),
        ]
        let error = try #require(throws: InputError.self) { try TaskGraph.order(tasks) }
        #expect(error.description.hasSuffix("a → c → b → a"), "\(error)")
    }

    @Test("a task after an unknown task is an error naming both")
    func unknownDependency() throws {
        let error = try #require(throws: InputError.self) { try TaskGraph.order([OrderingTask("hostname", after: ["network"])]) }
        #expect(error.description.contains("hostname") && error.description.contains("network"), "\(error)")
    }

    @Test("tasks --json lists the tasks in execution order")
    func tasksJSON() throws {
        let tasks = try SanitizeClone.json(["tasks", "--json"])
        let names = tasks["tasks"]?.array?.compactMap { $0["name"]?.string } ?? []
        #expect(Array(names.prefix(3)) == Self.identityChain && names.count == TaskRegistry.all.count, "\(tasks)")
        for task in tasks["tasks"]?.array ?? [] {
            #expect(task["summary"]?.string?.isEmpty == false, "\(task)")
        }
    }

    @Test("tasks --dot is a Graphviz digraph with edges machine-id → hostname → ssh-host-keys")
    func tasksDot() throws {
        let result = try SanitizeClone.run(["tasks", "--dot"])
        #expect(result.exitCode == 0)
        let lines = result.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines.first?.hasPrefix("digraph") == true && lines.last == "}", "\(result.stdout)")
        #expect(lines.contains { $0.hasPrefix("\"machine-id\" -> \"hostname\"") }, "\(result.stdout)")
        #expect(lines.contains { $0.hasPrefix("\"hostname\" -> \"ssh-host-keys\"") }, "\(result.stdout)")
        #expect(lines.contains { $0.hasPrefix("\"hostname\" -> \"ssl-snakeoil\"") }, "the certificate uses the new hostname: \(result.stdout)")
        #expect(lines.contains { $0.hasPrefix("\"network-bindings\" -> \"static-addresses\"") }, "addresses are set on rebound files: \(result.stdout)")
        #expect(lines.contains { $0.hasPrefix("\"fs-uuids\" -> \"partition-table-ids\"") }, "both rewrite the reference files, in turn: \(result.stdout)")
        #expect(lines.contains { $0.hasPrefix("\"fs-uuids\" -> \"initramfs\"") }, "the initramfs embeds what fs-uuids writes: \(result.stdout)")
        #expect(lines.contains { $0.hasPrefix("\"partition-table-ids\" -> \"initramfs\"") }, "and what partition-table-ids writes: \(result.stdout)")
        #expect(lines.filter { $0.contains("->") }.count == 7, "no other edges: \(result.stdout)")
        #expect(result.stdout.filter { $0 == "\"" }.count % 2 == 0, "quotes are balanced")
    }

    @Test("tasks lists the tasks for people, numbered in order")
    func tasksText() throws {
        let result = try SanitizeClone.run(["tasks"])
        #expect(result.exitCode == 0)
        let numbered = result.stdout.split(separator: "\n").filter { $0.first?.isNumber == true }
        #expect(numbered.map { String($0.split(separator: " ")[1]) } == TaskRegistry.all.map(\.name), "\(result.stdout)")
    }
}
