package th.smartcity.kit;

import java.nio.charset.StandardCharsets;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/** Produces signed claims to the intake topic (idempotent producer, acks=all). */
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

  /** Send one signed claim and wait until the broker has it (all in-sync replicas). */
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
