package dev.omnibus.interop;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import org.apache.avro.generic.GenericRecord;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Utils;

/**
 * Kafka, CloudEvents Kafka binding in binary content mode: attributes are headers {@code ce_<name>}, the
 * content type is the {@code content-type} header, the record key is the event key.
 */
final class KafkaService {
  private KafkaService() {}

  static void consume(String url, String topic, int count) {
    String group = "java-reader-" + UUID.randomUUID();
    Properties config = connection(url);
    // A group of its own: an omnibus group uses omnibus's assignor, which a plain consumer must not join.
    config.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    // Closed before the finally block runs: the group is empty when it is deleted.
    try (KafkaConsumer<String, byte[]> consumer =
        new KafkaConsumer<>(config, new StringDeserializer(), new ByteArrayDeserializer())) {
      consumer.subscribe(List.of(topic), new ReadyOnAssignment());
      int read = 0;
      for (long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos(); read < count; ) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException(read + " of " + count + " events in 60 s");
        }
        for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(200))) {
          Headers headers = record.headers();
          String writerSchema = text(headers.lastHeader("ce_omnibusschema"));
          GenericRecord event = Wire.decode(record.value(), writerSchema);
          Map<String, Object> line = new LinkedHashMap<>();
          line.put("key", record.key());
          line.put("partition", record.partition());
          // Where Java's default partitioner puts this key: the same partition omnibus chose.
          int partitions = consumer.partitionsFor(topic).size();
          byte[] key = record.key().getBytes(StandardCharsets.UTF_8);
          line.put("javaPartition", Utils.toPositive(Utils.murmur2(key)) % partitions);
          line.put("contentType", text(headers.lastHeader("content-type")));
          line.put("attributes", attributes(headers));
          // Decoded with the embedded writer schema, its fingerprint checked against the body's.
          line.put("embeddedWriterSchema", writerSchema != null);
          line.put("fingerprint", Wire.fingerprintOf(record.value()));
          line.put("event", Wire.toJson(event));
          Wire.print(line);
          read++;
        }
      }
    } finally {
      // The group is this run's alone: delete it (its committed offsets) once its consumer has left.
      try (Admin admin = Admin.create(connection(url))) {
        admin.deleteConsumerGroups(List.of(group)).all().get();
      } catch (Exception e) {
        System.err.println("cannot delete consumer group " + group + ": " + e);
      }
    }
  }

  static void produce(
      String url, String topic, String key, Map<String, String> attributes, GenericRecord event)
      throws Exception {
    Properties config = connection(url);
    config.put(ProducerConfig.ACKS_CONFIG, "all");
    try (KafkaProducer<String, byte[]> producer =
        new KafkaProducer<>(config, new StringSerializer(), new ByteArraySerializer())) {
      Wire.print(Map.of("ready", true));
      // No partition given: the default partitioner hashes the key with murmur2, as omnibus does.
      ProducerRecord<String, byte[]> record = new ProducerRecord<>(topic, key, Wire.encode(event));
      attributes.forEach((name, value) -> record.headers().add("ce_" + name, utf8(value)));
      record.headers().add("content-type", utf8(Wire.CONTENT_TYPE));
      RecordMetadata sent = producer.send(record).get();
      Map<String, Object> line = new LinkedHashMap<>();
      line.put("key", key);
      line.put("partition", sent.partition());
      line.put("attributes", attributes);
      line.put("event", Wire.toJson(event));
      Wire.print(Map.of("sent", line));
    }
  }

  /** {@code kafka://host1:9092,host2:9092?…} → bootstrap servers (this example speaks plaintext only). */
  private static Properties connection(String url) {
    Properties config = new Properties();
    String authority = url.substring(url.indexOf("://") + 3).replaceFirst("[/?].*$", "");
    config.put("bootstrap.servers", authority.replaceFirst("^.*@", ""));
    config.put("client.id", "omnibus-interop-java");
    return config;
  }

  private static Map<String, String> attributes(Headers headers) {
    Map<String, String> out = new LinkedHashMap<>();
    for (Header header : headers) {
      if (header.key().startsWith("ce_") && !header.key().equals("ce_omnibusschema")) {
        out.put(header.key().substring(3), text(header));
      }
    }
    return out;
  }

  private static String text(Header header) {
    return header == null ? null : new String(header.value(), StandardCharsets.UTF_8);
  }

  private static byte[] utf8(String value) {
    return value.getBytes(StandardCharsets.UTF_8);
  }

  /** Prints the ready line once the group has handed this consumer its partitions. */
  private static final class ReadyOnAssignment implements ConsumerRebalanceListener {
    private boolean ready;

    @Override
    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
      if (!ready && !partitions.isEmpty()) {
        ready = true;
        Wire.print(Map.of("ready", true));
      }
    }

    @Override
    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {}
  }
}
