package sidecar

import (
	"log/slog"

	"github.com/sidewatch/sidewatch/sidecar/metrics"
	"github.com/sidewatch/sidewatch/sidecar/rules"
)

// openRules loads the rule files and returns the detector the detection
// engine runs them as, and the watcher that reloads them. HOME_NET
// defaults to the task's own addresses.
func openRules(cfg rules.Config, reg *metrics.Registry, log *slog.Logger) (*rules.Detector, *rules.Watcher, error) {
	home, err := rules.TaskAddresses()
	if err != nil {
		log.Warn("rules: HOME_NET falls back to Suricata's default", "err", err)
	}
	engine := rules.NewEngine(rules.EngineConfig{MaxThresholds: cfg.MaxThresholds, MaxFlows: cfg.MaxFlows}, reg)
	w, err := rules.NewWatcher(cfg, home, nil, engine, reg, func(rep *rules.Report, err error) {
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

// logRulesReport logs a load's totals, and each rule that did not parse.
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
}
