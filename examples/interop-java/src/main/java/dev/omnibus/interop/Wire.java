package dev.omnibus.interop;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.avro.Conversions;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.data.TimeConversions;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;

/**
 * The omnibus wire format, written with Apache Avro and nothing from omnibus (README: "Reading and writing
 * omnibus events without omnibus"): the body is Avro single-object encoding ({@code C3 01}, the writer
 * schema's CRC-64-AVRO fingerprint in 8 little-endian bytes, the Avro binary body); the CloudEvents 1.0
 * attributes travel beside it, named per broker binding by the caller.
 */
final class Wire {
  static final ObjectMapper JSON = new ObjectMapper();
  static final String CONTENT_TYPE = "application/avro";
  /** This service's own copy of the contract's schema (src/main/resources/OrderPlaced.avsc). */
  static final Schema ORDER_PLACED = loadSchema("/OrderPlaced.avsc");

  /** RFC 3339 with milliseconds, UTC: what omnibus writes as {@code time} and reads back exactly. */
  static final DateTimeFormatter RFC3339 =
      DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

  /** Generic records with decimals as BigDecimal and timestamp-millis as Instant. */
  static final GenericData MODEL = new GenericData();

  static {
    MODEL.addLogicalTypeConversion(new Conversions.DecimalConversion());
    MODEL.addLogicalTypeConversion(new TimeConversions.TimestampMillisConversion());
  }

  private Wire() {}

  /**
   * Decodes an omnibus body. {@code writerSchemaJson} is the {@code omnibusschema} attribute (may be null:
   * then the writer must be this service's own schema). The embedded schema is trusted only when the
   * CRC-64-AVRO fingerprint of its parsing canonical form is the one the body carries.
   */
  static GenericRecord decode(byte[] body, String writerSchemaJson) {
    if (body.length < 10 || (body[0] & 0xff) != 0xc3 || (body[1] & 0xff) != 0x01) {
      throw new IllegalStateException("not Avro single-object encoding (no C3 01 header)");
    }
    long fingerprint = ByteBuffer.wrap(body, 2, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    BinaryMessageDecoder<GenericRecord> decoder = new BinaryMessageDecoder<>(MODEL, ORDER_PLACED);
    if (writerSchemaJson != null) {
      Schema writer = new Schema.Parser().parse(writerSchemaJson);
      long embedded = SchemaNormalization.parsingFingerprint64(writer);
      if (embedded != fingerprint) {
        throw new IllegalStateException(
            "the embedded writer schema's fingerprint "
                + hex(embedded)
                + " is not the body's "
                + hex(fingerprint));
      }
      // Avro resolves the writer's record into this service's reader schema.
      decoder.addSchema(writer);
    }
    try {
      return decoder.decode(body);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Avro single-object encoding of {@code record} with Avro's own encoder. */
  static byte[] encode(GenericRecord record) {
    try {
      ByteBuffer buffer = new BinaryMessageEncoder<GenericRecord>(MODEL, record.getSchema()).encode(record);
      byte[] bytes = new byte[buffer.remaining()];
      buffer.get(bytes);
      return bytes;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The fingerprint as it appears on the wire (8 bytes little-endian), in hex. */
  static String hex(long fingerprint) {
    byte[] bytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(fingerprint).array();
    return HexFormat.of().formatHex(bytes);
  }

  static String fingerprintOf(byte[] body) {
    return HexFormat.of().formatHex(body, 2, 10);
  }

  /** The partition count given as `hash`: the topic uses the adapter's routing=hash mode. */
  static final int HASH_ROUTING = 0;

  /**
   * RabbitMQ routing key of an event key: FNV-1a (32 bit) over the key's UTF-8 bytes, unsigned, modulo the
   * topic's partition count — the partition queue omnibus binds to that routing key. (One place to change
   * when the routing changes.)
   */
  static String routingKey(String key, int partitions) {
    // routing=hash: the broker's consistent-hash exchange hashes the key itself (keys up to 255 bytes).
    if (partitions == HASH_ROUTING) return key;
    int hash = 0x811c9dc5;
    for (byte b : key.getBytes(StandardCharsets.UTF_8)) {
      hash ^= b & 0xff;
      hash *= 0x01000193;
    }
    return Long.toString(Integer.toUnsignedLong(hash) % partitions);
  }

  /** A record as JSON-ready values: longs and decimals as exact strings, timestamps in RFC 3339. */
  static Map<String, Object> toJson(GenericRecord record) {
    Map<String, Object> out = new LinkedHashMap<>();
    for (Schema.Field field : record.getSchema().getFields()) {
      Object value = record.get(field.pos());
      if (value instanceof Long) value = value.toString();
      else if (value instanceof BigDecimal decimal) value = decimal.toPlainString();
      else if (value instanceof Instant instant) value = RFC3339.format(instant);
      else if (value instanceof CharSequence text) value = text.toString();
      out.put(field.name(), value);
    }
    return out;
  }

  static void print(Map<String, Object> line) {
    try {
      System.out.println(JSON.writeValueAsString(line));
      System.out.flush();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static Schema loadSchema(String resource) {
    try (InputStream in = Wire.class.getResourceAsStream(resource)) {
      return new Schema.Parser().parse(in);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
