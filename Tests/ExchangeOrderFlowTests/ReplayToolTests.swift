import ExchangeOrderFlow
import Foundation
import Testing

/// `/work/shared/formats/examples`: the `shared` folder is a sibling of the repository root.
private let examplesDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // Tests/ExchangeOrderFlowTests
    .deletingLastPathComponent()  // Tests
    .deletingLastPathComponent()  // the repository root
    .deletingLastPathComponent()  // its parent
    .appendingPathComponent("shared/formats/examples", isDirectory: true)

private let basicFlow = """
    symbol,BTCUSDT,0.01,0.001
    place,1,7,BTCUSDT,sell,limit,gtc,100.00,1.5
    place,2,8,BTCUSDT,sell,limit,gtc,101.00,1
    place,3,9,BTCUSDT,buy,limit,ioc,101.00,2
    place,4,9,BTCUSDT,buy,limit,post_only,101.00,1

    """

private let basicOutput = """
    trade,1,BTCUSDT,3,1,100,1.5
    trade,2,BTCUSDT,3,2,101,0.5
    order,1,filled,1.5
    order,2,partially_filled,0.5
    order,3,filled,2
    order,4,rejected,0
    book,BTCUSDT,sell,2,101,0.5

    """

/// Runs `body` with a fresh empty directory, removed afterwards.
private func withTemporaryDirectory(_ body: (URL) throws -> Void) throws {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("ReplayToolTests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
    defer { try? FileManager.default.removeItem(at: directory) }
    try body(directory)
}

/// The names in `directory`, sorted.
private func contents(of directory: URL) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
}

/// Where two texts first differ, by line, or `nil` when they are byte for byte equal.
private func firstDifference(_ actual: String, _ expected: String) -> String? {
    if Array(actual.utf8) == Array(expected.utf8) { return nil }
    let actualLines = actual.split(separator: "\n", omittingEmptySubsequences: false)
    let expectedLines = expected.split(separator: "\n", omittingEmptySubsequences: false)
    for index in 0..<max(actualLines.count, expectedLines.count) {
        let left = index < actualLines.count ? String(actualLines[index]) : "<end>"
        let right = index < expectedLines.count ? String(expectedLines[index]) : "<end>"
        if left != right || Array(left.utf8) != Array(right.utf8) {
            return "line \(index + 1): got '\(left)', expected '\(right)'"
        }
    }
    return "same lines, different bytes"
}

@Suite struct ReplayToolTests {
    // MARK: The shared examples

    @Test("The shared example flows replay to their expected output byte for byte", arguments: [
        "basic", "five-symbols", "stp-mixed",
    ])
    func sharedExamples(name: String) throws {
        var isDirectory: ObjCBool = false
        try #require(
            FileManager.default.fileExists(atPath: examplesDirectory.path, isDirectory: &isDirectory) && isDirectory.boolValue,
            "missing \(examplesDirectory.path): the shared folder must sit next to the repository root")
        let flowPath = examplesDirectory.appendingPathComponent("\(name).flow").path
        let expectedData = try Data(contentsOf: examplesDirectory.appendingPathComponent("\(name).expected"))
        let expected = try #require(String(data: expectedData, encoding: .utf8))

        let (output, measured) = try ReplayTool.replay(flowPath: flowPath, outputPath: nil, measuring: true)
        let stats = try #require(measured)
        let text = try #require(output)
        #expect(Array(text.utf8) == Array(expectedData), "\(name): \(firstDifference(text, expected) ?? "")")

        let expectedLines = expected.split(separator: "\n")
        #expect(stats.trades == expectedLines.count { $0.hasPrefix("trade,") })
        #expect(stats.restingOrders == expectedLines.count { $0.hasPrefix("book,") })
        let flow = try OrderFlowParser.parse(String(contentsOfFile: flowPath, encoding: .utf8))
        #expect(stats.commands == flow.orderCommandCount - flow.entries.count { if case .rejectedPlace = $0 { true } else { false } })
    }

    @Test("The basic example matches the format document")
    func basicExampleMatchesDocument() throws {
        let expected = try String(contentsOf: examplesDirectory.appendingPathComponent("basic.expected"), encoding: .utf8)
        #expect(expected == basicOutput)
        let flow = try String(contentsOf: examplesDirectory.appendingPathComponent("basic.flow"), encoding: .utf8)
        #expect(flow == basicFlow)
    }

    // MARK: Output files

    @Test("A good flow writes the output file and leaves no temporary file")
    func writesOutputFile() throws {
        try withTemporaryDirectory { directory throws in
            let flowPath = directory.appendingPathComponent("basic.flow").path
            let outputPath = directory.appendingPathComponent("basic.out").path
            try basicFlow.write(toFile: flowPath, atomically: false, encoding: .utf8)

            let (output, measured) = try ReplayTool.replay(flowPath: flowPath, outputPath: outputPath, measuring: true)
            let stats = try #require(measured)
            #expect(output == nil)
            #expect(try Data(contentsOf: URL(fileURLWithPath: outputPath)) == Data(basicOutput.utf8))
            #expect(try contents(of: directory) == ["basic.flow", "basic.out"])
            #expect(stats.commands == 4)
            #expect(stats.trades == 2)
            #expect(stats.restingOrders == 1)
        }
    }

    @Test("An existing output file is replaced by a new file, not rewritten in place")
    func replacesOutputAtomically() throws {
        try withTemporaryDirectory { directory throws in
            let flowPath = directory.appendingPathComponent("basic.flow").path
            let outputPath = directory.appendingPathComponent("basic.out").path
            let linkPath = directory.appendingPathComponent("old.out").path
            try basicFlow.write(toFile: flowPath, atomically: false, encoding: .utf8)
            try "previous output\n".write(toFile: outputPath, atomically: false, encoding: .utf8)
            // A second name for the old file: a rename leaves it untouched, an in-place write would not.
            try FileManager.default.linkItem(atPath: outputPath, toPath: linkPath)

            _ = try ReplayTool.replay(flowPath: flowPath, outputPath: outputPath)
            #expect(try String(contentsOfFile: outputPath, encoding: .utf8) == basicOutput)
            #expect(try String(contentsOfFile: linkPath, encoding: .utf8) == "previous output\n")
            #expect(try contents(of: directory) == ["basic.flow", "basic.out", "old.out"])
        }
    }

    // MARK: Errors

    @Test("A malformed flow throws PATH:LINE: reason and leaves no output file")
    func malformedFlowLeavesNoOutput() throws {
        try withTemporaryDirectory { directory throws in
            let flowPath = directory.appendingPathComponent("bad.flow").path
            let outputPath = directory.appendingPathComponent("bad.out").path
            try "symbol,ABC,1,1\n\n# comment\nplace,1,7,ABC,buy,limit,gtc,100\n"
                .write(toFile: flowPath, atomically: false, encoding: .utf8)

            let error = #expect(throws: ReplayError.self) { try ReplayTool.replay(flowPath: flowPath, outputPath: outputPath) }
            #expect(error?.description == "\(flowPath):4: place takes ID,USER,SYMBOL,SIDE,TYPE,TIF,PRICE,QTY[,STP], got 7 fields")
            #expect(try contents(of: directory) == ["bad.flow"])
        }
    }

    @Test("A malformed flow leaves an existing output file unchanged")
    func malformedFlowKeepsExistingOutput() throws {
        try withTemporaryDirectory { directory throws in
            let flowPath = directory.appendingPathComponent("bad.flow").path
            let outputPath = directory.appendingPathComponent("bad.out").path
            try "symbol,ABC,1,1\nsymbol,ABC,1,1\n".write(toFile: flowPath, atomically: false, encoding: .utf8)
            try "previous output\n".write(toFile: outputPath, atomically: false, encoding: .utf8)

            let error = #expect(throws: ReplayError.self) { try ReplayTool.replay(flowPath: flowPath, outputPath: outputPath) }
            #expect(error?.description == "\(flowPath):2: symbol ABC declared twice (first on line 1)")
            #expect(try String(contentsOfFile: outputPath, encoding: .utf8) == "previous output\n")
            #expect(try contents(of: directory) == ["bad.flow", "bad.out"])
        }
    }

    @Test("A malformed flow without an output path throws the same error")
    func malformedFlowWithoutOutputPath() throws {
        try withTemporaryDirectory { directory throws in
            let flowPath = directory.appendingPathComponent("bad.flow").path
            try "bogus\n".write(toFile: flowPath, atomically: false, encoding: .utf8)
            let error = #expect(throws: ReplayError.self) { try ReplayTool.replay(flowPath: flowPath, outputPath: nil) }
            #expect(error?.description == "\(flowPath):1: unknown op 'bogus'")
        }
    }

    @Test("A missing flow file is unreadable")
    func missingFlow() throws {
        try withTemporaryDirectory { directory throws in
            let flowPath = directory.appendingPathComponent("missing.flow").path
            let outputPath = directory.appendingPathComponent("missing.out").path
            let error = #expect(throws: ReplayError.self) { try ReplayTool.replay(flowPath: flowPath, outputPath: outputPath) }
            #expect(error?.description.hasPrefix("\(flowPath): cannot read: ") == true, "\(String(describing: error))")
            #expect(try contents(of: directory).isEmpty)
        }
    }

    @Test("An output path that cannot be written throws and leaves no temporary file")
    func unwritableOutput() throws {
        try withTemporaryDirectory { directory throws in
            let flowPath = directory.appendingPathComponent("basic.flow").path
            try basicFlow.write(toFile: flowPath, atomically: false, encoding: .utf8)

            let missingDirectoryPath = directory.appendingPathComponent("missing/basic.out").path
            let missing = #expect(throws: ReplayError.self) {
                try ReplayTool.replay(flowPath: flowPath, outputPath: missingDirectoryPath)
            }
            #expect(missing?.description.hasPrefix("\(missingDirectoryPath): cannot write: ") == true, "\(String(describing: missing))")

            // The temporary file is written, then the rename over a non-empty directory fails.
            let directoryPath = directory.appendingPathComponent("taken").path
            try FileManager.default.createDirectory(atPath: directoryPath + "/inside", withIntermediateDirectories: true)
            let taken = #expect(throws: ReplayError.self) { try ReplayTool.replay(flowPath: flowPath, outputPath: directoryPath) }
            #expect(taken?.description.hasPrefix("\(directoryPath): cannot write: ") == true, "\(String(describing: taken))")
            #expect(try contents(of: directory) == ["basic.flow", "taken"])
        }
    }

    // MARK: Stats

    @Test("The stats line is JSON with exactly its keys, in order")
    func statsJSONLine() throws {
        try withTemporaryDirectory { directory throws in
            let flowPath = directory.appendingPathComponent("basic.flow").path
            try basicFlow.write(toFile: flowPath, atomically: false, encoding: .utf8)
            let (_, measured) = try ReplayTool.replay(flowPath: flowPath, outputPath: nil, measuring: true)
            let stats = try #require(measured)
            let line = stats.jsonLine

            let keys = line.matches(of: #/"([a-z_]+)":/#).map { String($0.output.1) }
            #expect(keys == ["commands", "apply_seconds", "commands_per_second", "resting_orders", "trades"])
            #expect(!line.contains("\n"))
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object.count == 5)
            #expect(object["commands"] as? Int == 4)
            #expect(object["resting_orders"] as? Int == 1)
            #expect(object["trades"] as? Int == 2)
            let applySeconds = try #require(object["apply_seconds"] as? Double)
            #expect(applySeconds == stats.applySeconds)
            #expect(applySeconds >= 0)
            #expect(object["commands_per_second"] as? Double == stats.commandsPerSecond.rounded())
        }
    }
}
