// Command fluent-launch patches the FireLens Fluent Bit config and execs
// Fluent Bit; see docs/fluent-launch.md.
package main

import (
	"os"

	"github.com/sidewatch/sidewatch/launcher"
)

func main() {
	os.Exit(launcher.Main(os.Args[1:], os.Stdout, os.Stderr))
}
