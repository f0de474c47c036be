package th.smartcity.kit;

import java.util.Map;
import java.util.Properties;

/**
 * How to reach the broker: bootstrap servers and the agency's SASL/SCRAM credentials (from
 * `smartcity-admin kafka-credentials AGENCY --json`).
 */
public record KafkaConnection(
    String bootstrap,
    String securityProtocol,
    String saslMechanism,
    String username,
    String password,
    String sslCaFile) {

  /**
   * From the environment, as the Python kit reads it: SMARTCITY_KIT_BOOTSTRAP,
   * SMARTCITY_KIT_SECURITY_PROTOCOL (default PLAINTEXT), SMARTCITY_KIT_SASL_MECHANISM,
   * SMARTCITY_KIT_USERNAME, SMARTCITY_KIT_PASSWORD, SMARTCITY_KIT_SSL_CAFILE.
   */
  public static KafkaConnection fromEnv(Map<String, String> env) {
    String bootstrap = env.get("SMARTCITY_KIT_BOOTSTRAP");
    if (bootstrap == null || bootstrap.isBlank()) {
      throw new IllegalArgumentException("SMARTCITY_KIT_BOOTSTRAP is not set");
    }
    return new KafkaConnection(
        bootstrap,
        env.getOrDefault("SMARTCITY_KIT_SECURITY_PROTOCOL", "PLAINTEXT"),
        env.get("SMARTCITY_KIT_SASL_MECHANISM"),
        env.get("SMARTCITY_KIT_USERNAME"),
        env.get("SMARTCITY_KIT_PASSWORD"),
        env.get("SMARTCITY_KIT_SSL_CAFILE"));
  }

  /** kafka-clients properties for this connection. */
  public Properties clientProperties() {
    Properties props = new Properties();
    props.put("bootstrap.servers", bootstrap);
    props.put("security.protocol", securityProtocol);
    if (securityProtocol.startsWith("SASL")) {
      props.put("sasl.mechanism", saslMechanism == null ? "SCRAM-SHA-512" : saslMechanism);
      props.put(
          "sasl.jaas.config",
          "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
              + quoted(username)
              + "\" password=\""
              + quoted(password)
              + "\";");
    }
    if (sslCaFile != null && !sslCaFile.isBlank()) {
      props.put("ssl.truststore.type", "PEM");
      props.put("ssl.truststore.location", sslCaFile);
    }
    return props;
  }

  private static String quoted(String text) {
    if (text == null) {
      throw new IllegalArgumentException("SASL needs a username and a password");
    }
    return text.replace("\\", "\\\\").replace("\"", "\\\"");
  }
}
