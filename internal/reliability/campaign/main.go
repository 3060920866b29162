// Command campaign runs issue 10's reliability scenarios at the issue's
// sizes against a built sidewatch and prints one table row each, for
// `make reliability`. Scenarios that need root (AF_PACKET, --user) are
// skipped with a note otherwise.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/sidewatch/sidewatch/internal/reliability"
)

func main() {
	bin := flag.String("bin", "bin/sidewatch", "sidewatch binary")
	only := flag.String("only", "", "run only the scenarios whose row number is listed (comma-separated: 1,2,5)")
	flag.Parse()
	dir, err := os.MkdirTemp("", "sidewatch-reliability")
	if err != nil {
		fmt.Fprintln(os.Stderr, "campaign:", err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	e := &reliability.Env{Bin: *bin, Dir: dir}
	root := os.Geteuid() == 0
	scenarios := []struct {
		row  string
		root bool
		run  func() (reliability.Row, error)
	}{
		{"1", false, func() (reliability.Row, error) { return e.Drain(100_000, 2_000_000, reliability.DefaultShutdown) }},
		{"2", false, func() (reliability.Row, error) { return e.StalledSink(1500, 16, 32<<20) }},
		{"3", false, func() (reliability.Row, error) { return e.Kill9(12) }},
		{"4", false, func() (reliability.Row, error) { return e.BrokenStdout(20_000) }},
		{"5", false, func() (reliability.Row, error) { return e.SlowConns(100, 10, 8000) }},
		{"6", false, func() (reliability.Row, error) { return e.UDPLoss(200_000, 0, false) }},
		{"7", true, func() (reliability.Row, error) { return e.Flows(65_536, 2_000_000) }},
		{"8", false, func() (reliability.Row, error) { return e.Sequential(30_000, 2_000_000) }},
		{"9", true, e.UserDir},
		{"11", false, e.Bounds},
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "scenario\tsent\tacked\twritten\tlost\tcounted\tpeak RSS\texit\t")
	var notes []string
	for _, s := range scenarios {
		if *only != "" && !strings.Contains(","+*only+",", ","+s.row+",") {
			continue
		}
		if s.root && !root {
			notes = append(notes, fmt.Sprintf("row %s: skipped, needs root", s.row))
			continue
		}
		r, err := s.run()
		if err != nil {
			notes = append(notes, fmt.Sprintf("row %s (%s): error: %v", s.row, r.Scenario, err))
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d MiB\t%d\t\n", r.Scenario, r.Sent, r.Acked, r.Written, r.Lost, r.Counted, r.PeakRSS>>20, r.Exit)
		w.Flush()
		for _, n := range r.Notes {
			notes = append(notes, fmt.Sprintf("row %s: %s", s.row, n))
		}
	}
	w.Flush()
	fmt.Println()
	for _, n := range notes {
		fmt.Println(n)
	}
}
