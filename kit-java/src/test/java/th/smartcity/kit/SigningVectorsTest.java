package th.smartcity.kit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/** The shared test vectors (contracts/reference/signing-vectors.json), as the Python kit signs them. */
class SigningVectorsTest {
  private static final HexFormat HEX = HexFormat.of();

  static JsonNode vectors() throws Exception {
    String path = System.getProperty("smartcity.vectors");
    assertTrue(path != null && !path.isBlank(), "the pom sets smartcity.vectors");
    JsonNode doc = new ObjectMapper().readTree(Path.of(path).toFile());
    assertEquals(1, doc.get("signature_version").asInt());
    return doc.get("vectors");
  }

  @TestFactory
  List<DynamicTest> everyVectorSignsToItsHeader() throws Exception {
    List<DynamicTest> tests = new ArrayList<>();
    for (JsonNode v : vectors()) {
      tests.add(
          DynamicTest.dynamicTest(
              v.get("name").asText(),
              () -> {
                byte[] seed = HEX.parseHex(v.get("private_key_seed_hex").asText());
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
                byte[] input =
                    ClaimSigner.signingInput(value, key, eventType.getBytes(StandardCharsets.UTF_8));
                assertEquals(
                    v.get("signing_input_sha256_hex").asText(),
                    HEX.formatHex(MessageDigest.getInstance("SHA-256").digest(input)));
                ClaimSigner signer = ClaimSigner.fromSeed(agency, keyId, seed);
                assertEquals(
                    v.get("signature_header").asText(),
                    signer.signatureHeader(value, key, eventType));
              }));
    }
    assertTrue(tests.size() >= 2, "at least two vectors");
    return tests;
  }

  @Test
  void aClaimIsSignedOverItsExactBytesWithItsHeaders() throws Exception {
    JsonNode first = vectors().get(0);
    ClaimSigner signer =
        ClaimSigner.fromSeed(
            first.get("agency_id").asText(),
            first.get("key_id").asText(),
            HEX.parseHex(first.get("private_key_seed_hex").asText()));
    Claim claim =
        Claim.of(
            "ProposalWithdrawn",
            signer.agencyId(),
            "PKT-2565-0001",
            Claim.payloadOf("{\"applicant\": \"lg-phuket-city\", \"reason\": null}"));
    SignedRecord record = signer.sign(claim);
    assertEquals("PKT-2565-0001", new String(record.key(), StandardCharsets.UTF_8));
    assertEquals("ProposalWithdrawn", record.headers().get(Claim.HEADER_EVENT_TYPE));
    assertEquals(claim.eventId().toString(), record.headers().get(Claim.HEADER_EVENT_ID));
    assertEquals(
        signer.signatureHeader(record.value(), record.key(), "ProposalWithdrawn"),
        record.headers().get(Claim.HEADER_SIGNATURE));
    JsonNode envelope = new ObjectMapper().readTree(record.value());
    assertEquals("ProposalWithdrawn", envelope.get("payload").get("event_type").asText());
    assertEquals(signer.agencyId(), envelope.get("producer").asText());
  }
}
