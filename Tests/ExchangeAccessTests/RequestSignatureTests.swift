import ExchangeAccess
import Testing

@Suite struct RequestSignatureTests {
    // Binance's documented example (SIGNED endpoint security, HMAC).
    let secret = Array("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j".utf8)
    let query = Array("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559".utf8)
    let expected = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"

    @Test("Binance's documented example signs to its documented signature")
    func documentedExample() {
        #expect(RequestSignature.sign(query, secret: secret) == expected)
        #expect(RequestSignature.isValid(expected, payload: query, secret: secret))
    }

    @Test("the signature pair is removed from the query, and query and body are joined without a separator")
    func payloadOfQueryAndBody() {
        let split = RequestSignature.payload(
            query: Array("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC".utf8),
            body: Array("quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature=\(expected)".utf8))
        #expect(split.signature == expected)
        #expect(String(decoding: split.signed, as: UTF8.self)
            == "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTCquantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559")
        // Binance's documented signature for this mixed query-and-body example.
        #expect(RequestSignature.isValid(
            "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77", payload: split.signed, secret: secret))
        #expect(!RequestSignature.isValid(expected, payload: split.signed, secret: secret))
    }

    @Test("a signature in the middle of the query is taken out with its separator")
    func signatureInTheMiddle() {
        let split = RequestSignature.payload(query: Array("a=1&signature=ab&b=2".utf8), body: [])
        #expect(String(decoding: split.signed, as: UTF8.self) == "a=1&b=2")
        #expect(split.signature == "ab")
    }

    @Test("upper-case hex is accepted; a changed byte, a short or non-hex signature is not")
    func caseAndTampering() {
        #expect(RequestSignature.isValid(expected.uppercased(), payload: query, secret: secret))
        var tampered = query
        tampered[0] = UInt8(ascii: "t")
        #expect(!RequestSignature.isValid(expected, payload: tampered, secret: secret))
        #expect(!RequestSignature.isValid(String(expected.dropLast()), payload: query, secret: secret))
        #expect(!RequestSignature.isValid(String(expected.dropLast()) + "g", payload: query, secret: secret))
    }

    @Test("percent-encoded bytes are signed as received, not decoded")
    func percentEncodingIsSignedRaw() {
        let raw = Array("symbols=%5B%22BTCUSDT%22%5D&timestamp=1".utf8)
        let signature = RequestSignature.sign(raw, secret: secret)
        #expect(RequestSignature.isValid(signature, payload: RequestSignature.payload(query: raw, body: []).signed, secret: secret))
        #expect(!RequestSignature.isValid(signature, payload: Array(#"symbols=["BTCUSDT"]&timestamp=1"#.utf8), secret: secret))
    }

    @Test("the WebSocket API signs its parameters sorted by name, without the signature")
    func webSocketPayload() {
        let payload = RequestSignature.webSocketPayload([("timestamp", "2"), ("apiKey", "k"), ("signature", "x"), ("recvWindow", "10000")])
        #expect(String(decoding: payload, as: UTF8.self) == "apiKey=k&recvWindow=10000&timestamp=2")
    }
}

@Suite struct RequestTimeWindowTests {
    @Test("inside the default window, at its edges and outside it")
    func defaultWindow() {
        #expect(RequestTimeWindow.check(timestamp: 10_000, windowMilliseconds: nil, now: 15_000) == .accepted)
        #expect(RequestTimeWindow.check(timestamp: 10_000, windowMilliseconds: nil, now: 15_001) == .outsideWindow)
        #expect(RequestTimeWindow.check(timestamp: 10_999, windowMilliseconds: nil, now: 10_000) == .accepted)
        #expect(RequestTimeWindow.check(timestamp: 11_000, windowMilliseconds: nil, now: 10_000) == .outsideWindow)
    }

    @Test("recvWindow must be within 1...60000")
    func windowBounds() {
        #expect(RequestTimeWindow.check(timestamp: 0, windowMilliseconds: 60_000, now: 60_000) == .accepted)
        #expect(RequestTimeWindow.check(timestamp: 0, windowMilliseconds: 60_001, now: 1) == .invalidWindow)
        #expect(RequestTimeWindow.check(timestamp: 0, windowMilliseconds: 0, now: 0) == .invalidWindow)
    }

    @Test("extreme timestamps do not overflow")
    func extremes() {
        #expect(RequestTimeWindow.check(timestamp: .min, windowMilliseconds: nil, now: .max) == .outsideWindow)
        #expect(RequestTimeWindow.check(timestamp: .max, windowMilliseconds: nil, now: .max) == .outsideWindow)
    }
}
