// Package s3 is the "s3" sink: events to gzip-compressed JSON-lines objects
// in an S3 bucket, through the sink's spool, with keys partitioned for
// Athena:
//
//	PREFIX/[event_type=TYPE/]year=YYYY/month=MM/day=DD/hour=HH/CLUSTER_TASKID_YYYYMMDDTHHMMSSZ_SEQ.json.gz
//
// An object is rolled (uploaded) when its uncompressed events reach
// --s3-max-object-bytes, when it is --s3-max-object-age old, at the end of
// the hour its key names (so that every event in an object arrived in the
// hour of its partition), when the spool fills up, and at shutdown. Objects
// are stored with Content-Type application/x-ndjson and Content-Encoding
// gzip, a Content-MD5, optionally SSE-KMS and an expected bucket owner.
//
// The upload is one PutObject request signed with the SDK's SigV4 signer
// over the SDK's HTTP client and credentials, not the SDK's S3 client: that
// package and the hundred operations it keeps alive add 5.3 MB to the
// sidecar binary (measured, linux/amd64), a quarter of the image budget, for
// one call. Retrying the same object reuses its key, so a retry after a
// lost answer overwrites rather than duplicates.
package s3

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/sidewatch/sidewatch/sidecar/metrics"
	"github.com/sidewatch/sidewatch/sidecar/sink/awscfg"
	"github.com/sidewatch/sidewatch/sidecar/sink/delivery"
	"github.com/sidewatch/sidewatch/sidecar/spool"
)

// Name is the sink's name in --sink, metrics and the spool directory.
const Name = "s3"

// Config configures the sink.
type Config struct {
	Bucket          string        `name:"s3-bucket" env:"SIDEWATCH_S3_BUCKET" help:"Bucket of the s3 sink (required with --sink s3)."`
	Prefix          string        `name:"s3-prefix" env:"SIDEWATCH_S3_PREFIX" default:"sidewatch" help:"Key prefix of the objects."`
	PartitionByType bool          `name:"s3-partition-by-type" env:"SIDEWATCH_S3_PARTITION_BY_TYPE" help:"Add event_type=TYPE/ to the keys (one object per type)."`
	MaxObjectBytes  int64         `name:"s3-max-object-bytes" env:"SIDEWATCH_S3_MAX_OBJECT_BYTES" default:"16777216" help:"Roll an object once its uncompressed events reach this size."`
	MaxObjectAge    time.Duration `name:"s3-max-object-age" env:"SIDEWATCH_S3_MAX_OBJECT_AGE" default:"5m" help:"Roll an object at this age (and always at the end of its hour)."`
	KMSKeyID        string        `name:"s3-kms-key-id" env:"SIDEWATCH_S3_KMS_KEY_ID" help:"Encrypt objects with SSE-KMS under this key (id, alias or ARN); empty: the bucket's default encryption."`
	BucketOwner     string        `name:"s3-expected-bucket-owner" env:"SIDEWATCH_S3_EXPECTED_BUCKET_OWNER" help:"Account id the bucket must belong to; uploads fail otherwise."`
	EventTypes      []string      `name:"s3-event-types" env:"SIDEWATCH_S3_EVENT_TYPES" sep:"," help:"Event types the s3 sink takes, comma-separated; empty: all."`
	EndpointURL     string        `name:"s3-endpoint-url" env:"SIDEWATCH_S3_ENDPOINT_URL" help:"S3 endpoint URL (emulators, VPC endpoints); implies path-style requests."`
	Region          string        `name:"s3-region" env:"SIDEWATCH_S3_REGION" help:"Region of the bucket when it is not the sinks' region."`
}

var (
	bucketRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	accountRE = regexp.MustCompile(`^\d{12}$`)
	prefixRE  = regexp.MustCompile(`^[A-Za-z0-9!_.*'()/=-]*$`)
)

// Validate checks the values; required says the sink is selected.
func (c Config) Validate(required bool) error {
	var errs []error
	if required && c.Bucket == "" {
		errs = append(errs, errors.New("--s3-bucket (SIDEWATCH_S3_BUCKET) is required with --sink s3"))
	}
	if c.Bucket != "" && !bucketRE.MatchString(c.Bucket) {
		errs = append(errs, fmt.Errorf("--s3-bucket (SIDEWATCH_S3_BUCKET) %q is not a bucket name", c.Bucket))
	}
	if !prefixRE.MatchString(c.Prefix) || len(c.Prefix) > 512 {
		errs = append(errs, fmt.Errorf("--s3-prefix (SIDEWATCH_S3_PREFIX) %q: use at most 512 of A-Z a-z 0-9 ! _ . * ' ( ) / = -", c.Prefix))
	}
	if c.MaxObjectBytes < 1<<10 || c.MaxObjectBytes > 1<<30 {
		errs = append(errs, fmt.Errorf("--s3-max-object-bytes (SIDEWATCH_S3_MAX_OBJECT_BYTES) must be between 1024 and 1073741824, got %d", c.MaxObjectBytes))
	}
	if c.MaxObjectAge < time.Second || c.MaxObjectAge > time.Hour {
		errs = append(errs, fmt.Errorf("--s3-max-object-age (SIDEWATCH_S3_MAX_OBJECT_AGE) must be between 1s and 1h, got %s", c.MaxObjectAge))
	}
	if c.BucketOwner != "" && !accountRE.MatchString(c.BucketOwner) {
		errs = append(errs, fmt.Errorf("--s3-expected-bucket-owner (SIDEWATCH_S3_EXPECTED_BUCKET_OWNER) %q is not a 12-digit account id", c.BucketOwner))
	}
	if c.Region != "" {
		if err := (awscfg.Config{Region: c.Region}).Validate(); err != nil {
			errs = append(errs, fmt.Errorf("--s3-region (SIDEWATCH_S3_REGION) %q is not a region name", c.Region))
		}
	}
	if err := delivery.ValidateTypes("--s3-event-types (SIDEWATCH_S3_EVENT_TYPES)", c.EventTypes); err != nil {
		errs = append(errs, err)
	}
	if err := delivery.ValidateURL("--s3-endpoint-url (SIDEWATCH_S3_ENDPOINT_URL)", c.EndpointURL); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ValidateSpool checks that the spool holds at least two objects: an
// object's events stay in the spool until it is uploaded.
func (c Config) ValidateSpool(sp spool.Config) error {
	if c.MaxObjectBytes > sp.MaxBytes/2 {
		return fmt.Errorf("--s3-max-object-bytes (SIDEWATCH_S3_MAX_OBJECT_BYTES) %d must be at most half of --spool-max-bytes (SIDEWATCH_SPOOL_MAX_BYTES) %d: an object's events stay in the spool until it is uploaded", c.MaxObjectBytes, sp.MaxBytes)
	}
	return nil
}

// Open opens the sink's spool in spoolDir/s3 and starts the sink. The
// spool must hold at least two objects.
func Open(c Config, awsCfg aws.Config, task awscfg.Task, sp spool.Config, opts delivery.Options, log *slog.Logger, reg *metrics.Registry) (*delivery.Sink, error) {
	if err := c.Validate(true); err != nil {
		return nil, err
	}
	if err := c.ValidateSpool(sp); err != nil {
		return nil, err
	}
	s, err := spool.Open(filepath.Join(sp.Dir, Name), sp.MaxBytes, Name, reg)
	if err != nil {
		return nil, fmt.Errorf("s3 sink: %w", err)
	}
	return delivery.New(Name, c.EventTypes, s, NewBatch(c, awsCfg, task, reg), opts, log, reg), nil
}

// object is one object being built: the gzip stream of its events.
type object struct {
	typ      string
	buf      bytes.Buffer
	gz       *gzip.Writer
	count    int
	key      string // set when closed, kept across retries
	uploaded bool
}

// Batch is the set of objects (one, or one per event type) being built.
type Batch struct {
	cfg    Config
	aws    aws.Config
	task   awscfg.Task
	region string
	signer *v4.Signer
	now    func() time.Time
	m      batchMetrics

	objects  map[string]*object
	raw      int64 // uncompressed bytes in all objects
	started  time.Time
	firstSeq uint64
	pool     []*gzip.Writer
}

// NewBatch returns an empty batch.
func NewBatch(c Config, awsCfg aws.Config, task awscfg.Task, reg *metrics.Registry) *Batch {
	region := c.Region
	if region == "" {
		region = awsCfg.Region
	}
	return &Batch{
		cfg: c, aws: awsCfg, task: task, region: region, now: time.Now, m: newMetrics(reg), objects: map[string]*object{},
		signer: v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }),
	}
}

// Add writes r into its object unless the batch is full or its hour is
// over.
func (b *Batch) Add(r spool.Record) bool {
	now := b.now().UTC()
	n := int64(len(r.Line) + 1)
	if len(b.objects) > 0 && (b.raw+n > b.cfg.MaxObjectBytes || now.Truncate(time.Hour) != b.started.Truncate(time.Hour)) {
		return false
	}
	if len(b.objects) == 0 {
		b.started, b.firstSeq = now, r.Seq
	}
	typ := ""
	if b.cfg.PartitionByType {
		typ = r.Type
		if typ == "" {
			typ = "unknown"
		}
	}
	o := b.objects[typ]
	if o == nil {
		o = &object{typ: typ}
		if k := len(b.pool); k > 0 {
			o.gz, b.pool = b.pool[k-1], b.pool[:k-1]
			o.gz.Reset(&o.buf)
		} else {
			o.gz, _ = gzip.NewWriterLevel(&o.buf, gzip.BestSpeed)
		}
		b.objects[typ] = o
	}
	o.gz.Write(r.Line) // into memory: cannot fail
	o.gz.Write([]byte{'\n'})
	o.count++
	b.raw += n
	return true
}

// Len is the number of events in the batch.
func (b *Batch) Len() int {
	n := 0
	for _, o := range b.objects {
		n += o.count
	}
	return n
}

// Due is the earlier of the objects' age limit and the end of their hour.
func (b *Batch) Due() time.Time {
	due := b.started.Add(b.cfg.MaxObjectAge)
	if end := b.started.Truncate(time.Hour).Add(time.Hour); end.Before(due) {
		return end
	}
	return due
}

// Reset drops the objects.
func (b *Batch) Reset() {
	for k, o := range b.objects {
		b.pool = append(b.pool, o.gz)
		delete(b.objects, k)
	}
	b.raw = 0
}

// Send uploads every object not uploaded yet.
func (b *Batch) Send(ctx context.Context) error {
	for _, o := range b.objects {
		if o.uploaded {
			continue
		}
		if o.key == "" {
			o.gz.Close()
			o.key = b.key(o.typ)
		}
		if err := b.put(ctx, o.key, o.buf.Bytes()); err != nil {
			return err
		}
		o.uploaded = true
		b.m.objects.Inc()
		b.m.sentEvents.Add(uint64(o.count))
		b.m.sentBytes.Add(uint64(o.buf.Len()))
	}
	b.Reset()
	return nil
}

// Key returns the object key for events of typ ("" unpartitioned).
func (b *Batch) key(typ string) string {
	t := b.started
	var k strings.Builder
	if p := strings.Trim(b.cfg.Prefix, "/"); p != "" {
		k.WriteString(p + "/")
	}
	if typ != "" {
		k.WriteString("event_type=" + typ + "/")
	}
	fmt.Fprintf(&k, "year=%04d/month=%02d/day=%02d/hour=%02d/%s_%s_%s_%020d.json.gz",
		t.Year(), t.Month(), t.Day(), t.Hour(), keyPart(b.task.Cluster), keyPart(b.task.ID), t.Format("20060102T150405Z"), b.firstSeq)
	return k.String()
}

// keyPart keeps characters that need no escaping in a key.
func keyPart(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x80 && (r == '-' || r == '.' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return r
		}
		return '-'
	}, s)
}

// url is where key is PUT: the endpoint URL or the region's, path-style
// with an endpoint URL or a bucket name with dots (TLS), else
// virtual-hosted.
func (b *Batch) url(key string) string {
	escaped := (&url.URL{Path: "/" + key}).EscapedPath()
	if b.cfg.EndpointURL != "" {
		return strings.TrimSuffix(b.cfg.EndpointURL, "/") + "/" + b.cfg.Bucket + escaped
	}
	domain := "amazonaws.com"
	if strings.HasPrefix(b.region, "cn-") {
		domain = "amazonaws.com.cn"
	}
	if strings.Contains(b.cfg.Bucket, ".") {
		return "https://s3." + b.region + "." + domain + "/" + b.cfg.Bucket + escaped
	}
	return "https://" + b.cfg.Bucket + ".s3." + b.region + "." + domain + escaped
}

func (b *Batch) put(ctx context.Context, key string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, b.url(key), bytes.NewReader(body))
	if err != nil {
		return &delivery.ClassError{Class: delivery.Failing, Err: err}
	}
	sum := sha256.Sum256(body)
	md := md5.Sum(body)
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Content-MD5", base64.StdEncoding.EncodeToString(md[:]))
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	if b.cfg.KMSKeyID != "" {
		req.Header.Set("X-Amz-Server-Side-Encryption", "aws:kms")
		req.Header.Set("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", b.cfg.KMSKeyID)
	}
	if b.cfg.BucketOwner != "" {
		req.Header.Set("X-Amz-Expected-Bucket-Owner", b.cfg.BucketOwner)
	}
	creds, err := b.aws.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("s3 sink: credentials: %w", err)
	}
	if err := b.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "s3", b.region, b.now()); err != nil {
		return &delivery.ClassError{Class: delivery.Failing, Err: err}
	}
	resp, err := b.aws.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("PutObject s3://%s/%s: %w", b.cfg.Bucket, key, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	return b.responseError(resp, key, msg)
}

// responseError turns an error answer into a classed error with S3's code
// and message, following a bucket in another region.
func (b *Batch) responseError(resp *http.Response, key string, body []byte) error {
	code, text := xmlField(body, "Code"), xmlField(body, "Message")
	err := fmt.Errorf("PutObject s3://%s/%s: StatusCode: %d, RequestID: %s, %s: %s", b.cfg.Bucket, key, resp.StatusCode, resp.Header.Get("X-Amz-Request-Id"), code, text)
	if r := resp.Header.Get("X-Amz-Bucket-Region"); r != "" && r != b.region && resp.StatusCode < 500 {
		b.region = r // the bucket lives elsewhere: the next attempt goes there
		return &delivery.ClassError{Class: delivery.Server, Err: err}
	}
	switch {
	case resp.StatusCode == 503 || resp.StatusCode == 429 || code == "SlowDown":
		return &delivery.ClassError{Class: delivery.Throttled, Err: err}
	case resp.StatusCode >= 500 || code == "RequestTimeout" || code == "ExpiredToken" || code == "RequestTimeTooSkewed":
		return &delivery.ClassError{Class: delivery.Server, Err: err}
	}
	return &delivery.ClassError{Class: delivery.Failing, Err: err}
}

// xmlField returns the text of <name> in an S3 error document.
func xmlField(body []byte, name string) string {
	_, rest, ok := bytes.Cut(body, []byte("<"+name+">"))
	if !ok {
		return ""
	}
	v, _, _ := bytes.Cut(rest, []byte("</"+name+">"))
	return string(v)
}
