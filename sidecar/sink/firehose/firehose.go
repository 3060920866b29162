// Package firehose is the "firehose" sink: events to an Amazon Data Firehose
// delivery stream (S3, Splunk, OpenSearch, HTTP endpoints…), through the
// sink's spool, with PutRecordBatch.
//
// One event is one record, the JSON line with its '\n' (Firehose adds no
// delimiter). A call carries at most 500 records and 4 MiB counted as
// Fluent Bit's firehose output does: base64 size plus 12 bytes per record;
// a record is at most 1,000 KiB before base64, and a longer event is cut
// down with delivery.Fit ("truncated":true). When FailedPutCount is not
// zero, only the records that failed are sent again.
package firehose

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/sidewatch/sidewatch/sidecar/metrics"
	"github.com/sidewatch/sidewatch/sidecar/sink/delivery"
	"github.com/sidewatch/sidewatch/sidecar/spool"
)

// Name is the sink's name in --sink, metrics and the spool directory.
const Name = "firehose"

// Limits of PutRecordBatch.
const (
	MaxRecords      = 500
	MaxRequestBytes = 4 << 20
	MaxRecordBytes  = 1_024_000
	recordOverhead  = 12
)

// Config configures the sink.
type Config struct {
	DeliveryStream string        `name:"firehose-delivery-stream" env:"SIDEWATCH_FIREHOSE_DELIVERY_STREAM" help:"Firehose delivery stream of the firehose sink (required with --sink firehose)."`
	EventTypes     []string      `name:"firehose-event-types" env:"SIDEWATCH_FIREHOSE_EVENT_TYPES" sep:"," help:"Event types the firehose sink takes, comma-separated; empty: all."`
	EndpointURL    string        `name:"firehose-endpoint-url" env:"SIDEWATCH_FIREHOSE_ENDPOINT_URL" help:"Firehose endpoint URL (emulators, VPC endpoints); default the region's."`
	BatchDelay     time.Duration `name:"firehose-batch-delay" env:"SIDEWATCH_FIREHOSE_BATCH_DELAY" default:"1s" help:"Longest time an event waits for others to share its PutRecordBatch call."`
}

var streamRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,64}$`)

// Validate checks the values; required says the sink is selected.
func (c Config) Validate(required bool) error {
	var errs []error
	if required && c.DeliveryStream == "" {
		errs = append(errs, errors.New("--firehose-delivery-stream (SIDEWATCH_FIREHOSE_DELIVERY_STREAM) is required with --sink firehose"))
	}
	if c.DeliveryStream != "" && !streamRE.MatchString(c.DeliveryStream) {
		errs = append(errs, fmt.Errorf("--firehose-delivery-stream (SIDEWATCH_FIREHOSE_DELIVERY_STREAM) %q: want 1-64 of a-z A-Z 0-9 _ . -", c.DeliveryStream))
	}
	if err := delivery.ValidateTypes("--firehose-event-types (SIDEWATCH_FIREHOSE_EVENT_TYPES)", c.EventTypes); err != nil {
		errs = append(errs, err)
	}
	if err := delivery.ValidateURL("--firehose-endpoint-url (SIDEWATCH_FIREHOSE_ENDPOINT_URL)", c.EndpointURL); err != nil {
		errs = append(errs, err)
	}
	if c.BatchDelay < 0 || c.BatchDelay > time.Hour {
		errs = append(errs, fmt.Errorf("--firehose-batch-delay (SIDEWATCH_FIREHOSE_BATCH_DELAY) must be between 0 and 1h, got %s", c.BatchDelay))
	}
	return errors.Join(errs...)
}

// Open opens the sink's spool in spoolDir/firehose and starts the sink.
func Open(c Config, awsCfg aws.Config, sp spool.Config, opts delivery.Options, log *slog.Logger, reg *metrics.Registry) (*delivery.Sink, error) {
	if err := c.Validate(true); err != nil {
		return nil, err
	}
	s, err := spool.Open(filepath.Join(sp.Dir, Name), sp.MaxBytes, Name, reg)
	if err != nil {
		return nil, fmt.Errorf("firehose sink: %w", err)
	}
	client := fh.NewFromConfig(awsCfg, func(o *fh.Options) {
		if c.EndpointURL != "" {
			o.BaseEndpoint = aws.String(c.EndpointURL)
		}
	})
	return delivery.New(Name, c.EventTypes, s, NewBatch(client, c.DeliveryStream, c.BatchDelay, reg), opts, log, reg), nil
}

// Batch is one PutRecordBatch call being filled.
type Batch struct {
	client *fh.Client
	stream string
	delay  time.Duration
	m      batchMetrics

	records []types.Record
	bytes   int // as counted against MaxRequestBytes
	first   time.Time
}

// NewBatch returns an empty batch for stream.
func NewBatch(client *fh.Client, stream string, delay time.Duration, reg *metrics.Registry) *Batch {
	return &Batch{client: client, stream: stream, delay: delay, m: newMetrics(reg)}
}

func requestBytes(n int) int { return base64.StdEncoding.EncodedLen(n) + recordOverhead }

// Add takes r as one record if the call stays within the limits.
func (b *Batch) Add(r spool.Record) bool {
	size := requestBytes(min(len(r.Line)+1, MaxRecordBytes))
	if len(b.records) > 0 && (len(b.records) >= MaxRecords || b.bytes+size > MaxRequestBytes) {
		return false
	}
	if len(b.records) == 0 {
		b.first = time.Now()
	}
	line, cut := delivery.Fit(r.Line, MaxRecordBytes-1)
	if cut {
		b.m.truncated.Inc()
	}
	data := make([]byte, len(line)+1)
	copy(data, line)
	data[len(line)] = '\n'
	b.records = append(b.records, types.Record{Data: data})
	b.bytes += size
	return true
}

// Len is the number of records in the batch.
func (b *Batch) Len() int { return len(b.records) }

// Due is when the batch's first record has waited BatchDelay.
func (b *Batch) Due() time.Time { return b.first.Add(b.delay) }

// Reset empties the batch.
func (b *Batch) Reset() {
	clear(b.records)
	b.records, b.bytes = b.records[:0], 0
}

// Send puts the batch; after a partial failure the batch keeps the failed
// records only, and the error is classed by their error codes.
func (b *Batch) Send(ctx context.Context) error {
	out, err := b.client.PutRecordBatch(ctx, &fh.PutRecordBatchInput{DeliveryStreamName: &b.stream, Records: b.records})
	if err != nil {
		return err
	}
	if out.FailedPutCount == nil || *out.FailedPutCount == 0 || len(out.RequestResponses) != len(b.records) {
		b.sent(len(b.records))
		b.Reset()
		return nil
	}
	failed := b.records[:0]
	bytes := 0
	class := delivery.Throttled
	var code, msg string
	for i, resp := range out.RequestResponses {
		if resp.ErrorCode == nil {
			b.sent(1)
			continue
		}
		failed = append(failed, b.records[i])
		bytes += requestBytes(len(b.records[i].Data))
		code, msg = *resp.ErrorCode, aws.ToString(resp.ErrorMessage)
		if code != "ServiceUnavailableException" {
			class = delivery.Server
		}
	}
	clear(b.records[len(failed):])
	b.records, b.bytes = failed, bytes
	b.m.failedRecords.Add(uint64(len(failed)))
	return &delivery.ClassError{Class: class, Err: fmt.Errorf("PutRecordBatch: %d of %d records failed, the last with %s: %s", len(failed), len(out.RequestResponses), code, msg)}
}

func (b *Batch) sent(n int) {
	b.m.sentEvents.Add(uint64(n))
}
