/// Orders tasks so each comes after the tasks it names in `runsAfter` and `plannedAfter`,
/// deterministically: among tasks that are ready at the same time, registry order decides.
public enum TaskGraph {
    /// The tasks in execution order. Throws `InputError` naming an unknown dependency or a cycle.
    public static func order(_ tasks: [any SanitizeTask]) throws -> [any SanitizeTask] {
        let names = tasks.map(\.name)
        var seen = Set<String>()
        for name in names where !seen.insert(name).inserted {
            throw InputError("two tasks are named \(name) (a drop-in or a registry line repeats it)")
        }
        for task in tasks {
            for dependency in task.dependencies where !names.contains(dependency) {
                throw InputError("task \(task.name) runs after unknown task \(dependency)")
            }
        }
        var ordered: [any SanitizeTask] = []
        var placed = Set<String>()
        while ordered.count < tasks.count {
            guard let next = tasks.first(where: { task in
                !placed.contains(task.name) && task.dependencies.allSatisfy(placed.contains)
            }) else {
                throw InputError("the task graph has a cycle: \(cycle(in: tasks, excluding: placed).joined(separator: " → "))")
            }
            ordered.append(next)
            placed.insert(next.name)
        }
        return ordered
    }

    /// A cycle among the tasks not yet placed, as names with the first repeated at the end.
    private static func cycle(in tasks: [any SanitizeTask], excluding placed: Set<String>) -> [String] {
        let byName = Dictionary(tasks.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var path: [String] = []
        var current = tasks.first { !placed.contains($0.name) }!.name
        while !path.contains(current) {
            path.append(current)
            current = byName[current]!.dependencies.first { !placed.contains($0) } ?? current
        }
        return Array(path[path.firstIndex(of: current)!...]) + [current]
    }

    /// Graphviz text of the graph, edges from each dependency to its dependent; a dashed edge
    /// means "planned after" (the values flow, the work may overlap).
    public static func dot(_ tasks: [any SanitizeTask]) -> String {
        var lines = ["digraph sanitize_clone {", "  rankdir=LR;", "  node [shape=box, style=rounded];"]
        for task in tasks { lines.append("  \"\(task.name)\" [tooltip=\"\(task.summary)\"];") }
        for task in tasks {
            for dependency in task.runsAfter { lines.append("  \"\(dependency)\" -> \"\(task.name)\";") }
            for dependency in task.plannedAfter { lines.append("  \"\(dependency)\" -> \"\(task.name)\" [style=dashed, label=\"plan\"];") }
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }
}

extension SanitizeTask {
    /// Every task this one comes after in the planning order.
    var dependencies: [String] { runsAfter + plannedAfter }
}
