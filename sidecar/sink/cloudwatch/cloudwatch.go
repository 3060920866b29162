// Package cloudwatch is the "cloudwatch" sink: events to one CloudWatch Logs
// stream per task, through the sink's spool, with PutLogEvents batches
// inside every limit of the service.
//
// A batch holds at most 10,000 events and 1,048,576 bytes counting 26 bytes
// per event, spans at most 24 hours, and is sorted by timestamp before it is
// sent (the service requires chronological order). An event longer than the
// per-event maximum (1,048,550 bytes of message) is cut down with
// delivery.Fit, keeping valid JSON and adding "truncated":true, never
// refused. Event timestamps outside what the service accepts (more than
// 14 days old or 2 hours ahead) are replaced by the send time, and events
// the service still reports as too old, too new or expired are sent again
// with the current time; the event's own timestamp stays in the message.
package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/sidewatch/sidewatch/sidecar/metrics"
	"github.com/sidewatch/sidewatch/sidecar/sink/awscfg"
	"github.com/sidewatch/sidewatch/sidecar/sink/delivery"
	"github.com/sidewatch/sidewatch/sidecar/spool"
)

// Name is the sink's name in --sink, metrics and the spool directory.
const Name = "cloudwatch"

// Limits of PutLogEvents.
const (
	MaxBatchBytes  = 1_048_576
	EventOverhead  = 26
	MaxBatchEvents = 10_000
	MaxEventBytes  = MaxBatchBytes - EventOverhead
	MaxSpan        = 24 * time.Hour
	maxAge         = 14*24*time.Hour - time.Hour // a margin inside 14 days
	maxAhead       = 2*time.Hour - 10*time.Minute
)

// Config configures the sink.
type Config struct {
	LogGroup    string        `name:"cloudwatch-log-group" env:"SIDEWATCH_CLOUDWATCH_LOG_GROUP" help:"CloudWatch Logs group of the cloudwatch sink (required with --sink cloudwatch)."`
	LogStream   string        `name:"cloudwatch-log-stream" env:"SIDEWATCH_CLOUDWATCH_LOG_STREAM" help:"Log stream; default sidewatch/<task id>, one stream per task. Created if missing."`
	CreateGroup bool          `name:"cloudwatch-create-group" env:"SIDEWATCH_CLOUDWATCH_CREATE_GROUP" help:"Create the log group if it does not exist (needs logs:CreateLogGroup)."`
	EventTypes  []string      `name:"cloudwatch-event-types" env:"SIDEWATCH_CLOUDWATCH_EVENT_TYPES" sep:"," help:"Event types the cloudwatch sink takes, comma-separated (for example alert); empty: all."`
	EndpointURL string        `name:"cloudwatch-endpoint-url" env:"SIDEWATCH_CLOUDWATCH_ENDPOINT_URL" help:"CloudWatch Logs endpoint URL (emulators, VPC endpoints); default the region's."`
	BatchDelay  time.Duration `name:"cloudwatch-batch-delay" env:"SIDEWATCH_CLOUDWATCH_BATCH_DELAY" default:"1s" help:"Longest time an event waits for others to share its PutLogEvents call."`
}

// ValidLogGroup reports whether name is a valid CloudWatch Logs group
// name: 1 to 512 of A-Z a-z 0-9 . - _ / #. A loop, not a regular
// expression: `{1,512}` compiles to 512 copies of the class, 350 KB of
// heap held from start-up in every sidecar.
func ValidLogGroup(name string) bool {
	if len(name) == 0 || len(name) > 512 {
		return false
	}
	for i := range len(name) {
		switch c := name[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '-', c == '_', c == '/', c == '#':
		default:
			return false
		}
	}
	return true
}

// Validate checks the values; required says the sink is selected.
func (c Config) Validate(required bool) error {
	var errs []error
	if required && c.LogGroup == "" {
		errs = append(errs, errors.New("--cloudwatch-log-group (SIDEWATCH_CLOUDWATCH_LOG_GROUP) is required with --sink cloudwatch"))
	}
	if c.LogGroup != "" && !ValidLogGroup(c.LogGroup) {
		errs = append(errs, fmt.Errorf("--cloudwatch-log-group (SIDEWATCH_CLOUDWATCH_LOG_GROUP) %q: want 1-512 of A-Z a-z 0-9 . - _ / #", c.LogGroup))
	}
	if len(c.LogStream) > 512 || strings.ContainsAny(c.LogStream, ":*") {
		errs = append(errs, fmt.Errorf("--cloudwatch-log-stream (SIDEWATCH_CLOUDWATCH_LOG_STREAM) %q: at most 512 characters, no ':' or '*'", c.LogStream))
	}
	if err := delivery.ValidateTypes("--cloudwatch-event-types (SIDEWATCH_CLOUDWATCH_EVENT_TYPES)", c.EventTypes); err != nil {
		errs = append(errs, err)
	}
	if err := delivery.ValidateURL("--cloudwatch-endpoint-url (SIDEWATCH_CLOUDWATCH_ENDPOINT_URL)", c.EndpointURL); err != nil {
		errs = append(errs, err)
	}
	if c.BatchDelay < 0 || c.BatchDelay > time.Hour {
		errs = append(errs, fmt.Errorf("--cloudwatch-batch-delay (SIDEWATCH_CLOUDWATCH_BATCH_DELAY) must be between 0 and 1h, got %s", c.BatchDelay))
	}
	return errors.Join(errs...)
}

// Stream is the log stream the sink writes for task.
func (c Config) Stream(task awscfg.Task) string {
	if c.LogStream != "" {
		return c.LogStream
	}
	return "sidewatch/" + task.ID
}

// Open opens the sink's spool in spoolDir/cloudwatch and starts the sink.
func Open(c Config, awsCfg aws.Config, task awscfg.Task, sp spool.Config, opts delivery.Options, log *slog.Logger, reg *metrics.Registry) (*delivery.Sink, error) {
	if err := c.Validate(true); err != nil {
		return nil, err
	}
	s, err := spool.Open(filepath.Join(sp.Dir, Name), sp.MaxBytes, Name, reg)
	if err != nil {
		return nil, fmt.Errorf("cloudwatch sink: %w", err)
	}
	client := cwl.NewFromConfig(awsCfg, func(o *cwl.Options) {
		if c.EndpointURL != "" {
			o.BaseEndpoint = aws.String(c.EndpointURL)
		}
	})
	b := NewBatch(client, c.LogGroup, c.Stream(task), c.CreateGroup, c.BatchDelay, reg)
	return delivery.New(Name, c.EventTypes, s, b, opts, log, reg), nil
}

// Batch is one PutLogEvents call being filled.
type Batch struct {
	client      *cwl.Client
	group       string
	stream      string
	createGroup bool
	delay       time.Duration
	now         func() time.Time
	m           batchMetrics

	events     []types.InputLogEvent
	bytes      int
	minT, maxT int64
	first      time.Time
	ready      bool // the stream is known to exist
}

// NewBatch returns an empty batch for group and stream.
func NewBatch(client *cwl.Client, group, stream string, createGroup bool, delay time.Duration, reg *metrics.Registry) *Batch {
	return &Batch{client: client, group: group, stream: stream, createGroup: createGroup, delay: delay, now: time.Now, m: newMetrics(reg)}
}

// Add takes r if the batch stays within the limits.
func (b *Batch) Add(r spool.Record) bool {
	size := min(len(r.Line), MaxEventBytes) + EventOverhead
	now := b.now()
	ts := r.Time
	if ts.Before(now.Add(-maxAge)) || ts.After(now.Add(maxAhead)) {
		ts = now
	}
	ms := ts.UnixMilli()
	if len(b.events) > 0 {
		if len(b.events) >= MaxBatchEvents || b.bytes+size > MaxBatchBytes ||
			max(b.maxT, ms)-min(b.minT, ms) >= MaxSpan.Milliseconds() {
			return false
		}
	} else {
		b.minT, b.maxT, b.first = ms, ms, now
	}
	if !ts.Equal(r.Time) {
		b.m.retimed.Inc()
	}
	msg, cut := delivery.Fit(r.Line, MaxEventBytes)
	if cut {
		b.m.truncated.Inc()
	}
	b.events = append(b.events, types.InputLogEvent{Message: aws.String(string(msg)), Timestamp: aws.Int64(ms)})
	b.bytes += size
	b.minT, b.maxT = min(b.minT, ms), max(b.maxT, ms)
	return true
}

// Len is the number of events in the batch.
func (b *Batch) Len() int { return len(b.events) }

// Due is when the batch's first event has waited BatchDelay.
func (b *Batch) Due() time.Time { return b.first.Add(b.delay) }

// Reset empties the batch.
func (b *Batch) Reset() {
	clear(b.events)
	b.events, b.bytes = b.events[:0], 0
}

// Send puts the batch, creating the stream (and the group, if allowed)
// when it is missing, and resending events the service rejected for their
// timestamps with the current time.
func (b *Batch) Send(ctx context.Context) error {
	if !b.ready {
		if err := b.ensureStream(ctx); err != nil {
			return err
		}
	}
	slices.SortStableFunc(b.events, func(x, y types.InputLogEvent) int { return int(*x.Timestamp - *y.Timestamp) })
	for range 2 {
		out, err := b.client.PutLogEvents(ctx, &cwl.PutLogEventsInput{LogGroupName: &b.group, LogStreamName: &b.stream, LogEvents: b.events})
		var nf *types.ResourceNotFoundException
		if errors.As(err, &nf) {
			b.ready = false // deleted behind our back: create it on the next attempt
			return err
		}
		if err != nil {
			return err
		}
		retry := b.rejected(out.RejectedLogEventsInfo)
		b.m.sentEvents.Add(uint64(len(b.events) - len(retry)))
		b.m.sentBytes.Add(uint64(b.bytes))
		if len(retry) == 0 {
			b.Reset()
			return nil
		}
		now := b.now().UnixMilli()
		for i := range retry {
			retry[i].Timestamp = aws.Int64(now)
		}
		b.m.retimed.Add(uint64(len(retry)))
		b.events = append(b.events[:0], retry...)
	}
	return &delivery.ClassError{Class: delivery.Rejected, Err: fmt.Errorf("PutLogEvents rejected %d events for their timestamps twice", len(b.events))}
}

// rejected returns the events RejectedLogEventsInfo names: too old and
// expired ones form a prefix of the sorted batch, too new ones a suffix.
func (b *Batch) rejected(info *types.RejectedLogEventsInfo) []types.InputLogEvent {
	if info == nil {
		return nil
	}
	n := len(b.events)
	clamp := func(p *int32, d int) int {
		if p == nil {
			return -1
		}
		return min(max(int(*p)+d, 0), n)
	}
	prefix := max(clamp(info.TooOldLogEventEndIndex, 0), clamp(info.ExpiredLogEventEndIndex, 1), 0) // expired: inclusive or not, resend it
	suffix := n
	if i := clamp(info.TooNewLogEventStartIndex, 0); i >= 0 {
		suffix = i
	}
	out := slices.Clone(b.events[:prefix])
	if suffix < n && suffix >= prefix {
		out = append(out, b.events[suffix:]...)
	}
	return out
}

func (b *Batch) ensureStream(ctx context.Context) error {
	_, err := b.client.CreateLogStream(ctx, &cwl.CreateLogStreamInput{LogGroupName: &b.group, LogStreamName: &b.stream})
	var exists *types.ResourceAlreadyExistsException
	var nf *types.ResourceNotFoundException
	switch {
	case err == nil:
		b.m.created.Inc()
	case errors.As(err, &exists):
	case errors.As(err, &nf) && b.createGroup:
		if _, err := b.client.CreateLogGroup(ctx, &cwl.CreateLogGroupInput{LogGroupName: &b.group}); err != nil && !errors.As(err, &exists) {
			return fmt.Errorf("create log group %s: %w", b.group, err)
		}
		b.m.created.Inc()
		return b.ensureStream(ctx)
	case errors.As(err, &nf):
		return &delivery.ClassError{Class: delivery.Failing, Err: fmt.Errorf("log group %s does not exist (create it, or set --cloudwatch-create-group): %w", b.group, err)}
	default:
		return fmt.Errorf("create log stream %s/%s: %w", b.group, b.stream, err)
	}
	b.ready = true
	return nil
}
