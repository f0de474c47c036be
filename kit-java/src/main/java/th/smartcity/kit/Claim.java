package th.smartcity.kit;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;

/**
 * A claim: the event envelope every record carries (docs/events.md, "The envelope"), with the
 * payload as JSON. The payload's shape per event type is in docs/schemas/; the owning service
 * validates it and answers a refusal on the proposals or decisions topic.
 */
public final class Claim {
  public static final int SCHEMA_VERSION = 2;
  public static final String HEADER_EVENT_TYPE = "smartcity-event-type";
  public static final String HEADER_EVENT_ID = "smartcity-event-id";
  public static final String HEADER_SCHEMA_VERSION = "smartcity-schema-version";
  public static final String HEADER_PRODUCER = "smartcity-producer";
  public static final String HEADER_CORRELATION_ID = "smartcity-correlation-id";
  public static final String HEADER_CONTENT_TYPE = "content-type";
  public static final String HEADER_SIGNATURE = "smartcity-signature";
  public static final String HEADER_SIGNED_AT = "smartcity-signed-at";

  private static final ObjectMapper JSON = new ObjectMapper();

  private final UUID eventId;
  private final String eventType;
  private final Instant occurredAt;
  private final String producer;
  private final String proposalId;
  private final UUID correlationId;
  private final JsonNode payload;

  private Claim(
      UUID eventId,
      String eventType,
      Instant occurredAt,
      String producer,
      String proposalId,
      UUID correlationId,
      JsonNode payload) {
    this.eventId = eventId;
    this.eventType = eventType;
    this.occurredAt = occurredAt;
    this.producer = producer;
    this.proposalId = proposalId;
    this.correlationId = correlationId;
    this.payload = payload;
  }

  /**
   * A new claim by `producer` about `proposalId`: a fresh event id, now as its time, and a new
   * correlation id (the start of a conversation). `payload` is the event's payload object; its
   * `event_type` is set to `eventType`.
   */
  public static Claim of(String eventType, String producer, String proposalId, JsonNode payload) {
    if (!payload.isObject()) {
      throw new IllegalArgumentException("a payload is a JSON object, not " + payload.getNodeType());
    }
    return new Claim(
        UUID.randomUUID(),
        eventType,
        Instant.now().truncatedTo(ChronoUnit.MICROS),
        producer,
        proposalId,
        UUID.randomUUID(),
        payload);
  }

  /** The payload from its JSON text. */
  public static JsonNode payloadOf(String json) throws JsonProcessingException {
    return JSON.readTree(json);
  }

  /** The envelope as UTF-8 JSON: the bytes that are signed and sent. */
  public byte[] toBytes() {
    ObjectNode envelope = JSON.createObjectNode();
    envelope.put("event_id", eventId.toString());
    envelope.put("event_type", eventType);
    envelope.put("schema_version", SCHEMA_VERSION);
    envelope.put("occurred_at", occurredAt.toString());
    envelope.put("producer", producer);
    envelope.put("proposal_id", proposalId);
    envelope.put("correlation_id", correlationId.toString());
    envelope.putNull("causation_id");
    ObjectNode body = payload.deepCopy();
    body.put("event_type", eventType);
    envelope.set("payload", body);
    try {
      return JSON.writeValueAsString(envelope).getBytes(StandardCharsets.UTF_8);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("an envelope always serialises", e);
    }
  }

  /** The headers that repeat the envelope (the signer adds the signature). */
  public Map<String, String> headers() {
    Map<String, String> headers = new LinkedHashMap<>();
    headers.put(HEADER_EVENT_TYPE, eventType);
    headers.put(HEADER_EVENT_ID, eventId.toString());
    headers.put(HEADER_SCHEMA_VERSION, Integer.toString(SCHEMA_VERSION));
    headers.put(HEADER_PRODUCER, producer);
    headers.put(HEADER_CORRELATION_ID, correlationId.toString());
    headers.put(HEADER_CONTENT_TYPE, "application/json");
    return headers;
  }

  public UUID eventId() {
    return eventId;
  }

  public String eventType() {
    return eventType;
  }

  public String proposalId() {
    return proposalId;
  }
}
