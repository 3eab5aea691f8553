package dev.omnibus.interop;

import java.math.BigDecimal;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;

/**
 * A Java service that reads and writes omnibus events with the plain Kafka or RabbitMQ client (chosen by the
 * scheme of {@code BROKER_URL}: {@code kafka://host:9092} or {@code amqp://user:pass@host:5672/vhost}).
 *
 * <pre>
 *   consume TOPIC COUNT [PARTITIONS]   read COUNT events omnibus published, one JSON line each
 *   produce TOPIC TYPE KEY [PARTITIONS] publish one OrderPlaced event the plain way, and print what was sent
 * </pre>
 *
 * PARTITIONS is the topic's partition count on RabbitMQ (omnibus's {@code partitions}, 4 by default); Kafka
 * reads it from the topic. Each command first prints {@code {"ready":true}} once it is subscribed or
 * connected.
 */
public final class Main {
  static final String SOURCE = "urn:example:java-service";

  public static void main(String[] args) throws Exception {
    String url = System.getenv("BROKER_URL");
    if (url == null || args.length < 2) {
      System.err.println("usage: BROKER_URL=kafka://…|amqp://… java … consume TOPIC COUNT [PARTITIONS|hash]");
      System.err.println("                                        produce TOPIC TYPE KEY [PARTITIONS|hash]");
      System.exit(2);
    }
    // Never echo the URL: it may carry credentials.
    String scheme = url.contains("://") ? url.substring(0, url.indexOf("://")) : "";
    boolean kafka = scheme.equals("kafka");
    if (!kafka && !scheme.startsWith("amqp")) {
      throw new IllegalArgumentException("BROKER_URL: kafka:// or amqp://");
    }
    String topic = args[1];
    switch (args[0]) {
      case "consume" -> {
        int count = Integer.parseInt(args[2]);
        if (kafka) KafkaService.consume(url, topic, count);
        else RabbitMqService.consume(url, topic, count, partitions(args, 3));
      }
      case "produce" -> {
        String key = args[3];
        Map<String, String> attributes = new LinkedHashMap<>();
        attributes.put("id", UUID.randomUUID().toString());
        attributes.put("source", SOURCE);
        attributes.put("specversion", "1.0");
        attributes.put("type", args[2]);
        attributes.put("time", Wire.RFC3339.format(Instant.now().truncatedTo(ChronoUnit.MILLIS)));
        GenericRecord order = sampleOrder(key);
        if (kafka) KafkaService.produce(url, topic, key, attributes, order);
        else RabbitMqService.produce(url, topic, key, attributes, order, partitions(args, 4));
      }
      default -> throw new IllegalArgumentException("unknown command " + args[0]);
    }
  }

  /** The event this service publishes: a long beyond 2^53, a decimal, a timestamp and the optional note. */
  static GenericRecord sampleOrder(String orderId) {
    GenericRecord order = new GenericData.Record(Wire.ORDER_PLACED);
    order.put("orderId", orderId);
    order.put("quantity", 9_007_199_254_740_993L);
    order.put("total", new BigDecimal("1234.50"));
    order.put("placedAt", Instant.parse("2026-12-05T10:11:12.345Z"));
    order.put("note", "gift wrap");
    return order;
  }

  /** A partition count, or `hash` for a topic in the adapter's routing=hash mode. */
  private static int partitions(String[] args, int at) {
    if (args.length <= at) return 4;
    return args[at].equals("hash") ? Wire.HASH_ROUTING : Integer.parseInt(args[at]);
  }
}
