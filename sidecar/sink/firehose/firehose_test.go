package firehose

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sidewatch/sidewatch/internal/mototest"
	"github.com/sidewatch/sidewatch/internal/sinkbench"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
	"github.com/sidewatch/sidewatch/sidecar/sink/delivery"
	"github.com/sidewatch/sidewatch/sidecar/spool"
)

func evLine(i, size int) string {
	ts := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond)
	return fmt.Sprintf(`{"timestamp":"%s","event_type":"flow","n":%d,"pad":"%s"}`, ts.Format("2006-01-02T15:04:05.000000-0700"), i, strings.Repeat("p", size))
}

func TestBatchLimits(t *testing.T) {
	newBatch := func() *Batch { return NewBatch(nil, "s", time.Second, metrics.New()) }
	t.Run("records", func(t *testing.T) {
		b := newBatch()
		for i := range MaxRecords {
			if !b.Add(spool.Record{Line: []byte(evLine(i, 10))}) {
				t.Fatalf("record %d refused", i)
			}
		}
		if b.Add(spool.Record{Line: []byte(evLine(0, 10))}) {
			t.Errorf("record %d accepted", MaxRecords+1)
		}
	})
	t.Run("request_bytes", func(t *testing.T) {
		b := newBatch()
		// Records whose base64 size plus overhead is exactly a quarter of 4 MiB.
		raw := (MaxRequestBytes/4 - recordOverhead) / 4 * 3
		if requestBytes(raw) != MaxRequestBytes/4 {
			t.Fatalf("setup: requestBytes(%d) = %d", raw, requestBytes(raw))
		}
		for i := range 4 {
			if !b.Add(spool.Record{Line: bytes.Repeat([]byte("a"), raw-1)}) {
				t.Fatalf("record %d refused at %d bytes", i, b.bytes)
			}
		}
		if b.bytes != MaxRequestBytes {
			t.Fatalf("request bytes = %d, want exactly %d", b.bytes, MaxRequestBytes)
		}
		if b.Add(spool.Record{Line: []byte("")}) {
			t.Errorf("a record past 4 MiB accepted")
		}
	})
	t.Run("record_too_large", func(t *testing.T) {
		b := newBatch()
		b.Add(spool.Record{Line: []byte(evLine(0, 2_000_000))})
		if n := len(b.records[0].Data); n > MaxRecordBytes || b.records[0].Data[n-1] != '\n' {
			t.Errorf("record is %d bytes (max %d) or lacks its newline", n, MaxRecordBytes)
		}
		if !b.Add(spool.Record{Line: []byte(evLine(1, MaxRecordBytes-1-len(evLine(1, 0))))}) {
			t.Errorf("a record of exactly 1,000 KiB refused after a cut one")
		}
		if b.m.truncated.Load() != 1 {
			t.Errorf("truncated = %d, want 1 (the record at the limit is not cut)", b.m.truncated.Load())
		}
	})
}

var moto *mototest.Server

func TestMain(m *testing.M) {
	code := m.Run()
	if moto != nil {
		moto.Close()
	}
	os.Exit(code)
}

// motoStream creates a bucket and a delivery stream into it.
func motoStream(t testing.TB, name string) (aws.Config, *s3api.Client) {
	t.Helper()
	if moto == nil {
		s, err := mototest.Start()
		if err != nil {
			t.Skip(err)
		}
		moto = s
	}
	mototest.SetEnv(t)
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s3c := s3api.NewFromConfig(cfg, func(o *s3api.Options) {
		o.BaseEndpoint, o.UsePathStyle, o.DisableLogOutputChecksumValidationSkipped = &moto.URL, true, true
	})
	if _, err := s3c.CreateBucket(context.Background(), &s3api.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	fhc := fh.NewFromConfig(cfg, func(o *fh.Options) { o.BaseEndpoint = &moto.URL })
	_, err = fhc.CreateDeliveryStream(context.Background(), &fh.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String(name),
		ExtendedS3DestinationConfiguration: &types.ExtendedS3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:s3:::" + name), RoleARN: aws.String("arn:aws:iam::123456789012:role/firehose"),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, s3c
}

// DestinationLines returns the lines Firehose delivered into bucket, in key
// order.
func destinationLines(t *testing.T, s3c *s3api.Client, bucket string) []string {
	t.Helper()
	list, err := s3c.ListObjectsV2(context.Background(), &s3api.ListObjectsV2Input{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range list.Contents {
		obj, err := s3c.GetObject(context.Background(), &s3api.GetObjectInput{Bucket: &bucket, Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		out = append(out, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
	}
	return out
}

func TestMotoDeliversToS3Destination(t *testing.T) {
	cfg, s3c := motoStream(t, "fh-dest")
	reg := metrics.New()
	c := Config{DeliveryStream: "fh-dest", EndpointURL: moto.URL, BatchDelay: time.Hour}
	s, err := Open(c, cfg, spool.Config{Dir: t.TempDir(), MaxBytes: 64 << 20}, delivery.DefaultOptions(), nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var want []string
	var batch []byte
	for i := range 1001 {
		size := 100
		if i == 500 {
			size = 1_500_000
		}
		l := evLine(i, size)
		want = append(want, l)
		batch = append(batch, l+"\n"...)
	}
	if err := s.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	s.Flush(context.Background())
	got := destinationLines(t, s3c, "fh-dest")
	slices.SortFunc(got, func(a, b string) int { return strings.Compare(a[:60], b[:60]) })
	if len(got) != len(want) {
		t.Fatalf("destination has %d lines, want %d", len(got), len(want))
	}
	for i := range got {
		if i == 500 {
			var m map[string]any
			if err := json.Unmarshal([]byte(got[i]), &m); err != nil || m["truncated"] != true {
				t.Errorf("the 1.5 MB event arrived as %d bytes: %v, truncated %v", len(got[i]), err, m["truncated"])
			}
			continue
		}
		if got[i] != want[i] {
			t.Fatalf("line %d = %.70s, want %.70s", i, got[i], want[i])
		}
	}
	// 1,001 records: 500 + 500 + 1 requests, the cut record shares one.
	if r := reg.Stats()["sink"].(map[string]any)["requests_total"].(map[string]any)[Name]; r != uint64(3) {
		t.Errorf("requests = %v, want 3", r)
	}
}

// BenchmarkMoto: events/s through the spool into moto's PutRecordBatch.
func BenchmarkMoto(b *testing.B) {
	name := fmt.Sprint("fh-bench-", b.N)
	cfg, _ := motoStream(b, name)
	c := Config{DeliveryStream: name, EndpointURL: moto.URL, BatchDelay: time.Second}
	s, err := Open(c, cfg, spool.Config{Dir: b.TempDir(), MaxBytes: 1 << 30}, delivery.DefaultOptions(), nil, metrics.New())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	sinkbench.Run(b, s)
}
