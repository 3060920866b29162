// Command fluent-launch patches the FireLens Fluent Bit config and execs
// Fluent Bit; see docs/fluent-launch.md.
package main

import (
	"os"

	"github.com/sidewatch/sidewatch/launcher"
)

// version is set at build time with -ldflags "-X main.version=...".
var version string

func main() {
	os.Exit(launcher.Main(os.Args[1:], os.Stdout, os.Stderr, version))
}
