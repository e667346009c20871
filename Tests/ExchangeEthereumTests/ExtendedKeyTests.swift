import ExchangeChain
import ExchangeEthereum
import Testing

/// BIP-32 test vector 1 (seed 000102…0f), as published in the BIP.
@Suite struct ExtendedKeyTests {
    static let master = "xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8"
    static let m0H = "xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw"
    static let m0H1 = "xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ"

    @Test("the master key of the vector's seed serialises to the published xpub")
    func masterFromSeed() throws {
        let seed = Hex.decode("000102030405060708090a0b0c0d0e0f")!
        let master = try ExtendedPrivateKey(seed: seed)
        #expect(master.serializedPublicKey == Self.master)
        #expect(master.publicKey == (try ExtendedPublicKey(parsing: Self.master)))
    }

    @Test("public derivation of m/0H/1 from m/0H's xpub gives the published key and chain code, as private derivation does")
    func publicChild() throws {
        let parent = try ExtendedPublicKey(parsing: Self.m0H)
        let expected = try ExtendedPublicKey(parsing: Self.m0H1)
        let child = try parent.child(1)
        #expect(child.key == expected.key && child.chainCode == expected.chainCode && child.depth == 2)
        let fromSeed = try ExtendedPrivateKey(seed: Hex.decode("000102030405060708090a0b0c0d0e0f")!).derive([ExtendedPrivateKey.hardened, 1])
        #expect(fromSeed.publicKey.key == expected.key)
        // Deeper, non-hardened: both sides agree, so the cold key can spend what a watcher's address receives.
        let privateSide = try fromSeed.derive([7, 42])
        let publicSide = try child.derive([7, 42])
        #expect(privateSide.publicKey == publicSide)
        #expect(privateSide.signingKey.address == publicSide.ethereumAddress)
    }

    @Test("a typo, a private or hardened request, or bad characters are refused")
    func refusals() throws {
        var typo = Array(Self.m0H)
        typo[40] = typo[40] == "a" ? "b" : "a"
        #expect(throws: ExtendedKeyError.malformed("its checksum does not match (a typo?)")) { try ExtendedPublicKey(parsing: String(typo)) }
        #expect(throws: ExtendedKeyError.malformed("a character outside Base58")) { try ExtendedPublicKey(parsing: "xpub0OIl") }
        #expect(throws: ExtendedKeyError.hardenedFromPublic) { try ExtendedPublicKey(parsing: Self.m0H).child(ExtendedPrivateKey.hardened) }
        let xprv = "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi"
        #expect(throws: ExtendedKeyError.malformed("not an xpub (its version bytes)")) { try ExtendedPublicKey(parsing: xprv) }
    }

    @Test("Base58 round-trips, leading zero bytes included")
    func base58() {
        for bytes: [UInt8] in [[], [0], [0, 0, 1], [255, 254, 0, 7], Array(0...40)] {
            #expect(Base58.decode(Base58.encode(bytes)) == bytes)
        }
        #expect(Base58.encode([0, 0, 0x28, 0x7f, 0xb4, 0xcd]) == "11233QC4")
    }
}
