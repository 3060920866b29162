package forward

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"testing"
)

// mp builds msgpack for tests. Headers are written the way Fluent Bit
// writes them (array32/map32 even for small sizes) when wide is set.
type mp struct {
	b    []byte
	wide bool
}

func (m *mp) raw(b ...byte) *mp { m.b = append(m.b, b...); return m }

func (m *mp) arr(n int) *mp {
	if m.wide {
		m.b = append(m.b, 0xdd)
		m.b = binary.BigEndian.AppendUint32(m.b, uint32(n))
		return m
	}
	if n < 16 {
		return m.raw(0x90 | byte(n))
	}
	m.b = append(m.b, 0xdc)
	m.b = binary.BigEndian.AppendUint16(m.b, uint16(n))
	return m
}

func (m *mp) mapn(n int) *mp {
	if m.wide {
		m.b = append(m.b, 0xdf)
		m.b = binary.BigEndian.AppendUint32(m.b, uint32(n))
		return m
	}
	if n < 16 {
		return m.raw(0x80 | byte(n))
	}
	m.b = append(m.b, 0xde)
	m.b = binary.BigEndian.AppendUint16(m.b, uint16(n))
	return m
}

func (m *mp) str(s string) *mp {
	switch {
	case len(s) < 32:
		m.b = append(m.b, 0xa0|byte(len(s)))
	case len(s) < 256:
		m.b = append(m.b, 0xd9, byte(len(s)))
	case len(s) < 65536:
		m.b = append(m.b, 0xda)
		m.b = binary.BigEndian.AppendUint16(m.b, uint16(len(s)))
	default:
		m.b = append(m.b, 0xdb)
		m.b = binary.BigEndian.AppendUint32(m.b, uint32(len(s)))
	}
	m.b = append(m.b, s...)
	return m
}

func (m *mp) bin(p []byte) *mp {
	m.b = append(m.b, 0xc6)
	m.b = binary.BigEndian.AppendUint32(m.b, uint32(len(p)))
	m.b = append(m.b, p...)
	return m
}

func (m *mp) uint(v uint64) *mp {
	if v < 128 {
		return m.raw(byte(v))
	}
	m.b = append(m.b, 0xcf)
	m.b = binary.BigEndian.AppendUint64(m.b, v)
	return m
}

// etime writes an EventTime as fixext8.
func (m *mp) etime(sec, nsec uint32) *mp {
	m.b = append(m.b, 0xd7, 0x00)
	m.b = binary.BigEndian.AppendUint32(m.b, sec)
	m.b = binary.BigEndian.AppendUint32(m.b, nsec)
	return m
}

// kv writes string pairs.
func (m *mp) kv(pairs ...string) *mp {
	for _, s := range pairs {
		m.str(s)
	}
	return m
}

// record writes a map of string pairs.
func (m *mp) record(pairs ...string) *mp { return m.mapn(len(pairs) / 2).kv(pairs...) }

// entry writes [EventTime, {pairs}].
func (m *mp) entry(sec, nsec uint32, pairs ...string) *mp {
	return m.arr(2).etime(sec, nsec).record(pairs...)
}

// options writes {"chunk": chunk, "size": size} plus extra pairs.
func (m *mp) options(chunk string, size int, extra ...string) *mp {
	n := 1 + len(extra)/2
	if chunk != "" {
		n++
	}
	m.mapn(n)
	if chunk != "" {
		m.kv("chunk", chunk)
	}
	m.str("size").uint(uint64(size))
	return m.kv(extra...)
}

func gzipBytes(t testing.TB, members ...[]byte) []byte {
	t.Helper()
	var out bytes.Buffer
	for _, p := range members {
		zw := gzip.NewWriter(&out)
		if _, err := zw.Write(p); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

// dockerRecord is what the ECS log driver sends, plus FireLens metadata.
func dockerRecord(log string) []string {
	return []string{
		"container_id", "0123456789abcdef0123456789abcdef-2495160603",
		"container_name", "web",
		"source", "stdout",
		"log", log,
		"ecs_cluster", "prod-cluster",
		"ecs_task_arn", "arn:aws:ecs:us-east-1:111122223333:task/prod-cluster/0123456789abcdef0123456789abcdef",
		"ecs_task_definition", "web-task:7",
	}
}
