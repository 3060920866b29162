package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sidewatch/sidewatch/sidecar/detect"
	"github.com/sidewatch/sidewatch/sidecar/rules"
)

// rulesCmd groups the rule tooling.
type rulesCmd struct {
	Check rulesCheckCmd `cmd:"" help:"Load Suricata-format rule files and report what loads, what is unsupported (by keyword) and what does not parse."`
}

// rulesCheckCmd is `sidewatch rules check FILE...`.
type rulesCheckCmd struct {
	Files          []string `arg:"" name:"file" type:"path" help:"Rule files, or directories of *.rules files."`
	Vars           []string `name:"var" placeholder:"NAME=VALUE" help:"Rule variables (HOME_NET, HTTP_PORTS, ...); Suricata's defaults otherwise."`
	Classification string   `name:"classification" type:"existingfile" placeholder:"FILE" help:"classification.config to use instead of the built-in table."`
	IntelFiles     []string `name:"intel-files" sep:"," type:"existingfile" placeholder:"FILE" help:"The intel files run gets with --detect-intel-files: dataset and iprep may name them (by base name)."`
	Verbose        bool     `short:"v" help:"List every unsupported rule with its sid and reason."`
	ByFile         bool     `name:"by-file" help:"Also print parsed, loaded and unsupported counts per file."`
}

// errSyntax makes the command exit non-zero after printing its report.
var errSyntax = errors.New("some rules do not parse")

func (c *rulesCheckCmd) Run(e *env) error {
	cfg := rules.Config{Vars: c.Vars, Classification: c.Classification}
	opt, err := cfg.Options("")
	if err != nil {
		return err
	}
	// The lists run would have: the detection engine's, with these files.
	dc := detect.DefaultConfig()
	dc.Intel.Files = c.IntelFiles
	eng, err := detect.New(dc, nil, nil, detect.Options{})
	if err != nil {
		return err
	}
	opt.Lists = rules.IntelLists(eng)
	set, err := rules.Load(c.Files, opt)
	if err != nil {
		return err
	}
	writeRulesReport(e.stdout, &set.Report, c.Verbose, c.ByFile)
	if len(set.Report.Errors) > 0 {
		return fmt.Errorf("%w: %d errors", errSyntax, len(set.Report.Errors))
	}
	return nil
}

func writeRulesReport(w io.Writer, rep *rules.Report, verbose, byFile bool) {
	fmt.Fprintf(w, "files: %d\n", len(rep.Files))
	fmt.Fprintf(w, "parsed: %d\n", rep.Parsed)
	fmt.Fprintf(w, "loaded: %d\n", rep.Loaded)
	fmt.Fprintf(w, "unsupported: %d\n", len(rep.Unsupported))
	byKw := rep.UnsupportedByKeyword()
	kws := make([]string, 0, len(byKw))
	for k := range byKw {
		kws = append(kws, k)
	}
	slices.SortFunc(kws, func(a, b string) int {
		if byKw[a] != byKw[b] {
			return byKw[b] - byKw[a]
		}
		return strings.Compare(a, b)
	})
	for _, k := range kws {
		fmt.Fprintf(w, "  %-24s %d\n", k, byKw[k])
	}
	fmt.Fprintf(w, "errors: %d\n", len(rep.Errors))
	for _, err := range rep.Errors {
		fmt.Fprintf(w, "  %v\n", err)
	}
	fmt.Fprintf(w, "disabled (commented out, not checked): %d\n", rep.Disabled)
	if verbose {
		fmt.Fprintln(w, "unsupported rules:")
		for _, u := range rep.Unsupported {
			fmt.Fprintf(w, "  %v\n", u)
		}
	}
	if byFile {
		type counts struct{ loaded, unsupported, errors int }
		per := map[string]*counts{}
		for _, f := range rep.Files {
			per[f] = &counts{}
		}
		for _, f := range rep.LoadedByFile() {
			per[f.File].loaded = f.Rules
		}
		for _, u := range rep.Unsupported {
			per[u.File].unsupported++
		}
		for _, e := range rep.Errors {
			per[e.File].errors++
		}
		fmt.Fprintln(w, "by file (loaded/unsupported/errors):")
		for _, f := range rep.Files {
			p := per[f]
			fmt.Fprintf(w, "  %-40s %6d %6d %6d\n", filepath.Base(f), p.loaded, p.unsupported, p.errors)
		}
	}
}
