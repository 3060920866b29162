package rules

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// Watcher keeps an Engine's rules in step with the rule files: it loads
// them at start, then reloads when a file changes (checked every
// Config.Reload) or on SIGHUP. A reload builds the new set beside the old
// one and swaps it in; events keep being matched throughout, and a reload
// that fails (a file gone) keeps the rules in force.
type Watcher struct {
	cfg      Config
	home     func() string
	lists    Lists
	engine   *Engine
	onReload func(*Report, error)
	stamp    string

	reloads, failures *metrics.Counter
	unsupported       *metrics.Gauge
	errors            *metrics.Gauge
}

// NewWatcher loads the rules of cfg into engine. home gives HOME_NET's
// value at each load ("" or a nil home: Suricata's default), so that a
// reload follows the task's addresses; lists back dataset and iprep (may
// be nil). onReload is called after each load with its report, or the
// error that kept the old rules (it may be nil).
func NewWatcher(cfg Config, home func() string, lists Lists, engine *Engine, reg *metrics.Registry, onReload func(*Report, error)) (*Watcher, error) {
	w := &Watcher{cfg: cfg, home: home, lists: lists, engine: engine, onReload: onReload}
	w.reloads = reg.Counter("rules", "reloads_total", "Rule reloads that put a new set in force.")
	w.failures = reg.Counter("rules", "reload_failures_total", "Rule reloads that failed and kept the rules in force.")
	w.unsupported = reg.Gauge("rules", "unsupported", "Rules of the set in force skipped as outside the supported subset.")
	w.errors = reg.Gauge("rules", "errors", "Rules of the set in force skipped because they do not parse.")
	if err := w.load(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Watcher) load() error {
	stamp, err := w.fingerprint()
	if err != nil {
		return err
	}
	home := ""
	if w.home != nil {
		home = w.home()
	}
	opt, err := w.cfg.Options(home)
	if err != nil {
		return err
	}
	opt.Lists = w.lists
	set, err := Load(w.cfg.Files, opt)
	if err != nil {
		return err
	}
	w.engine.Swap(set)
	w.stamp = stamp
	w.unsupported.Set(int64(len(set.Report.Unsupported)))
	w.errors.Set(int64(len(set.Report.Errors)))
	if w.onReload != nil {
		w.onReload(&set.Report, nil)
	}
	return nil
}

// Reload loads the rules again now.
func (w *Watcher) Reload() error {
	if err := w.load(); err != nil {
		w.failures.Inc()
		if w.onReload != nil {
			w.onReload(nil, err)
		}
		return err
	}
	w.reloads.Inc()
	return nil
}

// Run reloads on SIGHUP and when the files change, until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var tick <-chan time.Time
	if w.cfg.Reload > 0 {
		t := time.NewTicker(w.cfg.Reload)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			w.Reload()
		case <-tick:
			if stamp, err := w.fingerprint(); err != nil || stamp != w.stamp {
				w.Reload()
			}
		}
	}
}

// fingerprint names every rule and classification file with its size and
// modification time: any edit, addition or removal changes it.
func (w *Watcher) fingerprint() (string, error) {
	var files []string
	for _, p := range w.cfg.Files {
		st, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("rules: %w", err)
		}
		if st.IsDir() {
			m, _ := filepath.Glob(filepath.Join(p, "*.rules"))
			files = append(files, m...)
		} else {
			files = append(files, p)
		}
	}
	if w.cfg.Classification != "" {
		files = append(files, w.cfg.Classification)
	}
	slices.Sort(files)
	var b []byte
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return "", fmt.Errorf("rules: %w", err)
		}
		b = fmt.Appendf(b, "%s\x00%d\x00%d\n", f, st.Size(), st.ModTime().UnixNano())
	}
	return string(b), nil
}
