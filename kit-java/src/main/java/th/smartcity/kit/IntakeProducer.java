package th.smartcity.kit;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Produces signed claims to the intake topic (idempotent producer, acks=all). {@link
 * #send(ClaimSigner, Claim)} signs the claim for this producer's topic at the moment it sends it,
 * so a claim an application sends again after an outage carries a fresh signed-at time; the
 * client's own retries of one send (within delivery.timeout.ms, 120 s by default) resend the same
 * bytes, well within the services' maximum claim age.
 */
public final class IntakeProducer implements AutoCloseable {
  public static final String INTAKE = "smartcity.intake";

  private final String topic;
  private final KafkaProducer<byte[], byte[]> producer;

  public IntakeProducer(KafkaConnection connection, String topic) {
    this.topic = topic;
    Properties props = connection.clientProperties();
    props.put("enable.idempotence", "true");
    props.put("acks", "all");
    props.put("client.id", "smartcity-kit-java");
    this.producer =
        new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer());
  }

  public IntakeProducer(KafkaConnection connection) {
    this(connection, INTAKE);
  }

  /** The topic this producer sends to (what the claims it signs are signed for). */
  public String topic() {
    return topic;
  }

  /**
   * Sign a claim now for this producer's topic, send it and wait until the broker has it (all
   * in-sync replicas); returns the record as sent.
   */
  public SignedRecord send(ClaimSigner signer, Claim claim)
      throws GeneralSecurityException, InterruptedException, ExecutionException {
    SignedRecord record = signer.sign(claim, topic);
    send(record);
    return record;
  }

  /**
   * Send one record exactly as it is (signed beforehand, for this topic) and wait until the
   * broker has it (all in-sync replicas).
   */
  public RecordMetadata send(SignedRecord record) throws InterruptedException, ExecutionException {
    ProducerRecord<byte[], byte[]> out = new ProducerRecord<>(topic, record.key(), record.value());
    record
        .headers()
        .forEach((name, value) -> out.headers().add(name, value.getBytes(StandardCharsets.UTF_8)));
    return producer.send(out).get();
  }

  @Override
  public void close() {
    producer.close();
  }
}
