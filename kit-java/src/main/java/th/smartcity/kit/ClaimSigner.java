package th.smartcity.kit;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.spec.EdECPrivateKeySpec;
import java.security.spec.NamedParameterSpec;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Signs an agency's claims with its Ed25519 key (the JDK's own provider), exactly as
 * docs/events.md, "Signed claims", specifies for signature version 2: the signature covers the
 * domain line, then the topic (with the deployment's namespace), the signed-at header, the record
 * key, the event-type header and the value, each preceded by its length (4 bytes, big-endian).
 * Version 1 (without topic and time) is deprecated: {@link #signingInputV1} and {@link
 * #signatureHeaderV1} remain to check the shared test vectors.
 */
public final class ClaimSigner {
  /** The signature version this kit signs (not the envelope's schema version). */
  public static final int SIGNATURE_VERSION = 2;

  /** The first bytes of every version 2 signing input: the scheme and its version. */
  public static final byte[] DOMAIN = "smartcity-claim-v2\n".getBytes(StandardCharsets.US_ASCII);

  /** The first bytes of a version 1 signing input (deprecated). */
  public static final byte[] DOMAIN_V1 = "smartcity-claim-v1\n".getBytes(StandardCharsets.US_ASCII);

  private static final DateTimeFormatter SIGNED_AT =
      DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

  private final String agencyId;
  private final String keyId;
  private final PrivateKey privateKey;

  private ClaimSigner(String agencyId, String keyId, PrivateKey privateKey) {
    this.agencyId = agencyId;
    this.keyId = keyId;
    this.privateKey = privateKey;
  }

  /**
   * A signer from the PKCS#8 PEM file that `smartcity-admin signing-key add` (or `onboard`)
   * wrote, with the key id it printed.
   */
  public static ClaimSigner fromPem(String agencyId, String keyId, Path pem)
      throws IOException, GeneralSecurityException {
    String text = Files.readString(pem, StandardCharsets.US_ASCII);
    String body =
        text.replace("-----BEGIN PRIVATE KEY-----", "")
            .replace("-----END PRIVATE KEY-----", "")
            .replaceAll("\\s", "");
    PrivateKey key =
        KeyFactory.getInstance("Ed25519")
            .generatePrivate(new PKCS8EncodedKeySpec(Base64.getDecoder().decode(body)));
    return new ClaimSigner(agencyId, keyId, key);
  }

  /** A signer from the key's 32-byte seed (the raw private key). */
  public static ClaimSigner fromSeed(String agencyId, String keyId, byte[] seed)
      throws GeneralSecurityException {
    PrivateKey key =
        KeyFactory.getInstance("Ed25519")
            .generatePrivate(new EdECPrivateKeySpec(NamedParameterSpec.ED25519, seed));
    return new ClaimSigner(agencyId, keyId, key);
  }

  /** A key's id: its agency and the first 16 hex digits of SHA-256 of the raw public key. */
  public static String keyIdFor(String agencyId, byte[] rawPublicKey) {
    try {
      byte[] digest = MessageDigest.getInstance("SHA-256").digest(rawPublicKey);
      return agencyId + ":" + HexFormat.of().formatHex(digest).substring(0, 16);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("SHA-256 is missing from this JDK", e);
    }
  }

  /** The signed-at header's value for an instant: UTC, to the millisecond, with a Z. */
  public static String formatSignedAt(Instant at) {
    return SIGNED_AT.format(at.truncatedTo(ChronoUnit.MILLIS));
  }

  /** The bytes that are signed in version 2 (a missing key counts as empty). */
  public static byte[] signingInput(
      byte[] topic, byte[] signedAt, byte[] value, byte[] key, byte[] eventType) {
    return lengthPrefixed(
        DOMAIN, topic, signedAt, key == null ? new byte[0] : key, eventType, value);
  }

  /** The bytes version 1 signed (deprecated; a missing key counts as empty). */
  public static byte[] signingInputV1(byte[] value, byte[] key, byte[] eventType) {
    return lengthPrefixed(DOMAIN_V1, key == null ? new byte[0] : key, eventType, value);
  }

  private static byte[] lengthPrefixed(byte[] domain, byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(domain);
    for (byte[] part : parts) {
      out.writeBytes(ByteBuffer.allocate(4).putInt(part.length).array());
      out.writeBytes(part);
    }
    return out.toByteArray();
  }

  private String signed(byte[] input) throws GeneralSecurityException {
    Signature ed25519 = Signature.getInstance("Ed25519");
    ed25519.initSign(privateKey);
    ed25519.update(input);
    return Base64.getEncoder().encodeToString(ed25519.sign());
  }

  /**
   * The `smartcity-signature` header (version 2) for a record produced to {@code topic} with the
   * `smartcity-signed-at` header {@code signedAt}: `v=2;keyid=<key id>;ed25519=<base64>`.
   */
  public String signatureHeader(
      String topic, String signedAt, byte[] value, byte[] key, String eventType)
      throws GeneralSecurityException {
    byte[] input =
        signingInput(
            topic.getBytes(StandardCharsets.UTF_8),
            signedAt.getBytes(StandardCharsets.US_ASCII),
            value,
            key,
            eventType.getBytes(StandardCharsets.UTF_8));
    return "v=" + SIGNATURE_VERSION + ";keyid=" + keyId + ";ed25519=" + signed(input);
  }

  /** The version 1 header, `keyid=<key id>;ed25519=<base64>` (deprecated). */
  public String signatureHeaderV1(byte[] value, byte[] key, String eventType)
      throws GeneralSecurityException {
    byte[] input = signingInputV1(value, key, eventType.getBytes(StandardCharsets.UTF_8));
    return "keyid=" + keyId + ";ed25519=" + signed(input);
  }

  /**
   * Sign a claim's envelope as it will be sent to {@code topic} (with the deployment's namespace,
   * if any) at {@code signedAt}: its exact bytes, key and headers, plus `smartcity-signed-at` and
   * `smartcity-signature`.
   */
  public SignedRecord sign(Claim claim, String topic, Instant signedAt)
      throws GeneralSecurityException {
    byte[] value = claim.toBytes();
    byte[] key = claim.proposalId().getBytes(StandardCharsets.UTF_8);
    String at = formatSignedAt(signedAt);
    Map<String, String> headers = new LinkedHashMap<>(claim.headers());
    headers.put(Claim.HEADER_SIGNED_AT, at);
    headers.put(Claim.HEADER_SIGNATURE, signatureHeader(topic, at, value, key, claim.eventType()));
    return new SignedRecord(value, key, headers);
  }

  /** Sign a claim for {@code topic} now. */
  public SignedRecord sign(Claim claim, String topic) throws GeneralSecurityException {
    return sign(claim, topic, Instant.now());
  }

  public String agencyId() {
    return agencyId;
  }

  public String keyId() {
    return keyId;
  }
}
