// Package spool keeps one remote sink's events on disk, between the pipeline
// and the destination, so that an outage, throttling or a restart of the
// sidecar loses nothing: at-least-once delivery within a byte bound.
//
// A spool is a directory of segment files. Append writes a batch of event
// lines and fsyncs it before returning; the sink's sender reads records in
// the order they were appended, sends them, and calls Ack once the service
// has accepted them, which deletes the segments wholly acknowledged and
// records the position in a small acknowledgement file. At start, Open
// replays what is left: every record not acknowledged is delivered again.
//
// Records are kept in two queues of segments that share one sequence
// number, so the reader merges them back into append order:
//   - keep: log, alert and stats events (and lines without an event_type).
//     When the spool is full, Append waits for room: backpressure into the
//     pipeline, and through it to the log_router.
//   - net: every other type (flow, dns, tls, http…). When the spool is full,
//     the oldest network segments not yet being read are deleted to make
//     room, and when none is left the incoming network event is refused;
//     both are counted, event by event.
//
// Duplicates are possible only for the batch in flight at a crash: Sending
// records how far the sender has gone before each send, so a replay can
// count them (possible_duplicates_total).
package spool

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// Config is the spool's part of the sidecar's configuration; each remote
// sink has its own spool in a subdirectory of Dir named after the sink.
type Config struct {
	Dir      string `name:"spool-dir" env:"SIDEWATCH_SPOOL_DIR" default:"/var/sidewatch/spool" help:"Directory of the AWS sinks' disk spools (one subdirectory per sink); put it on a task volume so it survives a restart of the sidecar container."`
	MaxBytes int64  `name:"spool-max-bytes" env:"SIDEWATCH_SPOOL_MAX_BYTES" default:"268435456" help:"Size bound of each AWS sink's spool in bytes; when full, network events are dropped oldest-first and log and alert events wait."`
}

// Bounds of MaxBytes.
const (
	MinBytes = 1 << 20
	MaxBytes = 1 << 40
)

// Validate checks the values, naming flag and variable.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("--spool-dir (SIDEWATCH_SPOOL_DIR) must be set for the AWS sinks"))
	}
	if c.MaxBytes < MinBytes || c.MaxBytes > MaxBytes {
		errs = append(errs, fmt.Errorf("--spool-max-bytes (SIDEWATCH_SPOOL_MAX_BYTES) must be between %d (1 MiB) and %d (1 TiB), got %d", MinBytes, int64(MaxBytes), c.MaxBytes))
	}
	return errors.Join(errs...)
}

// ErrClosed is returned after Close.
var ErrClosed = errors.New("spool closed")

type class int

const (
	keep class = iota
	net
)

var classNames = [2]string{"keep", "net"}

// classOf: log, alert and stats events push back; the rest may be dropped.
func classOf(typ string) class {
	switch typ {
	case "log", "alert", "stats", "":
		return keep
	}
	return net
}

// segment is one file of one queue. size, count and last cover committed
// (written and fsynced) records only.
type segment struct {
	path        string
	first, last uint64
	count       int64
	size        int64
	w           *os.File // open for appending while this is the queue's tail
}

type queue struct {
	segs []*segment // oldest first; the last one may be the open tail

	// Staged records of the current Append, not yet written.
	stage      []byte
	stageCount int64
	stageLast  uint64

	// Reader state.
	rseg  *segment
	rf    *os.File
	r     *reader
	rlast uint64  // seq of the last record read from this queue
	peek  *Record // read, not yet returned by Read
}

// closeReader drops the reader's segment.
func (q *queue) closeReader() {
	if q.rf != nil {
		q.rf.Close()
	}
	q.rseg, q.rf, q.r = nil, nil, nil
}

func (q *queue) tail() *segment {
	if n := len(q.segs); n > 0 && q.segs[n-1].w != nil {
		return q.segs[n-1]
	}
	return nil
}

// Spool is one sink's on-disk queue. Append is called by the pipeline's
// goroutine, Read, Sending and Ack by the sink's sender; both may run at once.
type Spool struct {
	dir    string
	max    int64
	segMax int64
	now    func() time.Time
	m      spoolMetrics
	lock   *os.File

	mu      sync.Mutex
	q       [2]queue
	used    int64 // bytes in segments, staged records included
	nextSeq uint64
	acked   uint64 // every record with seq <= acked is delivered or dropped
	sent    uint64 // the sender has sent records up to here
	pending int64  // records stored, not acknowledged nor dropped
	waiting int    // writers waiting for room
	ackf    *os.File
	newDir  bool // a segment was created: fsync the directory
	closed  bool
	data    chan struct{} // closed and replaced when records are committed
	space   chan struct{} // closed and replaced when room is freed
	closing chan struct{}
}

// Open opens (creating it) the spool in dir, bounded by maxBytes, and
// replays what an earlier run left: records not acknowledged are read again
// first. name labels the metrics (the sink's name).
func Open(dir string, maxBytes int64, name string, reg *metrics.Registry) (*Spool, error) {
	if maxBytes < MinBytes {
		return nil, fmt.Errorf("spool %s: size bound %d is below %d", dir, maxBytes, MinBytes)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, notWritable(dir, err)
	}
	lock, err := lockDir(dir)
	if errors.Is(err, fs.ErrPermission) {
		return nil, notWritable(dir, err)
	}
	if err != nil {
		return nil, err
	}
	s := &Spool{
		dir: dir, max: maxBytes, segMax: segmentBytes(maxBytes), now: time.Now, lock: lock,
		data: make(chan struct{}), space: make(chan struct{}), closing: make(chan struct{}),
	}
	s.m = newMetrics(reg, name, s)
	if err := s.replay(); err != nil {
		s.Close()
		return nil, fmt.Errorf("spool %s: %w", dir, err)
	}
	return s, nil
}

// notWritable names the options that decide a spool directory's owner:
// with --user the sinks open after the privilege drop, so a directory
// created by root (an image layer, a bind mount) fails here, at start-up,
// rather than at the first segment.
func notWritable(dir string, err error) error {
	return fmt.Errorf("spool: directory %s must be writable by the sidecar's user (uid %d; --spool-dir, SIDEWATCH_SPOOL_DIR; --user, SIDEWATCH_USER): %w", dir, os.Getuid(), err)
}

// segmentBytes: small enough that dropping or deleting one segment frees a
// small part of the spool, large enough to keep the files few.
func segmentBytes(bound int64) int64 {
	return min(max(bound/32, 64<<10), 16<<20)
}

const ackFile = "ack"

// replay loads the acknowledgement file and the segments left on disk.
func (s *Spool) replay() error {
	f, err := os.OpenFile(filepath.Join(s.dir, ackFile), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	s.ackf = f
	var b [20]byte
	if n, _ := f.ReadAt(b[:], 0); n == len(b) && crc32.Checksum(b[:16], castagnoli) == binary.LittleEndian.Uint32(b[16:]) {
		s.acked = binary.LittleEndian.Uint64(b[:8])
		s.sent = binary.LittleEndian.Uint64(b[8:16])
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	maxSeq := max(s.acked, s.sent)
	for _, e := range entries {
		c, first, ok := parseSegmentName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		seg, err := s.scan(filepath.Join(s.dir, e.Name()), first)
		if err != nil {
			return err
		}
		if seg.count == 0 || seg.last <= s.acked {
			if err := os.Remove(seg.path); err != nil {
				return err
			}
			continue
		}
		s.q[c].segs = append(s.q[c].segs, seg)
		s.used += seg.size
		maxSeq = max(maxSeq, seg.last)
	}
	for c := range s.q {
		slices.SortFunc(s.q[c].segs, func(a, b *segment) int { return cmpUint(a.first, b.first) })
	}
	s.nextSeq = maxSeq + 1
	return nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// scan reads a segment left by an earlier run, counts its records (those
// after the acknowledged position are pending) and cuts off a torn or
// corrupt tail.
func (s *Spool) scan(path string, first uint64) (*segment, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	seg := &segment{path: path, first: first}
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	r := newReader(f, 0, st.Size())
	for {
		seq, _, _, _, n, err := r.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			// Keep the good prefix: the rest was being written at a crash.
			s.m.corruptBytes.Add(uint64(st.Size() - seg.size))
			if err := f.Truncate(seg.size); err != nil {
				return nil, err
			}
			if err := f.Sync(); err != nil {
				return nil, err
			}
			break
		}
		seg.size += n
		seg.count++
		seg.last = seq
		if seq > s.acked {
			s.pending++
			s.m.replayed.Inc()
			if seq <= s.sent {
				s.m.possibleDuplicates.Inc()
			}
		}
	}
	return seg, nil
}

func segmentName(c class, first uint64) string {
	return fmt.Sprintf("%s-%020d.seg", classNames[c], first)
}

func parseSegmentName(name string) (class, uint64, bool) {
	base, ok := strings.CutSuffix(name, ".seg")
	if !ok {
		return 0, 0, false
	}
	cls, num, ok := strings.Cut(base, "-")
	if !ok {
		return 0, 0, false
	}
	c := slices.Index(classNames[:], cls)
	n, err := strconv.ParseUint(num, 10, 64)
	if c < 0 || err != nil {
		return 0, 0, false
	}
	return class(c), n, true
}

// Append spools lines (complete JSON lines, each ending in '\n') and
// fsyncs them before it returns. When the spool is full, network events
// make room by dropping the oldest network events or are refused; other
// events wait for room until ctx ends (then the lines not yet spooled are
// not, and the error says how many).
func (s *Spool) Append(ctx context.Context, lines []byte) error {
	if len(lines) > 0 && lines[len(lines)-1] != '\n' {
		return errors.New("spool: batch does not end with a newline")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	now := s.now()
	for len(lines) > 0 {
		i := indexNewline(lines)
		line := lines[:i]
		t, typ, ok := Head(line)
		if !ok {
			t = now
		}
		c := classOf(typ)
		n := recordSize(typ, line)
		if n > s.max {
			s.m.droppedTooLarge.Inc()
			lines = lines[i+1:]
			continue
		}
		if s.used+n > s.max {
			if err := s.makeRoom(ctx, c, n); err != nil {
				return fmt.Errorf("%w (%d lines not spooled)", err, countLines(lines))
			}
			if s.used+n > s.max { // a network event with no room
				s.m.droppedFull.Inc()
				lines = lines[i+1:]
				continue
			}
		}
		if err := s.stage(c, t.UnixNano(), typ, line); err != nil {
			return err
		}
		lines = lines[i+1:]
	}
	return s.commit()
}

func indexNewline(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return len(b) - 1
}

func countLines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}

// makeRoom frees n bytes by dropping whole network segments, oldest
// first, that the reader has not started; an event of class keep then
// waits for acknowledgements to free the rest. Called with mu held.
func (s *Spool) makeRoom(ctx context.Context, c class, n int64) error {
	if err := s.commit(); err != nil { // what is staged may be dropped below
		return err
	}
	for s.used+n > s.max {
		if s.dropOldestNet() {
			continue
		}
		if c == net {
			return nil
		}
		s.waiting++
		s.m.waits.Inc()
		space := s.space
		s.mu.Unlock()
		var err error
		select {
		case <-space:
		case <-s.closing:
			err = ErrClosed
		case <-ctx.Done():
			err = fmt.Errorf("spool full: %w", ctx.Err())
		}
		s.mu.Lock()
		s.waiting--
		if err != nil {
			return err
		}
		if s.closed {
			return ErrClosed
		}
	}
	return nil
}

// dropOldestNet deletes the oldest network segment the reader has not
// entered and counts its events. Called with mu held, nothing staged.
func (s *Spool) dropOldestNet() bool {
	q := &s.q[net]
	for i, seg := range q.segs {
		if seg == q.rseg || seg.first <= q.rlast || seg.count == 0 {
			continue
		}
		if seg.w != nil {
			seg.w.Close()
			seg.w = nil
		}
		os.Remove(seg.path)
		q.segs = slices.Delete(q.segs, i, i+1)
		s.used -= seg.size
		s.pending -= seg.count
		s.m.droppedFull.Add(uint64(seg.count))
		return true
	}
	return false
}

// stage encodes one record for the next commit, starting a new segment
// when the tail is full. Called with mu held.
func (s *Spool) stage(c class, t int64, typ string, line []byte) error {
	q := &s.q[c]
	n := recordSize(typ, line)
	if tl := q.tail(); tl == nil || (tl.size+int64(len(q.stage)) > 0 && tl.size+int64(len(q.stage))+n > s.segMax) {
		if err := s.commitQueue(c); err != nil {
			return err
		}
		if tl != nil {
			tl.w.Close() // sealed: synced by the commit
			tl.w = nil
		}
		seg := &segment{path: filepath.Join(s.dir, segmentName(c, s.nextSeq)), first: s.nextSeq}
		f, err := os.OpenFile(seg.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
		if err != nil {
			s.m.droppedWriteError.Inc()
			return fmt.Errorf("spool: %w", err)
		}
		seg.w = f
		q.segs = append(q.segs, seg)
		s.newDir = true
	}
	seq := s.nextSeq
	s.nextSeq++
	q.stage = appendRecord(q.stage, seq, t, typ, line)
	q.stageCount++
	q.stageLast = seq
	s.used += n
	s.pending++
	return nil
}

// commit writes and fsyncs what is staged in both queues, then wakes the
// reader. Called with mu held.
func (s *Spool) commit() error {
	var errs []error
	for c := range s.q {
		errs = append(errs, s.commitQueue(class(c)))
	}
	if s.newDir {
		s.newDir = false
		errs = append(errs, syncDir(s.dir))
	}
	close(s.data)
	s.data = make(chan struct{})
	return errors.Join(errs...)
}

func (s *Spool) commitQueue(c class) error {
	q := &s.q[c]
	if len(q.stage) == 0 {
		return nil
	}
	tl := q.tail()
	n := int64(len(q.stage))
	_, err := tl.w.WriteAt(q.stage, tl.size)
	if err == nil {
		s.m.fsyncs.Inc()
		err = tl.w.Sync()
	}
	if err != nil {
		// Keep whole records only; the staged ones are lost and counted.
		tl.w.Truncate(tl.size)
		s.used -= n
		s.pending -= q.stageCount
		s.m.droppedWriteError.Add(uint64(q.stageCount))
		q.stage, q.stageCount = q.stage[:0], 0
		return fmt.Errorf("spool: %w", err)
	}
	tl.size += n
	tl.count += q.stageCount
	tl.last = q.stageLast
	s.m.appended.Add(uint64(q.stageCount))
	q.stage, q.stageCount = q.stage[:0], 0
	if cap(q.stage) > 4<<20 {
		q.stage = nil // do not keep a huge batch's buffer
	}
	return nil
}

// Read returns the next record in append order, waiting until there is one
// or ctx ends.
func (s *Spool) Read(ctx context.Context) (Record, error) {
	for {
		r, ok, data, err := s.TryRead()
		if ok || err != nil {
			return r, err
		}
		select {
		case <-data:
		case <-s.closing:
			return Record{}, ErrClosed
		case <-ctx.Done():
			return Record{}, ctx.Err()
		}
	}
}

// TryRead returns the next record if there is one. When there is none,
// data is closed once there may be.
func (s *Spool) TryRead() (r Record, ok bool, data <-chan struct{}, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Record{}, false, nil, ErrClosed
	}
	for c := range s.q {
		if err := s.fill(class(c)); err != nil {
			return Record{}, false, nil, err
		}
	}
	k, n := s.q[keep].peek, s.q[net].peek
	switch {
	case k == nil && n == nil:
		return Record{}, false, s.data, nil
	case n == nil || (k != nil && k.Seq < n.Seq):
		s.q[keep].peek = nil
		return *k, true, nil, nil
	default:
		s.q[net].peek = nil
		return *n, true, nil, nil
	}
}

// fill reads the queue's next committed record into peek. Called with mu
// held.
func (s *Spool) fill(c class) error {
	q := &s.q[c]
	for q.peek == nil {
		if q.rseg == nil {
			i := slices.IndexFunc(q.segs, func(g *segment) bool { return g.first > q.rlast || (g.count > 0 && g.last > q.rlast) })
			if i < 0 {
				return nil
			}
			f, err := os.Open(q.segs[i].path)
			if err != nil {
				return fmt.Errorf("spool: %w", err)
			}
			q.rseg, q.rf, q.r = q.segs[i], f, newReader(f, 0, q.segs[i].size)
		}
		q.r.end = q.rseg.size
		if q.r.off >= q.r.end {
			if q.rseg.w != nil {
				return nil // the open tail: wait for more
			}
			q.closeReader()
			continue
		}
		seq, t, typ, line, _, err := q.r.next()
		if err != nil {
			// Committed records went bad on disk: skip the rest of the
			// segment.
			s.m.corruptBytes.Add(uint64(q.r.end - q.r.off))
			q.r.off = q.r.end
			continue
		}
		q.rlast = seq
		if seq <= s.acked {
			continue // acknowledged before a restart
		}
		q.peek = &Record{Seq: seq, Time: time.Unix(0, t), Type: typ, Line: slices.Clone(line)}
	}
	return nil
}

// Sending records that the sender is about to send records up to seq, so
// that a replay after a crash can count them as possible duplicates.
func (s *Spool) Sending(seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq <= s.sent {
		return nil
	}
	s.sent = seq
	return s.writeAck()
}

// Ack releases the n records up to seq: the destination has accepted them.
// Segments wholly acknowledged are deleted, freeing room.
func (s *Spool) Ack(seq uint64, n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if seq <= s.acked {
		return nil
	}
	s.acked = seq
	s.pending -= int64(n)
	s.m.acked.Add(uint64(n))
	err := s.writeAck()
	freed := false
	for c := range s.q {
		q := &s.q[c]
		for len(q.segs) > 0 {
			seg := q.segs[0]
			if seg.count == 0 || seg.last > seq || (seg.w != nil && len(q.stage) > 0) {
				break
			}
			if seg.w != nil {
				seg.w.Close()
				seg.w = nil
			}
			if seg == q.rseg {
				q.closeReader()
			}
			if rerr := os.Remove(seg.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				err = errors.Join(err, rerr)
			}
			q.segs = q.segs[1:]
			s.used -= seg.size
			freed = true
		}
	}
	if freed {
		close(s.space)
		s.space = make(chan struct{})
	}
	return err
}

// writeAck stores acked and sent. Called with mu held.
func (s *Spool) writeAck() error {
	var b [20]byte
	binary.LittleEndian.PutUint64(b[:], s.acked)
	binary.LittleEndian.PutUint64(b[8:], s.sent)
	binary.LittleEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
	_, err := s.ackf.WriteAt(b[:], 0)
	if err == nil {
		s.m.fsyncs.Inc()
		err = s.ackf.Sync()
	}
	if err != nil {
		return fmt.Errorf("spool: acknowledgement file: %w", err)
	}
	return nil
}

// Bytes is the spool's size on disk.
func (s *Spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used
}

// Max is the spool's size bound.
func (s *Spool) Max() int64 { return s.max }

// Pending is the number of records not yet acknowledged.
func (s *Spool) Pending() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// Pressure reports that the sender should send what it has now: a writer
// is waiting for room, or the spool is three quarters full.
func (s *Spool) Pressure() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting > 0 || s.used >= s.max/4*3
}

// Close releases the files; waiting writers and readers return ErrClosed.
// What is spooled stays for the next Open.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.closing)
	var errs []error
	for c := range s.q {
		q := &s.q[c]
		for _, seg := range q.segs {
			if seg.w != nil {
				errs = append(errs, seg.w.Close())
				seg.w = nil
			}
		}
		q.closeReader()
	}
	if s.ackf != nil {
		errs = append(errs, s.ackf.Close())
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
	}
	return errors.Join(errs...)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("spool: sync directory: %w", err)
	}
	return nil
}
