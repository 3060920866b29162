// Command tsharkcmp compares the flows of `sidewatch replay` with tshark's
// frames on a corpus of capture files (make compare-tshark CORPUS=dir).
//
// For each file it runs sidewatch replay and tshark (one line per frame),
// sums tshark's frames per bidirectional 5-tuple and direction as
// sidewatch's counting rules say (docs/flows.md), matches the flows of
// both by 5-tuple, and counts the flows both tools agree on, the
// per-direction packet and byte agreement, Community ID (tshark's own
// communityid post-dissector) and the client side, flows only one tool
// has, failures, and the time and peak memory of each tool. It prints a
// summary per corpus directory and the files with the most mismatches.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"time"
)

func main() {
	var c config
	flag.StringVar(&c.corpus, "corpus", "", "directory of capture files (read recursively)")
	flag.StringVar(&c.sidewatch, "sidewatch", "bin/sidewatch", "sidewatch binary")
	flag.StringVar(&c.tshark, "tshark", "tshark", "tshark binary")
	flag.StringVar(&c.cache, "cache", "", "directory to keep tshark's output in, keyed by file content and tshark version (reused by the next run)")
	flag.IntVar(&c.jobs, "j", max(1, runtime.NumCPU()/2), "files compared at once")
	flag.DurationVar(&c.timeout, "timeout", 2*time.Minute, "time limit of each tool on one file")
	flag.IntVar(&c.worst, "worst", 25, "files with the most mismatches to list")
	flag.BoolVar(&c.verbose, "v", false, "list every mismatched flow")
	flag.Parse()
	c.files = flag.Args()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tsharkcmp:", err)
		os.Exit(1)
	}
}
