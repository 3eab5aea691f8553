package dev.omnibus.interop;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.GetResponse;
import java.time.Instant;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.avro.generic.GenericRecord;

/**
 * RabbitMQ, CloudEvents AMQP binding in binary content mode: attributes are application properties
 * {@code cloudEvents_<name>} (omnibus also reads the binding's {@code cloudEvents:<name>}), the content
 * type is the {@code content_type} property, the event key is {@code cloudEvents_partitionkey}. Topic T is
 * a direct exchange T; omnibus binds each group's partition queue p to routing key "p".
 */
final class RabbitMqService {
  private static final String PREFIX = "cloudEvents_";
  private static final String KEY = PREFIX + "partitionkey";

  private RabbitMqService() {}

  static void consume(String url, String topic, int count, int partitions) throws Exception {
    try (Connection connection = connect(url); Channel channel = connection.createChannel()) {
      // The same declaration omnibus makes (durable; direct, or fanout with routing=hash): whoever comes
      // first creates it.
      boolean hash = partitions == Wire.HASH_ROUTING;
      channel.exchangeDeclare(topic, hash ? "fanout" : "direct", true);
      // A queue of this service's own (server-named, exclusive: gone when it disconnects), bound to every
      // partition's routing key (a fanout exchange ignores the key). The group queues of omnibus are not
      // for plain consumers.
      String queue = channel.queueDeclare().getQueue();
      if (hash) channel.queueBind(queue, topic, "");
      for (int p = 0; p < partitions; p++) channel.queueBind(queue, topic, Integer.toString(p));
      BlockingQueue<GetResponse> deliveries = new LinkedBlockingQueue<>();
      channel.basicConsume(
          queue,
          true,
          (tag, delivery) ->
              deliveries.add(
                  new GetResponse(delivery.getEnvelope(), delivery.getProperties(), delivery.getBody(), 0)),
          tag -> {});
      Wire.print(Map.of("ready", true));
      for (int read = 0; read < count; read++) {
        GetResponse delivery = deliveries.poll(60, TimeUnit.SECONDS);
        if (delivery == null) {
          throw new IllegalStateException(read + " of " + count + " events, then none for 60 s");
        }
        Map<String, Object> headers = delivery.getProps().getHeaders();
        String writerSchema = text(headers.get(PREFIX + "omnibusschema"));
        GenericRecord event = Wire.decode(delivery.getBody(), writerSchema);
        String key = text(headers.get(KEY));
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("key", key);
        line.put("routingKey", delivery.getEnvelope().getRoutingKey());
        line.put("javaRoutingKey", Wire.routingKey(key, partitions));
        line.put("contentType", delivery.getProps().getContentType());
        line.put("attributes", attributes(headers));
        // Decoded with the embedded writer schema, its fingerprint checked against the body's.
        line.put("embeddedWriterSchema", writerSchema != null);
        line.put("fingerprint", Wire.fingerprintOf(delivery.getBody()));
        line.put("event", Wire.toJson(event));
        Wire.print(line);
      }
    }
  }

  static void produce(
      String url,
      String topic,
      String key,
      Map<String, String> attributes,
      GenericRecord event,
      int partitions)
      throws Exception {
    try (Connection connection = connect(url); Channel channel = connection.createChannel()) {
      Wire.print(Map.of("ready", true));
      channel.confirmSelect();
      // Published `mandatory`: a routing key no queue is bound to comes back instead of vanishing.
      AtomicBoolean returned = new AtomicBoolean();
      channel.addReturnListener(message -> returned.set(true));
      Map<String, Object> headers = new LinkedHashMap<>();
      attributes.forEach((name, value) -> headers.put(PREFIX + name, value));
      headers.put(KEY, key);
      AMQP.BasicProperties properties =
          new AMQP.BasicProperties.Builder()
              .contentType(Wire.CONTENT_TYPE)
              .deliveryMode(2)
              .messageId(attributes.get("id"))
              .type(attributes.get("type"))
              .timestamp(Date.from(Instant.parse(attributes.get("time"))))
              .headers(headers)
              .build();
      String routingKey = Wire.routingKey(key, partitions);
      channel.basicPublish(topic, routingKey, true, properties, Wire.encode(event));
      channel.waitForConfirmsOrDie(10_000);
      if (returned.get()) {
        throw new IllegalStateException("routing key " + routingKey + " reached no queue of " + topic);
      }
      Map<String, Object> line = new LinkedHashMap<>();
      line.put("key", key);
      line.put("routingKey", routingKey);
      line.put("attributes", attributes);
      line.put("event", Wire.toJson(event));
      Wire.print(Map.of("sent", line));
    }
  }

  private static Connection connect(String url) throws Exception {
    ConnectionFactory factory = new ConnectionFactory();
    try {
      factory.setUri(url.replaceFirst("\\?.*$", ""));
    } catch (Exception e) {
      // Not e's message: it quotes the URL, credentials included.
      throw new IllegalArgumentException("BROKER_URL is not an amqp:// or amqps:// URL");
    }
    return factory.newConnection("omnibus-interop-java");
  }

  private static Map<String, String> attributes(Map<String, Object> headers) {
    Map<String, String> out = new LinkedHashMap<>();
    headers.forEach(
        (name, value) -> {
          if (name.startsWith(PREFIX) && !name.equals(KEY) && !name.equals(PREFIX + "omnibusschema")) {
            out.put(name.substring(PREFIX.length()), text(value));
          }
        });
    return out;
  }

  /** AMQP strings arrive as LongString; an AMQP timestamp as Date (the binding allows either for time). */
  private static String text(Object value) {
    if (value == null) return null;
    if (value instanceof Date date) return Wire.RFC3339.format(date.toInstant());
    return value.toString();
  }
}
