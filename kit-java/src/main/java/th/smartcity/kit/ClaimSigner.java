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
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Signs an agency's claims with its Ed25519 key (the JDK's own provider), exactly as
 * docs/events.md, "Signed claims", specifies: the signature covers the domain line, then the
 * record key, the event-type header and the value, each preceded by its length (4 bytes,
 * big-endian).
 */
public final class ClaimSigner {
  /** The first bytes of every signing input: the scheme and its version. */
  public static final byte[] DOMAIN = "smartcity-claim-v1\n".getBytes(StandardCharsets.US_ASCII);

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

  /** The bytes that are signed (a missing key counts as empty). */
  public static byte[] signingInput(byte[] value, byte[] key, byte[] eventType) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(DOMAIN);
    for (byte[] part : new byte[][] {key == null ? new byte[0] : key, eventType, value}) {
      out.writeBytes(ByteBuffer.allocate(4).putInt(part.length).array());
      out.writeBytes(part);
    }
    return out.toByteArray();
  }

  /** The `smartcity-signature` header for a record: `keyid=<key id>;ed25519=<base64>`. */
  public String signatureHeader(byte[] value, byte[] key, String eventType)
      throws GeneralSecurityException {
    Signature ed25519 = Signature.getInstance("Ed25519");
    ed25519.initSign(privateKey);
    ed25519.update(signingInput(value, key, eventType.getBytes(StandardCharsets.UTF_8)));
    return "keyid=" + keyId + ";ed25519=" + Base64.getEncoder().encodeToString(ed25519.sign());
  }

  /** Sign a claim's envelope as it will be sent: its exact bytes, key and headers. */
  public SignedRecord sign(Claim claim) throws GeneralSecurityException {
    byte[] value = claim.toBytes();
    byte[] key = claim.proposalId().getBytes(StandardCharsets.UTF_8);
    Map<String, String> headers = new LinkedHashMap<>(claim.headers());
    headers.put(Claim.HEADER_SIGNATURE, signatureHeader(value, key, claim.eventType()));
    return new SignedRecord(value, key, headers);
  }

  public String agencyId() {
    return agencyId;
  }

  public String keyId() {
    return keyId;
  }
}
