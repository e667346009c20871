import ExchangeClusterTools
import ExchangeCore
import Testing

struct FlowLineNoteTests {
    @Test("flow line notes round-trip and refuse overflow", arguments: [[], [0], [3, 4, 90, 1_000_000], [Int.max - 1, Int.max]])
    func roundTrip(lines: [Int]) throws {
        #expect(try FlowLineNote.decode(FlowLineNote.encode(lines)) == lines)
    }

    @Test("a note whose lines pass Int.max is refused")
    func overflow() {
        var bytes = FlowLineNote.encode([Int.max])
        bytes += [1]
        #expect(throws: BinaryDecodingError.varintOverflow) { try FlowLineNote.decode(bytes) }
    }
}
