package th.smartcity.kit;

import java.util.Map;

/** A claim as it goes on the wire: value, key and headers (the signature among them). */
public record SignedRecord(byte[] value, byte[] key, Map<String, String> headers) {
  public SignedRecord {
    headers = Map.copyOf(headers);
  }
}
