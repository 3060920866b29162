package sidecar

import (
	"log/slog"

	"github.com/sidewatch/sidewatch/sidecar/detect"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
	"github.com/sidewatch/sidewatch/sidecar/rules"
)

// OpenRules loads the rule files and returns the detector the detection
// engine runs them as, and the watcher that reloads them (run as a
// service; `sidewatch replay` loads once and does not run it). HOME_NET is the
// engine's home (--home-net, else the task's addresses) at each load;
// dataset and iprep use the engine's intel lists.
func OpenRules(cfg rules.Config, eng *detect.Engine, reg *metrics.Registry, log *slog.Logger) (*rules.Detector, *rules.Watcher, error) {
	engine := rules.NewEngine(rules.EngineConfig{MaxThresholds: cfg.MaxThresholds, MaxFlows: cfg.MaxFlows}, reg)
	home := func() string { return rules.HomeVar(eng.HomeNet()) }
	w, err := rules.NewWatcher(cfg, home, rules.IntelLists(eng), engine, reg, func(rep *rules.Report, err error) {
		if err != nil {
			log.Error("rules reload failed; the rules in force stay", "err", err)
			return
		}
		logRulesReport(log, rep)
	})
	if err != nil {
		return nil, nil, err
	}
	return rules.NewDetector(engine), w, nil
}

// logRulesReport logs a load's totals, each rule that did not parse, and
// each rule skipped for its dataset or iprep (most often a list name that
// is not an intel file's: a configuration mistake worth a line each).
func logRulesReport(log *slog.Logger, rep *rules.Report) {
	log.Info("rules loaded", "files", len(rep.Files), "parsed", rep.Parsed, "loaded", rep.Loaded,
		"unsupported", len(rep.Unsupported), "unsupported_by_keyword", rep.UnsupportedByKeyword(), "errors", len(rep.Errors))
	if rep.Loaded == 0 {
		log.Warn("rules: --rules loaded no rule", "files", rep.Files)
	}
	const maxLogged = 20
	for i, e := range rep.Errors {
		if i == maxLogged {
			log.Warn("more rules do not parse; run `sidewatch rules check`", "more", len(rep.Errors)-maxLogged)
			break
		}
		log.Warn("rule does not parse", "err", e.Error())
	}
	n := 0
	for _, u := range rep.Unsupported {
		if u.Keyword != "dataset" && u.Keyword != "iprep" {
			continue
		}
		if n++; n > maxLogged {
			log.Warn("more rules skipped for their lists; run `sidewatch rules check -v`")
			break
		}
		log.Warn("rule skipped", "reason", u.Error())
	}
}
