import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.util.HexFormat;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;

/**
 * Apache Avro (Java) on one side of omnibus's long test. The schema is the first argument; stdin has one
 * line per value: `encode <decimal long>` answers the record's Avro binary body in hex, `decode <hex>`
 * answers the long it holds in decimal.
 */
public class AvroLongs {
  public static void main(String[] args) throws Exception {
    Schema schema = new Schema.Parser().parse(args[0]);
    GenericDatumWriter<GenericRecord> writer = new GenericDatumWriter<>(schema);
    GenericDatumReader<GenericRecord> reader = new GenericDatumReader<>(schema);
    HexFormat hex = HexFormat.of();
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
    StringBuilder out = new StringBuilder();
    for (String line; (line = in.readLine()) != null; ) {
      String[] parts = line.split(" ");
      if (parts[0].equals("encode")) {
        GenericRecord record = new GenericData.Record(schema);
        record.put("v", Long.parseLong(parts[1]));
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        BinaryEncoder encoder = EncoderFactory.get().binaryEncoder(bytes, null);
        writer.write(record, encoder);
        encoder.flush();
        out.append(hex.formatHex(bytes.toByteArray()));
      } else {
        GenericRecord record = reader.read(null, DecoderFactory.get().binaryDecoder(hex.parseHex(parts[1]), null));
        out.append(record.get("v"));
      }
      out.append('\n');
    }
    System.out.print(out);
  }
}
