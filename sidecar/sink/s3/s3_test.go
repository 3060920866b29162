package s3

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sidewatch/sidewatch/internal/mototest"
	"github.com/sidewatch/sidewatch/internal/sinkbench"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
	"github.com/sidewatch/sidewatch/sidecar/sink/awscfg"
	"github.com/sidewatch/sidewatch/sidecar/sink/delivery"
	"github.com/sidewatch/sidewatch/sidecar/spool"
)

func evLine(typ string, i int) string {
	ts := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond)
	return fmt.Sprintf(`{"timestamp":"%s","event_type":"%s","n":%d}`, ts.Format("2006-01-02T15:04:05.000000-0700"), typ, i)
}

var moto *mototest.Server

func TestMain(m *testing.M) {
	code := m.Run()
	if moto != nil {
		moto.Close()
	}
	os.Exit(code)
}

func motoBucket(t testing.TB, bucket string) (aws.Config, *s3api.Client) {
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
	c := s3api.NewFromConfig(cfg, func(o *s3api.Options) {
		o.BaseEndpoint, o.UsePathStyle, o.DisableLogOutputChecksumValidationSkipped = &moto.URL, true, true
	})
	if _, err := c.CreateBucket(context.Background(), &s3api.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	return cfg, c
}

// objects returns every object's key, headers and decompressed lines.
type stored struct {
	key, contentType, encoding, sse string
	lines                           []string
}

func objects(t *testing.T, c *s3api.Client, bucket string) []stored {
	t.Helper()
	list, err := c.ListObjectsV2(context.Background(), &s3api.ListObjectsV2Input{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	var out []stored
	for _, o := range list.Contents {
		get, err := c.GetObject(context.Background(), &s3api.GetObjectInput{Bucket: &bucket, Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(get.Body)
		get.Body.Close()
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("object %s is not gzip: %v", *o.Key, err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("object %s: %v", *o.Key, err)
		}
		out = append(out, stored{key: *o.Key, contentType: aws.ToString(get.ContentType), encoding: aws.ToString(get.ContentEncoding),
			sse: string(get.ServerSideEncryption), lines: strings.Split(strings.TrimSuffix(string(plain), "\n"), "\n")})
	}
	return out
}

func TestMotoObjects(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		n       int
		objects int
		keyRE   string
	}{
		{"one_object", Config{Prefix: "sw", MaxObjectBytes: 1 << 20, MaxObjectAge: time.Hour}, 1000, 1,
			`^sw/year=\d{4}/month=\d\d/day=\d\d/hour=\d\d/prod_abc123_\d{8}T\d{6}Z_\d{20}\.json\.gz$`},
		{"rolled_by_size", Config{Prefix: "sw", MaxObjectBytes: 20 << 10, MaxObjectAge: time.Hour}, 1000, 4, `^sw/year=`},
		{"by_type_with_kms", Config{Prefix: "p/q/", PartitionByType: true, MaxObjectBytes: 1 << 20, MaxObjectAge: time.Hour, KMSKeyID: "alias/sw", BucketOwner: "123456789012"}, 1000, 2,
			`^p/q/event_type=(flow|log)/year=\d{4}/`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bucket := "sw-" + strings.ReplaceAll(tc.name, "_", "-")
			awsCfg, client := motoBucket(t, bucket)
			c := tc.cfg
			c.Bucket, c.EndpointURL = bucket, moto.URL
			reg := metrics.New()
			s, err := Open(c, awsCfg, awscfg.Task{Cluster: "prod", ID: "abc123"}, spool.Config{Dir: t.TempDir(), MaxBytes: 64 << 20}, delivery.DefaultOptions(), nil, reg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var want []string
			var batch []byte
			for i := range tc.n {
				l := evLine([]string{"flow", "log"}[i%2], i)
				want = append(want, l)
				batch = append(batch, l+"\n"...)
				if i%100 == 99 {
					if err := s.Write(context.Background(), batch); err != nil {
						t.Fatal(err)
					}
					batch = batch[:0]
				}
			}
			s.Flush(context.Background())
			objs := objects(t, client, bucket)
			if len(objs) != tc.objects {
				t.Fatalf("%d objects, want %d", len(objs), tc.objects)
			}
			seen := map[string]bool{}
			for _, o := range objs {
				if !regexp.MustCompile(tc.keyRE).MatchString(o.key) {
					t.Errorf("key %s does not match %s", o.key, tc.keyRE)
				}
				if o.contentType != "application/x-ndjson" || o.encoding != "gzip" {
					t.Errorf("object %s: Content-Type %q, Content-Encoding %q", o.key, o.contentType, o.encoding)
				}
				if c.KMSKeyID != "" && o.sse != "aws:kms" {
					t.Errorf("object %s: server-side encryption %q, want aws:kms", o.key, o.sse)
				}
				for _, l := range o.lines {
					if seen[l] {
						t.Errorf("line %s twice", l)
					}
					seen[l] = true
					if c.PartitionByType && !strings.Contains(o.key, "event_type=") {
						t.Errorf("partitioned key %s", o.key)
					}
				}
			}
			for _, l := range want {
				if !seen[l] {
					t.Fatalf("line %s not in any object", l)
				}
			}
		})
	}
}

func TestMissingBucketFails(t *testing.T) {
	awsCfg, _ := motoBucket(t, "sw-owner")
	c := Config{Bucket: "sw-owner", EndpointURL: moto.URL, Prefix: "x", MaxObjectBytes: 1 << 20, MaxObjectAge: time.Hour}
	b := NewBatch(c, awsCfg, awscfg.Task{}, metrics.New())
	b.Add(spool.Record{Seq: 1, Line: []byte(evLine("log", 1))})
	// A good request first: signature and headers are accepted.
	if err := b.Send(context.Background()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	b.cfg.Bucket = "sw-no-such-bucket"
	b.Add(spool.Record{Seq: 2, Line: []byte(evLine("log", 2))})
	err := b.Send(context.Background())
	if err == nil || delivery.Classify(err) != delivery.Failing || !strings.Contains(err.Error(), "NoSuchBucket") {
		t.Errorf("Send to a missing bucket = %v (class %v), want a failing error naming NoSuchBucket", err, delivery.Classify(err))
	}
}

// BenchmarkMoto: events/s through the spool into gzip objects in moto.
func BenchmarkMoto(b *testing.B) {
	bucket := fmt.Sprint("sw-bench-", b.N)
	awsCfg, _ := motoBucket(b, bucket)
	c := Config{Bucket: bucket, EndpointURL: moto.URL, Prefix: "b", MaxObjectBytes: 16 << 20, MaxObjectAge: time.Minute}
	s, err := Open(c, awsCfg, awscfg.Task{Cluster: "c", ID: "t"}, spool.Config{Dir: b.TempDir(), MaxBytes: 1 << 30}, delivery.DefaultOptions(), nil, metrics.New())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	sinkbench.Run(b, s)
}
