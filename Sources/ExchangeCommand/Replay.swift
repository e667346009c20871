import ArgumentParser
import ExchangeOrderFlow
import Foundation

/// `exchange replay FLOW [--output FILE] [--stats]`
struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay an order-flow file through the matching engine and print the result.",
        discussion: """
            FLOW and the output follow shared/formats/order-flow.md. A malformed FLOW prints \
            FILE:LINE: reason on stderr and exits 1, leaving no output file. --stats prints one \
            JSON line on stderr; apply_seconds times a second, fresh engine applying the parsed \
            commands with nothing else in the loop (its final digest must equal the first's).
            """
    )

    @Argument(help: "The order-flow file to replay.")
    var flow: String

    @Option(name: .shortAndLong, help: "Write the output here instead of stdout (a regular file is replaced whole; a device or pipe is written in place).")
    var output: String?

    @Flag(help: "Print {\"commands\",\"apply_seconds\",\"commands_per_second\",\"resting_orders\",\"trades\"} on stderr.")
    var stats = false

    func run() throws {
        do {
            let (text, figures) = try ReplayTool.replay(flowPath: flow, outputPath: output, measuring: stats)
            if let text { FileHandle.standardOutput.write(Data(text.utf8)) }
            if let figures { FileHandle.standardError.write(Data((figures.jsonLine + "\n").utf8)) }
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
