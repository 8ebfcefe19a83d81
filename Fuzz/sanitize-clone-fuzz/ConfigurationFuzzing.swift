@testable import SanitizeCloneKit

/// The configuration INI (`sanitize-clone.conf`, `conf.d/*.conf`) with every key the engine and
/// the tasks declare, and a drop-in task file (`tasks.d/*.task`) read from a root.
enum ConfigurationFuzzing {
    static let keys = RunEngine.engineKeys + TaskRegistry.all.flatMap(\.configurationKeys)

    static func feed(_ bytes: [UInt8]) {
        if let text = FuzzInput.text(bytes) {
            var configuration = Configuration(keys: keys)
            if (try? configuration.merge(text: text, file: Configuration.mainPath)) != nil {
                _ = configuration.effectiveValues
                _ = configuration.number("Journal", "KeepRuns")
                _ = configuration.flag("Boot", "RebootAfterMachineIDChange")
            }
        }
        let scratch = FuzzRoot.shared
        scratch.write(RootPath.join(DropInTask.directory, "fuzz.task"), bytes)
        _ = try? DropInTask.load(from: scratch.root)
    }
}
