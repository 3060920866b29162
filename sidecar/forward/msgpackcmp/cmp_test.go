package msgpackcmp

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"testing"

	"github.com/tinylib/msgp/msgp"
	"github.com/vmihailenco/msgpack/v5"
)

// Both decoders fill this per record, as the receiver fills its event.
type record struct {
	sec, nsec                 int64
	log, source, id, name     string
	cluster, taskARN, taskDef string
	fields                    []byte
}

var known = map[string]bool{"log": true, "source": true, "container_id": true, "container_name": true,
	"ecs_cluster": true, "ecs_task_arn": true, "ecs_task_definition": true}

func chunk(b *testing.B) []byte {
	msg, err := os.ReadFile("../testdata/chunk.msgpack")
	if err != nil {
		b.Fatal(err)
	}
	return msg
}

func set(r *record, k, v string) {
	switch k {
	case "log":
		r.log = v
	case "source":
		r.source = v
	case "container_id":
		r.id = v
	case "container_name":
		r.name = v
	case "ecs_cluster":
		r.cluster = v
	case "ecs_task_arn":
		r.taskARN = v
	case "ecs_task_definition":
		r.taskDef = v
	}
}

// tinylib/msgp's runtime: zero-copy readers over the byte slice
// (ReadStringZC, ReadMapKeyZC) and its msgpack-to-JSON writer for the
// other keys.
func decodeMsgp(msg []byte, recs []record, js *bytes.Buffer) ([]record, error) {
	recs = recs[:0]
	js.Reset()
	_, o, err := msgp.ReadArrayHeaderBytes(msg)
	if err != nil {
		return nil, err
	}
	if _, o, err = msgp.ReadStringZC(o); err != nil {
		return nil, err
	}
	n, o, err := msgp.ReadArrayHeaderBytes(o)
	if err != nil {
		return nil, err
	}
	for range n {
		var r record
		if _, o, err = msgp.ReadArrayHeaderBytes(o); err != nil {
			return nil, err
		}
		// EventTime is ext 0, which msgp has no reader for: take the bytes.
		if len(o) < 10 || o[0] != 0xd7 || o[1] != 0 {
			return nil, msgp.TypeError{}
		}
		r.sec, r.nsec = int64(binary.BigEndian.Uint32(o[2:])), int64(binary.BigEndian.Uint32(o[6:]))
		o = o[10:]
		m, rest, err := msgp.ReadMapHeaderBytes(o)
		if err != nil {
			return nil, err
		}
		o = rest
		start := js.Len()
		js.WriteByte('{')
		for range m {
			k, rest, err := msgp.ReadMapKeyZC(o)
			if err != nil {
				return nil, err
			}
			o = rest
			if known[string(k)] && msgp.NextType(o) == msgp.StrType {
				v, rest, err := msgp.ReadStringZC(o)
				if err != nil {
					return nil, err
				}
				o = rest
				set(&r, string(k), unsafeString(v))
				continue
			}
			if js.Len() > start+1 {
				js.WriteByte(',')
			}
			// Keys here are plain ASCII: quote them without encoding/json.
			js.WriteByte('"')
			js.Write(k)
			js.WriteByte('"')
			js.WriteByte(':')
			// UnmarshalAsJSON converts everything it is given: cut one value.
			rest, err = msgp.Skip(o)
			if err != nil {
				return nil, err
			}
			if _, err = msgp.UnmarshalAsJSON(js, o[:len(o)-len(rest)]); err != nil {
				return nil, err
			}
			o = rest
		}
		js.WriteByte('}')
		r.fields = js.Bytes()[start:]
		recs = append(recs, r)
	}
	return recs, nil
}

// vmihailenco/msgpack/v5: the reflection-based decoder, records as maps,
// the other keys through encoding/json.
func decodeReflect(msg []byte, recs []record) ([]record, error) {
	recs = recs[:0]
	var m struct {
		_msgpack struct{} `msgpack:",as_array"`
		Tag      string
		Entries  []struct {
			_msgpack struct{} `msgpack:",as_array"`
			Time     msgpack.RawMessage
			Record   map[string]any
		}
		Options map[string]any
	}
	if err := msgpack.Unmarshal(msg, &m); err != nil {
		return nil, err
	}
	for _, e := range m.Entries {
		var r record
		t := e.Time
		if len(t) < 10 || t[0] != 0xd7 {
			return nil, msgp.TypeError{}
		}
		r.sec, r.nsec = int64(binary.BigEndian.Uint32(t[2:])), int64(binary.BigEndian.Uint32(t[6:]))
		other := map[string]any{}
		for k, v := range e.Record {
			if s, ok := v.(string); ok && known[k] {
				set(&r, k, s)
				continue
			}
			other[k] = v
		}
		f, err := json.Marshal(other)
		if err != nil {
			return nil, err
		}
		r.fields = f
		recs = append(recs, r)
	}
	return recs, nil
}

func TestBothDecodeTheChunk(t *testing.T) {
	msg, err := os.ReadFile("../testdata/chunk.msgpack")
	if err != nil {
		t.Fatal(err)
	}
	var js bytes.Buffer
	a, err := decodeMsgp(msg, nil, &js)
	if err != nil {
		t.Fatal(err)
	}
	b, err := decodeReflect(msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 200 || len(b) != 200 || a[7].log != b[7].log || a[7].id == "" || a[7].taskDef != "web-task:7" {
		t.Fatalf("decoders disagree: %d/%d records, %+v vs %+v", len(a), len(b), a[7], b[7])
	}
}

func BenchmarkTinylibMsgp(b *testing.B) {
	msg := chunk(b)
	var js bytes.Buffer
	var recs []record
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if recs, err = decodeMsgp(msg, recs, &js); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}

func BenchmarkVmihailencoReflect(b *testing.B) {
	msg := chunk(b)
	var recs []record
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if recs, err = decodeReflect(msg, recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}
