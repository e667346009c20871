import ExchangeCore
import Testing

@Suite struct DecimalNumberTests {
    // MARK: Parsing

    @Test("Valid plain decimals parse to their normalized units and scale", arguments: [
        ("0", Int64(0), 0),
        ("7", 7, 0),
        ("007", 7, 0),
        ("42000.5", 420_005, 1),
        ("0.00001", 1, 5),
        ("1.5", 15, 1),
        ("1.50", 15, 1),
        ("100.00", 100, 0),
        ("0.0", 0, 0),
        ("0.000000000000000001", 1, 18),
        ("1.5000000000000000000000", 15, 1),
        ("0.0000000000000000000000", 0, 0),
        ("9223372036854775807", Int64.max, 0),
        ("9.223372036854775807", Int64.max, 18),
        ("0.123456789012345678", 123_456_789_012_345_678, 18),
    ])
    func parsesValidText(text: String, units: Int64, scale: Int) throws {
        let number = try DecimalNumber(parsing: text)
        #expect(number.units == units)
        #expect(number.scale == scale)
    }

    @Test("Trailing fraction zeros do not change the value", arguments: [
        ("1.50", "1.5"),
        ("1.5000000000000000000000", "1.5"),
        ("2.000", "2"),
        ("0.10", "0.1"),
    ])
    func trailingZerosAreEqual(written: String, plain: String) throws {
        let left = try DecimalNumber(parsing: written)
        let right = try DecimalNumber(parsing: plain)
        #expect(left == right)
        #expect(left.hashValue == right.hashValue)
        #expect(left.description == plain)
    }

    @Test("A substring parses like the string it views")
    func parsesSubstring() throws {
        let line = "price=42000.50;"
        let start = line.index(line.startIndex, offsetBy: 6)
        let end = line.index(before: line.endIndex)
        #expect(try DecimalNumber(parsing: line[start..<end]) == DecimalNumber(units: 420_005, scale: 1))
    }

    @Test("Malformed decimals are rejected with their exact reason", arguments: [
        ("", DecimalParseError.empty),
        ("-1", .sign),
        ("+1", .sign),
        ("1-", .sign),
        ("1.5+", .sign),
        ("1e5", .exponent),
        ("1E5", .exponent),
        ("1.5e-3", .exponent),
        ("1,5", .invalidCharacter),
        ("abc", .invalidCharacter),
        (" 1", .invalidCharacter),
        ("1 ", .invalidCharacter),
        ("1_000", .invalidCharacter),
        ("١", .invalidCharacter),
        ("1.2.3", .multiplePoints),
        ("1..2", .multiplePoints),
        (".5", .missingIntegerPart),
        (".", .missingIntegerPart),
        ("5.", .missingFractionPart),
        ("0.1234567890123456789", .tooManyDecimals),
        ("0.0000000000000000001", .tooManyDecimals),
        ("1.0000000000000000001", .tooManyDecimals),
        ("9223372036854775808", .outOfRange),
        ("99999999999999999999", .outOfRange),
        ("92233720368547758.08", .outOfRange),
        ("10.000000000000000001", .outOfRange),
    ])
    func rejectsMalformedText(text: String, error: DecimalParseError) {
        #expect(throws: error) { try DecimalNumber(parsing: text) }
    }

    @Test("Parse errors describe themselves for error messages")
    func parseErrorDescriptions() {
        #expect(DecimalParseError.tooManyDecimals.description == "more than 18 decimals")
        #expect(DecimalParseError.sign.description == "signs are not allowed")
        #expect(DecimalParseError.missingFractionPart.description == "missing digits after the decimal point")
    }

    // MARK: Construction and formatting

    @Test("The units initializer normalizes trailing zeros")
    func unitsInitializerNormalizes() {
        let number = DecimalNumber(units: 1_500, scale: 3)
        #expect(number.units == 15)
        #expect(number.scale == 1)
        #expect(number == DecimalNumber(units: 15, scale: 1))
        #expect(DecimalNumber(units: 0, scale: 18) == DecimalNumber(units: 0, scale: 0))
        #expect(DecimalNumber(units: 100, scale: 0).units == 100)
    }

    @Test("Formatting is plain: no exponent, no trailing zeros", arguments: [
        (Int64(0), 0, "0"),
        (0, 18, "0"),
        (5, 0, "5"),
        (420_005, 1, "42000.5"),
        (1, 5, "0.00001"),
        (1, 18, "0.000000000000000001"),
        (1_500, 3, "1.5"),
        (100_000_000_000_000_000, 10, "10000000"),
        (Int64.max, 0, "9223372036854775807"),
        (Int64.max, 18, "9.223372036854775807"),
        (-5, 1, "-0.5"),
        (-15, 1, "-1.5"),
        (-1, 18, "-0.000000000000000001"),
        (-42, 0, "-42"),
        (Int64.min, 0, "-9223372036854775808"),
        (Int64.min, 18, "-9.223372036854775808"),
    ])
    func formats(units: Int64, scale: Int, text: String) {
        #expect(DecimalNumber(units: units, scale: scale).description == text)
    }

    @Test("Formatting then parsing gives the same value", arguments: [
        "0", "1", "42000.5", "0.00001", "0.000000000000000001", "9223372036854775807",
        "9.223372036854775807", "1234567.891", "10", "100.001",
    ])
    func roundTrips(text: String) throws {
        let number = try DecimalNumber(parsing: text)
        #expect(number.description == text)
        #expect(try DecimalNumber(parsing: number.description) == number)
    }

    @Test("Formatting round-trips for many generated values")
    func roundTripsGeneratedValues() throws {
        let seed: UInt64 = 0x5EED_DEC1
        var generator = SplitMix64(seed: seed)
        for _ in 0..<5_000 {
            let units = Int64(bitPattern: generator.next() >> (generator.next() % 64))
            let magnitude = units == .min ? Int64.max : abs(units)
            let scale = Int(generator.next() % UInt64(DecimalNumber.maximumScale + 1))
            let number = DecimalNumber(units: magnitude, scale: scale)
            let text = number.description
            #expect(!text.contains("e") && !text.contains("E"), "seed \(seed): \(text)")
            #expect(!(text.contains(".") && text.hasSuffix("0")), "seed \(seed): \(text)")
            #expect(try DecimalNumber(parsing: text) == number, "seed \(seed): \(text)")
        }
    }

    @Test("Values compare numerically across scales")
    func comparesNumerically() throws {
        #expect(try DecimalNumber(parsing: "1.5") < DecimalNumber(parsing: "1.50001"))
        #expect(try DecimalNumber(parsing: "2") > DecimalNumber(parsing: "1.999999999999999999"))
        #expect(DecimalNumber(units: -1, scale: 0) < DecimalNumber(units: 0, scale: 0))
        #expect(!(DecimalNumber(units: 15, scale: 1) < DecimalNumber(units: 15, scale: 1)))
    }

    @Test("Only values above zero are positive")
    func positivity() {
        #expect(DecimalNumber(units: 1, scale: 18).isPositive)
        #expect(!DecimalNumber(units: 0, scale: 0).isPositive)
        #expect(!DecimalNumber(units: -1, scale: 0).isPositive)
    }

    // MARK: Multiples

    @Test("Whole multiples of an increment are counted exactly", arguments: [
        ("1.5", "0.5", Int64(3)),
        ("100", "0.01", 10_000),
        ("0.00002489", "0.00000001", 2_489),
        ("42000.5", "0.01", 4_200_050),
        ("15", "5", 3),
        ("0", "0.01", 0),
        ("9223372036854775807", "1", Int64.max),
        ("9.223372036854775807", "0.000000000000000001", Int64.max),
        ("1", "0.000000000000000001", 1_000_000_000_000_000_000),
    ])
    func exactMultiples(value: String, increment: String, count: Int64) throws {
        let multiples = try DecimalNumber(parsing: value).multiples(of: DecimalNumber(parsing: increment))
        #expect(multiples == count)
    }

    @Test("A negative value counts negative multiples")
    func negativeMultiples() throws {
        #expect(DecimalNumber(units: -15, scale: 1).multiples(of: try DecimalNumber(parsing: "0.5")) == -3)
    }

    @Test("A value that is not a whole multiple has no count", arguments: [
        ("1.5", "0.2"),
        ("1.03", "0.05"),
        ("100.001", "0.01"),
        ("7", "2"),
        ("0.5", "1"),
    ])
    func inexactMultiples(value: String, increment: String) throws {
        #expect(try DecimalNumber(parsing: value).multiples(of: DecimalNumber(parsing: increment)) == nil)
    }

    @Test("A count beyond Int64 has no value", arguments: [
        ("9223372036854775807", "0.1"),
        ("9223372036854775807", "0.000000000000000001"),
        ("10", "0.000000000000000001"),
    ])
    func overflowingMultiples(value: String, increment: String) throws {
        #expect(try DecimalNumber(parsing: value).multiples(of: DecimalNumber(parsing: increment)) == nil)
    }
}
