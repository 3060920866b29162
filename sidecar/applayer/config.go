package applayer

import (
	"errors"
	"fmt"

	"github.com/sidewatch/sidewatch/sidecar/reassembly"
)

// Config switches the protocols and sizes the reassembly budgets. Every
// field is a flag and a SIDEWATCH_APP_* variable; the defaults are those
// of DefaultConfig.
type Config struct {
	DNS       bool `name:"app-dns" env:"SIDEWATCH_APP_DNS" default:"true" negatable:"" help:"Write dns events (DNS over UDP and TCP). Off, flows are still labelled app_proto dns."`
	TLS       bool `name:"app-tls" env:"SIDEWATCH_APP_TLS" default:"true" negatable:"" help:"Write tls events (SNI, certificate, JA3/JA3S/JA4). Off, flows are still labelled app_proto tls."`
	HTTP      bool `name:"app-http" env:"SIDEWATCH_APP_HTTP" default:"true" negatable:"" help:"Write http events (HTTP/1.x requests and responses). Off, flows are still labelled app_proto http."`
	SSH       bool `name:"app-ssh" env:"SIDEWATCH_APP_SSH" default:"true" negatable:"" help:"Write ssh events (identification strings, HASSH). Off, flows are still labelled app_proto ssh."`
	StreamKiB int  `name:"app-stream-kib" env:"SIDEWATCH_APP_STREAM_KIB" default:"32" help:"Bytes one TCP direction may hold for reassembly (segments out of order, a message not yet complete), in KiB. A message head larger than this is not parsed (counted)."`
	MemoryMiB int  `name:"app-memory-mib" env:"SIDEWATCH_APP_MEMORY_MIB" default:"16" help:"Reassembly buffers of all connections together, in MiB; beyond it bytes are skipped (counted)."`
}

// DefaultConfig returns the defaults the kong tags declare.
func DefaultConfig() Config {
	return Config{DNS: true, TLS: true, HTTP: true, SSH: true, StreamKiB: 32, MemoryMiB: 16}
}

// Enabled reports whether any protocol is on; with none, the app layer
// is not installed at all (flows then carry no app_proto).
func (c Config) Enabled() bool { return c.DNS || c.TLS || c.HTTP || c.SSH }

// Validate checks the budgets, naming the flag and variable.
func (c Config) Validate() error {
	var errs []error
	if c.StreamKiB < 2 || c.StreamKiB > 16<<10 {
		errs = append(errs, fmt.Errorf("--app-stream-kib (SIDEWATCH_APP_STREAM_KIB) must be between 2 and 16384, got %d", c.StreamKiB))
	}
	if c.MemoryMiB < 1 || c.MemoryMiB > 1<<20 {
		errs = append(errs, fmt.Errorf("--app-memory-mib (SIDEWATCH_APP_MEMORY_MIB) must be between 1 and 1048576, got %d", c.MemoryMiB))
	} else if c.StreamKiB > 0 && int64(c.MemoryMiB)<<20 < int64(c.StreamKiB)<<10 {
		errs = append(errs, fmt.Errorf("--app-memory-mib (SIDEWATCH_APP_MEMORY_MIB) %d MiB is less than one direction's --app-stream-kib (SIDEWATCH_APP_STREAM_KIB) %d KiB", c.MemoryMiB, c.StreamKiB))
	}
	return errors.Join(errs...)
}

// reassembly returns the reassembly budgets.
func (c Config) reassembly() reassembly.Config {
	return reassembly.Config{StreamBytes: c.StreamKiB << 10, MemoryBytes: int64(c.MemoryMiB) << 20}
}
