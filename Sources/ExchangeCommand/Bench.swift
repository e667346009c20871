import ArgumentParser

/// `exchange bench ...`: load generators and benchmarks.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks and load generators.",
        subcommands: []
    )
}
