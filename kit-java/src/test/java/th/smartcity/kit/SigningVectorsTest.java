package th.smartcity.kit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.MessageDigest;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.X509EncodedKeySpec;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/** The shared test vectors (contracts/reference/signing-vectors.json), as the Python kit signs them. */
class SigningVectorsTest {
  private static final HexFormat HEX = HexFormat.of();
  private static final String INTAKE = "smartcity.intake";

  static JsonNode document() throws Exception {
    String path = System.getProperty("smartcity.vectors");
    assertTrue(path != null && !path.isBlank(), "the pom sets smartcity.vectors");
    return new ObjectMapper().readTree(Path.of(path).toFile());
  }

  static JsonNode vectors() throws Exception {
    JsonNode doc = document();
    assertEquals(ClaimSigner.SIGNATURE_VERSION, doc.get("signature_version").asInt());
    return doc.get("vectors");
  }

  static JsonNode firstOfVersion(int version) throws Exception {
    for (JsonNode v : vectors()) {
      if (v.get("version").asInt() == version) {
        return v;
      }
    }
    throw new AssertionError("no version " + version + " vector");
  }

  static ClaimSigner signerOf(JsonNode v) throws Exception {
    return ClaimSigner.fromSeed(
        v.get("agency_id").asText(),
        v.get("key_id").asText(),
        HEX.parseHex(v.get("private_key_seed_hex").asText()));
  }

  /** The raw 32-byte Ed25519 public key as a JDK key (X.509 prefix for Ed25519). */
  static PublicKey publicKey(byte[] raw) throws Exception {
    byte[] prefix = HEX.parseHex("302a300506032b6570032100");
    byte[] der = new byte[prefix.length + raw.length];
    System.arraycopy(prefix, 0, der, 0, prefix.length);
    System.arraycopy(raw, 0, der, prefix.length, raw.length);
    return KeyFactory.getInstance("Ed25519").generatePublic(new X509EncodedKeySpec(der));
  }

  @TestFactory
  List<DynamicTest> everyVectorSignsToItsBytesAndHeader() throws Exception {
    List<DynamicTest> tests = new ArrayList<>();
    for (JsonNode v : vectors()) {
      tests.add(
          DynamicTest.dynamicTest(
              v.get("name").asText(),
              () -> {
                byte[] publicKey = HEX.parseHex(v.get("public_key_hex").asText());
                String agency = v.get("agency_id").asText();
                String keyId = ClaimSigner.keyIdFor(agency, publicKey);
                assertEquals(v.get("key_id").asText(), keyId);
                byte[] key =
                    v.get("key").isNull()
                        ? null
                        : v.get("key").asText().getBytes(StandardCharsets.UTF_8);
                byte[] value = v.get("value").asText().getBytes(StandardCharsets.UTF_8);
                String eventType = v.get("event_type").asText();
                byte[] eventTypeBytes = eventType.getBytes(StandardCharsets.UTF_8);
                ClaimSigner signer = signerOf(v);
                byte[] input;
                String header;
                if (v.get("version").asInt() == 1) {
                  input = ClaimSigner.signingInputV1(value, key, eventTypeBytes);
                  header = signer.signatureHeaderV1(value, key, eventType);
                } else {
                  String topic = v.get("topic").asText();
                  String signedAt = v.get("signed_at").asText();
                  assertEquals(signedAt, ClaimSigner.formatSignedAt(Instant.parse(signedAt)));
                  input =
                      ClaimSigner.signingInput(
                          topic.getBytes(StandardCharsets.UTF_8),
                          signedAt.getBytes(StandardCharsets.US_ASCII),
                          value,
                          key,
                          eventTypeBytes);
                  header = signer.signatureHeader(topic, signedAt, value, key, eventType);
                }
                assertEquals(
                    v.get("signing_input_sha256_hex").asText(),
                    HEX.formatHex(MessageDigest.getInstance("SHA-256").digest(input)));
                assertEquals(v.get("signature_header").asText(), header);
              }));
    }
    assertTrue(tests.size() >= 4, "two vectors in each version");
    return tests;
  }

  @Test
  void theSignedAtHeaderIsUtcToTheMillisecond() {
    assertEquals(
        "2026-12-06T09:30:05.123Z",
        ClaimSigner.formatSignedAt(Instant.parse("2026-12-06T09:30:05.123999Z")));
    assertEquals(
        "2026-12-06T09:30:05.000Z", ClaimSigner.formatSignedAt(Instant.parse("2026-12-06T09:30:05Z")));
  }

  @Test
  void aClaimIsSignedForItsTopicAndTimeOverItsExactBytes() throws Exception {
    JsonNode first = firstOfVersion(2);
    ClaimSigner signer = signerOf(first);
    Claim claim =
        Claim.of(
            "ProposalWithdrawn",
            signer.agencyId(),
            "PKT-2565-0001",
            Claim.payloadOf("{\"applicant\": \"lg-phuket-city\", \"reason\": null}"));
    Instant at = Instant.parse("2026-12-06T09:30:05.250Z");
    SignedRecord record = signer.sign(claim, INTAKE, at);
    assertEquals("PKT-2565-0001", new String(record.key(), StandardCharsets.UTF_8));
    assertEquals("ProposalWithdrawn", record.headers().get(Claim.HEADER_EVENT_TYPE));
    assertEquals(claim.eventId().toString(), record.headers().get(Claim.HEADER_EVENT_ID));
    assertEquals("2026-12-06T09:30:05.250Z", record.headers().get(Claim.HEADER_SIGNED_AT));
    String header = record.headers().get(Claim.HEADER_SIGNATURE);
    assertEquals(
        signer.signatureHeader(
            INTAKE, "2026-12-06T09:30:05.250Z", record.value(), record.key(), "ProposalWithdrawn"),
        header);
    assertTrue(header.startsWith("v=2;keyid=" + signer.keyId() + ";ed25519="), header);

    // The signature verifies over the documented bytes, and not for another topic or time.
    byte[] signature = Base64.getDecoder().decode(header.substring(header.indexOf("ed25519=") + 8));
    PublicKey key = publicKey(HEX.parseHex(first.get("public_key_hex").asText()));
    byte[] eventType = "ProposalWithdrawn".getBytes(StandardCharsets.UTF_8);
    byte[] signedAt = "2026-12-06T09:30:05.250Z".getBytes(StandardCharsets.US_ASCII);
    Signature verifier = Signature.getInstance("Ed25519");
    verifier.initVerify(key);
    verifier.update(
        ClaimSigner.signingInput(
            INTAKE.getBytes(StandardCharsets.UTF_8), signedAt, record.value(), record.key(), eventType));
    assertTrue(verifier.verify(signature));
    verifier.initVerify(key);
    verifier.update(
        ClaimSigner.signingInput(
            "ns.smartcity.intake".getBytes(StandardCharsets.UTF_8),
            signedAt,
            record.value(),
            record.key(),
            eventType));
    assertTrue(!verifier.verify(signature), "signed for smartcity.intake only");

    SignedRecord later = signer.sign(claim, INTAKE, at.plusSeconds(1));
    assertNotEquals(header, later.headers().get(Claim.HEADER_SIGNATURE));
    SignedRecord elsewhere = signer.sign(claim, "ns.smartcity.intake", at);
    assertNotEquals(header, elsewhere.headers().get(Claim.HEADER_SIGNATURE));

    JsonNode envelope = new ObjectMapper().readTree(record.value());
    assertEquals("ProposalWithdrawn", envelope.get("payload").get("event_type").asText());
    assertEquals(signer.agencyId(), envelope.get("producer").asText());
  }
}
