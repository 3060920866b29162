// Command fakefluentbit stands in for /fluent-bit/bin/fluent-bit in the task
// simulation: it prints one JSON line with its argv, pid, uid and the size of
// the config it was given with -c, then waits for SIGTERM or SIGINT and exits 0,
// as Fluent Bit does on a clean stop.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// record is what the e2e test reads back from the container's stdout.
type record struct {
	Argv        []string `json:"argv"`
	PID         int      `json:"pid"`
	UID         int      `json:"uid"`
	Config      string   `json:"config"`
	ConfigBytes int      `json:"config_bytes"`
	ConfigError string   `json:"config_error,omitempty"`
}

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)

	r := record{Argv: os.Args, PID: os.Getpid(), UID: os.Getuid()}
	for i := 1; i+1 < len(os.Args); i++ {
		if os.Args[i] == "-c" {
			r.Config = os.Args[i+1]
			break
		}
	}
	if r.Config != "" {
		b, err := os.ReadFile(r.Config)
		r.ConfigBytes = len(b)
		if err != nil {
			r.ConfigError = err.Error()
		}
	}
	line, err := json.Marshal(r)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(string(line))

	sig := <-stop
	fmt.Printf("{\"signal\":%q}\n", sig.String())
}
