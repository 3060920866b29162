package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"
)

type config struct {
	corpus, sidewatch, tshark, cache string
	files                            []string
	gnuTime                          string // GNU time, to read a child's peak RSS
	jobs, worst                      int
	timeout                          time.Duration
	verbose                          bool
}

func (c config) validate() error {
	switch {
	case c.corpus == "" && len(c.files) == 0:
		return errors.New("-corpus (or file arguments) is required")
	case c.jobs < 1:
		return fmt.Errorf("-j must be at least 1, got %d", c.jobs)
	case c.timeout <= 0:
		return fmt.Errorf("-timeout must be positive, got %s", c.timeout)
	}
	return nil
}

// usage is what one run of a tool cost.
type usage struct {
	Wall   time.Duration `json:"wall"`
	CPU    time.Duration `json:"cpu"`
	MaxRSS int64         `json:"max_rss_kb"`
	Exit   int           `json:"exit"` // -1: killed by a signal
	Stderr string        `json:"stderr"`
	Killed bool          `json:"timed_out"`
}

// fileResult is the comparison of one file.
type fileResult struct {
	path       string
	group      string // the corpus subdirectory
	size       int64
	tally      tally
	bad        []mismatch
	frames     frameStats
	eve        eveStats
	sw, ts     usage
	swFailure  string // crash, timeout, or error sidewatch reported
	tsFailure  string
	setupError error
}

func run(ctx context.Context, c config, out io.Writer) error {
	if err := c.validate(); err != nil {
		return err
	}
	files := c.files
	if c.corpus != "" {
		err := filepath.WalkDir(c.corpus, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("list corpus: %w", err)
		}
	}
	if len(files) == 0 {
		return errors.New("no capture files")
	}
	if _, err := os.Stat(c.sidewatch); err != nil {
		return fmt.Errorf("sidewatch binary (make build): %w", err)
	}
	version, err := exec.CommandContext(ctx, c.tshark, "--version").Output()
	if err != nil {
		return fmt.Errorf("tshark: %w", err)
	}
	tv := strings.SplitN(string(version), "\n", 2)[0]
	if p, err := exec.LookPath("/usr/bin/time"); err == nil {
		c.gnuTime = p
	} else {
		fmt.Fprintln(os.Stderr, "tsharkcmp: no /usr/bin/time: peak RSS figures include this process's own")
	}
	if c.cache != "" {
		if err := os.MkdirAll(c.cache, 0o755); err != nil {
			return fmt.Errorf("cache: %w", err)
		}
	}
	results := make([]fileResult, len(files))
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range c.jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = compareFile(ctx, c, tv, files[i])
			}
		}()
	}
	for i := range files {
		if ctx.Err() != nil {
			break
		}
		next <- i
		if (i+1)%200 == 0 {
			fmt.Fprintf(os.Stderr, "tsharkcmp: %d/%d files, %s\n", i+1, len(files), time.Since(start).Round(time.Second))
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	report(out, c, tv, results)
	return nil
}

func compareFile(ctx context.Context, c config, tsVersion, path string) fileResult {
	r := fileResult{path: path, group: group(c.corpus, path)}
	if fi, err := os.Stat(path); err == nil {
		r.size = fi.Size()
	}
	swOut, swUse := runTool(ctx, c.timeout, c.gnuTime, c.sidewatch, "replay", path)
	r.sw = swUse
	switch {
	case swUse.Killed:
		r.swFailure = "timeout"
	case swUse.Exit < 0 || strings.Contains(swUse.Stderr, "panic:") || strings.Contains(swUse.Stderr, "fatal error:"):
		r.swFailure = "crash: " + firstLine(swUse.Stderr, "panic:")
	case swUse.Exit != 0:
		r.swFailure = "error: " + logError(swUse.Stderr, path)
	}
	tsOut, tsUse, err := tsharkCached(ctx, c, tsVersion, path)
	if err != nil {
		r.setupError = err
		return r
	}
	r.ts = tsUse
	switch {
	case tsUse.Killed:
		r.tsFailure = "timeout"
	case tsUse.Exit != 0:
		r.tsFailure = "error: " + lastLine(tsUse.Stderr)
	}
	sw, est, err := eveFlows(bytes.NewReader(swOut))
	r.eve = est
	if err != nil {
		r.setupError = err
		return r
	}
	ts, fst, err := tsharkFlows(bytes.NewReader(tsOut))
	r.frames = fst
	if err != nil {
		r.setupError = err
		return r
	}
	r.tally, r.bad = compare(ts, sw)
	return r
}

func group(corpus, path string) string {
	rel, err := filepath.Rel(corpus, path)
	if corpus == "" || err != nil {
		return filepath.Dir(path)
	}
	if i := strings.IndexByte(rel, filepath.Separator); i > 0 {
		return rel[:i]
	}
	return "."
}

// runTool runs a command to completion (or its time limit) and returns
// its stdout and what it cost.
// gnuTime is GNU time's path, or "" (the peak RSS is then an upper bound).
func runTool(ctx context.Context, timeout time.Duration, gnuTime, name string, args ...string) ([]byte, usage) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// A child started from this process inherits its memory high-water
	// mark through exec (Linux records the old mm's peak in ru_maxrss),
	// so the peak is read from GNU time, whose child starts from time's
	// small image.
	var rssFile string
	if f, err := os.CreateTemp("", "tsharkcmp-rss"); err == nil && gnuTime != "" {
		rssFile = f.Name()
		f.Close()
		defer os.Remove(rssFile)
		args = append([]string{"-f", "%M", "-o", rssFile, name}, args...)
		name = gnuTime
	}
	cmd := exec.CommandContext(ctx, name, args...)
	// The tool runs under time: on a timeout the whole group is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t0 := time.Now()
	err := cmd.Run()
	u := usage{Wall: time.Since(t0), Stderr: tail(stderr.String(), 4096)}
	if ps := cmd.ProcessState; ps != nil {
		u.Exit = ps.ExitCode()
		u.CPU = ps.UserTime() + ps.SystemTime()
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			u.MaxRSS = int64(ru.Maxrss)
		}
		if rssFile != "" {
			b, _ := os.ReadFile(rssFile)
			// The last line is the figure (time writes "Command exited
			// with non-zero status" lines before it).
			lines := strings.Fields(strings.TrimSpace(string(b)))
			if len(lines) > 0 {
				if kb, err := strconv.ParseInt(lines[len(lines)-1], 10, 64); err == nil {
					u.MaxRSS = kb
				}
			}
			if code, ok := timeExitCode(string(b)); ok {
				u.Exit = code
			}
		}
	} else if err != nil {
		u.Exit, u.Stderr = -1, err.Error()
	}
	if ctx.Err() == context.DeadlineExceeded {
		u.Killed = true
	}
	return stdout.Bytes(), u
}

// tsharkCached runs tshark on path, or reads the output of an earlier run
// from the cache (keyed by the file's content, the tshark version and
// the field list), with what that run cost.
func tsharkCached(ctx context.Context, c config, version, path string) ([]byte, usage, error) {
	args := tsharkArgs(path)
	var base string
	if c.cache != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, usage{}, fmt.Errorf("read %s: %w", path, err)
		}
		h := sha256.New()
		h.Write(data)
		fmt.Fprintf(h, "\x00%s\x00%s", version, strings.Join(args[3:], " "))
		base = filepath.Join(c.cache, hex.EncodeToString(h.Sum(nil))[:32])
		out, err1 := os.ReadFile(base + ".tsv")
		meta, err2 := os.ReadFile(base + ".json")
		var u usage
		if err1 == nil && err2 == nil && json.Unmarshal(meta, &u) == nil {
			return out, u, nil
		}
	}
	out, u := runTool(ctx, c.timeout, c.gnuTime, c.tshark, args...)
	if base != "" && ctx.Err() == nil {
		meta, _ := json.Marshal(u)
		if err := os.WriteFile(base+".tsv", out, 0o644); err != nil {
			return nil, u, fmt.Errorf("cache: %w", err)
		}
		if err := os.WriteFile(base+".json", meta, 0o644); err != nil {
			return nil, u, fmt.Errorf("cache: %w", err)
		}
	}
	return out, u, nil
}

// timeExitCode reads the status GNU time reports for a child that
// exited non-zero or was killed by a signal (-1).
func timeExitCode(out string) (int, bool) {
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, "Command exited with non-zero status "); ok {
			n, err := strconv.Atoi(strings.TrimSpace(rest))
			return n, err == nil
		}
		if strings.HasPrefix(l, "Command terminated by signal") {
			return -1, true
		}
	}
	return 0, false
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" && !strings.HasPrefix(l, "Running as user") {
			return trunc(l, 160)
		}
	}
	return "(no message)"
}

// logError is the err of the last error sidewatch logged (JSON lines on
// stderr), with the file's path taken out so that errors group.
func logError(stderr, path string) string {
	msg := ""
	for _, l := range strings.Split(stderr, "\n") {
		var rec struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Err   string `json:"err"`
		}
		if json.Unmarshal([]byte(l), &rec) == nil && rec.Level == "ERROR" {
			msg = rec.Err
			if msg == "" {
				msg = rec.Msg
			}
		}
	}
	if msg == "" {
		return lastLine(stderr)
	}
	return trunc(strings.ReplaceAll(msg, path, "<file>"), 160)
}

func firstLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return trunc(l, 160)
		}
	}
	return lastLine(s)
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func pct(n, d int) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f %%", 100*float64(n)/float64(d))
}

func report(out io.Writer, c config, tsVersion string, results []fileResult) {
	fmt.Fprintf(out, "sidewatch %s vs %s, %d files\n\n", c.sidewatch, tsVersion, len(results))
	groups := map[string]*tally{}
	files := map[string]int{}
	var all tally
	var names []string
	for i := range results {
		r := &results[i]
		if groups[r.group] == nil {
			groups[r.group] = &tally{}
			names = append(names, r.group)
		}
		groups[r.group].add(r.tally)
		files[r.group]++
		all.add(r.tally)
	}
	sort.Strings(names)
	names = append(names, "all")
	groups["all"] = &all
	files["all"] = len(results)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "corpus\tfiles\tflows\tboth\texact\tpkts/dir\tbytes/dir\tonly tshark\tonly sidewatch\tcommunity_id\tclient side\t")
	for _, n := range names {
		g := groups[n]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t\n", n, files[n], g.flows, g.both,
			pct(g.exact, g.both), pct(g.pktsEqual, g.dirs), pct(g.bytesEqual, g.dirs), g.onlyTShark, g.onlySW,
			pct(g.cidEqual, g.cidChecked), pct(g.sideEqual, g.sideChecked))
	}
	tw.Flush()
	fmt.Fprintf(out, "\nexact flows: %d of %d seen by both (%s); of all %d flows: %s\n", all.exact, all.both, pct(all.exact, all.both), all.flows, pct(all.exact, all.flows))
	fmt.Fprintf(out, "packets in flows seen by both: tshark %d sidewatch %d; bytes: tshark %d sidewatch %d\n", all.pktsTShark, all.pktsSW, all.bytesTShark, all.bytesSW)
	fmt.Fprintf(out, "community_id equal %d of %d; client side equal %d of %d (tuples with one sidewatch record)\n", all.cidEqual, all.cidChecked, all.sideEqual, all.sideChecked)

	// Frames tshark showed that no flow counts, by reason.
	var fs frameStats
	nd := map[string]int{}
	var eve eveStats
	for i := range results {
		r := &results[i]
		fs.frames += r.frames.frames
		fs.attributed += r.frames.attributed
		fs.notDecoded += r.frames.notDecoded
		fs.fragments += r.frames.fragments
		fs.fragJoined += r.frames.fragJoined
		fs.icmpJoined += r.frames.icmpJoined
		fs.badLines += r.frames.badLines
		for k, v := range r.frames.notDecodedBy {
			nd[k] += v
		}
		eve.lines += r.eve.lines
		eve.flowEvents += r.eve.flowEvents
		eve.invalid += r.eve.invalid
	}
	fmt.Fprintf(out, "\ntshark frames: %d; in flows %d (fragments joined to their first %d, ICMP errors joined to their flow %d); fragments without a first %d; not decoded by sidewatch (by design) %d; unparsed lines %d\n",
		fs.frames, fs.attributed, fs.fragJoined, fs.icmpJoined, fs.fragments, fs.notDecoded, fs.badLines)
	fmt.Fprintf(out, "  not decoded, by first layer: %s\n", topCounts(nd, 12))
	fmt.Fprintf(out, "sidewatch output: %d lines, %d flow events, %d invalid\n", eve.lines, eve.flowEvents, eve.invalid)

	// Failures.
	swFail, tsFail := map[string]int{}, map[string]int{}
	var setup []string
	for i := range results {
		r := &results[i]
		if r.swFailure != "" {
			swFail[category(r.swFailure)]++
		}
		if r.tsFailure != "" {
			tsFail[category(r.tsFailure)]++
		}
		if r.setupError != nil {
			setup = append(setup, fmt.Sprintf("%s: %v", r.path, r.setupError))
		}
	}
	fmt.Fprintf(out, "\nsidewatch failures: %s\n", topCounts(swFail, 20))
	fmt.Fprintf(out, "tshark failures: %s\n", topCounts(tsFail, 20))
	for _, s := range setup {
		fmt.Fprintf(out, "comparison error: %s\n", s)
	}

	// Cost: over every file (start-up dominates small files) and over the
	// large ones, where reading the packets does.
	for _, part := range []struct {
		name    string
		minSize int64
	}{{"all files", 0}, {"files ≥ 1 MiB", 1 << 20}} {
		var swU, tsU []usage
		var bytes int64
		for i := range results {
			if results[i].size >= part.minSize {
				swU = append(swU, results[i].sw)
				tsU = append(tsU, results[i].ts)
				bytes += results[i].size
			}
		}
		if len(swU) == 0 {
			continue
		}
		sw, ts := sumUsage(swU), sumUsage(tsU)
		fmt.Fprintf(out, "\ncost, %s (%d, %d MB)\n", part.name, len(swU), bytes>>20)
		fmt.Fprintf(out, "                      wall        CPU         max RSS   median RSS\n")
		fmt.Fprintf(out, "sidewatch replay      %-11s %-11s %6d MB %6d MB\n", sw.wall.Round(time.Millisecond), sw.cpu.Round(time.Millisecond), sw.maxRSS/1024, sw.medianRSS/1024)
		fmt.Fprintf(out, "tshark                %-11s %-11s %6d MB %6d MB\n", ts.wall.Round(time.Millisecond), ts.cpu.Round(time.Millisecond), ts.maxRSS/1024, ts.medianRSS/1024)
		if sw.wall > 0 && sw.cpu > 0 && sw.medianRSS > 0 {
			fmt.Fprintf(out, "tshark/sidewatch      %-11s %-11s %6.1f×   %6.1f×\n", fmt.Sprintf("%.1f×", ts.wall.Seconds()/sw.wall.Seconds()), fmt.Sprintf("%.1f×", ts.cpu.Seconds()/sw.cpu.Seconds()),
				float64(ts.maxRSS)/float64(sw.maxRSS), float64(ts.medianRSS)/float64(sw.medianRSS))
		}
	}

	// Worst files.
	order := make([]int, 0, len(results))
	for i := range results {
		if len(results[i].bad) > 0 || results[i].swFailure != "" {
			order = append(order, i)
		}
	}
	sort.Slice(order, func(x, y int) bool {
		a, b := &results[order[x]], &results[order[y]]
		if len(a.bad) != len(b.bad) {
			return len(a.bad) > len(b.bad)
		}
		return a.path < b.path
	})
	fmt.Fprintf(out, "\n%d files with a mismatch or a sidewatch failure; the worst %d:\n", len(order), min(c.worst, len(order)))
	for n, i := range order {
		if n == c.worst && !c.verbose {
			break
		}
		r := &results[i]
		fmt.Fprintf(out, "%s: %d of %d flows differ", r.path, len(r.bad), r.tally.flows)
		if r.swFailure != "" {
			fmt.Fprintf(out, "; sidewatch %s", r.swFailure)
		}
		if r.tsFailure != "" {
			fmt.Fprintf(out, "; tshark %s", r.tsFailure)
		}
		fmt.Fprintln(out)
		limit := 3
		if c.verbose {
			limit = len(r.bad)
		}
		for _, m := range r.bad[:min(limit, len(r.bad))] {
			fmt.Fprintf(out, "    %s: %s %v\n", m.k, m.reason, m.chains)
		}
	}
}

// category is a failure without what varies from file to file (offsets,
// sizes), so that failures of one kind are counted together.
func category(s string) string {
	var b strings.Builder
	digits := false
	for _, r := range s {
		if r >= '0' && r <= '9' {
			if !digits {
				b.WriteByte('N')
			}
			digits = true
			continue
		}
		digits = false
		b.WriteRune(r)
	}
	return trunc(b.String(), 120)
}

func topCounts(m map[string]int, n int) string {
	type kv struct {
		k string
		v int
	}
	var s []kv
	for k, v := range m {
		s = append(s, kv{k, v})
	}
	sort.Slice(s, func(i, j int) bool {
		if s[i].v != s[j].v {
			return s[i].v > s[j].v
		}
		return s[i].k < s[j].k
	})
	var parts []string
	for i, x := range s {
		if i == n {
			parts = append(parts, fmt.Sprintf("… %d more", len(s)-n))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %d", x.k, x.v))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

type usageSum struct {
	wall, cpu         time.Duration
	maxRSS, medianRSS int64
}

func sumUsage(us []usage) usageSum {
	var s usageSum
	var rss []int64
	for _, u := range us {
		s.wall += u.Wall
		s.cpu += u.CPU
		s.maxRSS = max(s.maxRSS, u.MaxRSS)
		rss = append(rss, u.MaxRSS)
	}
	if len(rss) > 0 {
		sort.Slice(rss, func(i, j int) bool { return rss[i] < rss[j] })
		s.medianRSS = rss[len(rss)/2]
	}
	return s
}
