import Foundation
import Testing

/// Runs the built `exchange` binary as a user would and checks exit codes, stdout, stderr and files.
struct ExchangeProcess {
    var status: Int32
    var standardOutput: String
    var standardError: String

    /// The `exchange` binary next to this test bundle (SwiftPM builds it for this target).
    static let binary: URL = {
        let bundleDirectory = Bundle.main.bundleURL.deletingLastPathComponent()
        let candidates = [
            bundleDirectory.appendingPathComponent("exchange"),
            Bundle.main.bundleURL.appendingPathComponent("exchange"),
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("exchange"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }()

    static func run(_ arguments: [String]) throws -> ExchangeProcess {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        // Read before waiting so a large output cannot fill the pipe and block the child.
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return ExchangeProcess(
            status: process.terminationStatus, standardOutput: String(decoding: outputData, as: UTF8.self),
            standardError: String(decoding: errorData, as: UTF8.self))
    }
}

/// A class so that each test's scratch directory is removed when the test ends (`deinit`).
@Suite final class ExchangeCLITests {
    static let examples = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared/formats/examples")

    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("exchange-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        #expect(FileManager.default.isExecutableFile(atPath: ExchangeProcess.binary.path), "no exchange binary at \(ExchangeProcess.binary.path)")
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    func file(_ name: String, _ text: String? = nil) throws -> String {
        let url = directory.appendingPathComponent(name)
        if let text { try text.write(to: url, atomically: true, encoding: .utf8) }
        return url.path
    }

    var directoryContents: [String] { (try? FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()) ?? [] }

    @Test("replay prints the expected output of the shared example")
    func replayToStandardOutput() throws {
        let flow = Self.examples.appendingPathComponent("stp-mixed.flow").path
        let result = try ExchangeProcess.run(["replay", flow])
        #expect(result.status == 0)
        #expect(result.standardOutput == (try String(contentsOfFile: Self.examples.appendingPathComponent("stp-mixed.expected").path, encoding: .utf8)))
        #expect(result.standardError == "")
    }

    @Test("replay --output --stats writes the file and one JSON line with the documented keys")
    func replayToFileWithStats() throws {
        let output = try file("out.txt")
        let result = try ExchangeProcess.run(["replay", Self.examples.appendingPathComponent("basic.flow").path, "--output", output, "--stats"])
        #expect(result.status == 0)
        #expect(result.standardOutput == "")
        #expect(try String(contentsOfFile: output, encoding: .utf8) == (try String(contentsOfFile: Self.examples.appendingPathComponent("basic.expected").path, encoding: .utf8)))
        let lines = result.standardError.split(separator: "\n")
        try #require(lines.count == 1)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(Set(json.keys) == ["commands", "apply_seconds", "commands_per_second", "resting_orders", "trades"])
        #expect(json["commands"] as? Int == 4)
        #expect(json["trades"] as? Int == 2)
        #expect(json["resting_orders"] as? Int == 1)
        #expect(lines[0].hasPrefix("{\"commands\":4,\"apply_seconds\":"))
    }

    @Test("a malformed flow: FILE:LINE: reason on stderr, exit 1, no output file")
    func malformedFlow() throws {
        let flow = try file("bad.flow", "symbol,BTCUSDT,0.01,0.001\nplace,1,7,BTCUSDT,buy,limit,gtc,100\n")
        let output = directory.appendingPathComponent("out.txt").path
        let result = try ExchangeProcess.run(["replay", flow, "--output", output])
        #expect(result.status == 1)
        #expect(result.standardOutput == "")
        #expect(result.standardError == "\(flow):2: place takes ID,USER,SYMBOL,SIDE,TYPE,TIF,PRICE,QTY[,STP], got 7 fields\n")
        #expect(directoryContents == ["bad.flow"])
    }

    @Test("a missing flow file is a clear error with exit 1")
    func missingFile() throws {
        let result = try ExchangeProcess.run(["replay", directory.appendingPathComponent("nope.flow").path])
        #expect(result.status == 1)
        #expect(result.standardError.contains("nope.flow: cannot read"))
    }

    @Test("bad options exit non-zero with a message", arguments: [
        ["bench", "matching", "--symbols", "0"],
        ["bench", "matching", "--orders", "-1"],
        ["replay"],
        ["frobnicate"],
    ])
    func badArguments(arguments: [String]) throws {
        let result = try ExchangeProcess.run(arguments)
        #expect(result.status != 0)
        #expect(!result.standardError.isEmpty)
    }

    @Test("bench flow writes a flow that replay accepts; bench matching writes its report and plot")
    func bench() throws {
        let flow = try file("generated.flow")
        let generated = try ExchangeProcess.run(["bench", "flow", "--symbols", "3", "--orders", "5000", "--seed", "9", "--output", flow])
        #expect(generated.status == 0)
        let replayed = try ExchangeProcess.run(["replay", flow, "--stats"])
        #expect(replayed.status == 0)
        #expect(replayed.standardOutput.contains("\norder,1,") && replayed.standardOutput.hasPrefix("trade,1,"))
        #expect(replayed.standardError.hasPrefix("{\"commands\":5000,"))

        let report = directory.appendingPathComponent("report").path
        let bench = try ExchangeProcess.run([
            "bench", "matching", "--symbols", "2,50", "--orders", "3000", "--resting", "2000", "--repetitions", "2", "--report", report,
        ])
        #expect(bench.status == 0, "\(bench.standardError)")
        #expect(bench.standardOutput.contains("matching benchmark, seed 1"))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report + "/report.json"))) as? [String: Any]
        let flows = json?["flows"] as? [[String: Any]]
        #expect(flows?.count == 2)
        let resting = json?["resting"] as? [String: Any]
        #expect(resting?["restingOrders"] as? Int == 2_000)
        #expect(resting?["restoredDigestEqual"] as? Bool == true)
        let svg = try String(contentsOfFile: report + "/latency.svg", encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains("2 symbols") && svg.contains("50 symbols"))
    }
}
