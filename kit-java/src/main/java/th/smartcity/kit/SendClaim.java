package th.smartcity.kit;

import java.nio.file.Path;

/**
 * Sign and send one claim from the command line, as an agency system would:
 *
 * <pre>
 * java -cp smartcity-th-kit.jar:... th.smartcity.kit.SendClaim AGENCY KEY_ID KEY.pem TOPIC \
 *     PROPOSAL_ID EVENT_TYPE 'PAYLOAD_JSON'
 * </pre>
 *
 * The connection comes from the SMARTCITY_KIT_* environment variables (KafkaConnection.fromEnv);
 * the claim is signed (version 2) for TOPIC at the moment it is sent.
 * Prints the claim's event id as JSON.
 */
public final class SendClaim {
  private SendClaim() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 7) {
      System.err.println(
          "usage: SendClaim AGENCY KEY_ID KEY.pem TOPIC PROPOSAL_ID EVENT_TYPE PAYLOAD_JSON");
      System.exit(2);
    }
    ClaimSigner signer = ClaimSigner.fromPem(args[0], args[1], Path.of(args[2]));
    Claim claim = Claim.of(args[5], signer.agencyId(), args[4], Claim.payloadOf(args[6]));
    try (IntakeProducer intake =
        new IntakeProducer(KafkaConnection.fromEnv(System.getenv()), args[3])) {
      intake.send(signer, claim);
    }
    System.out.println("{\"event_id\": \"" + claim.eventId() + "\"}");
  }
}
