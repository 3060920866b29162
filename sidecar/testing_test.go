package sidecar

import (
	"github.com/sidewatch/sidewatch/sidecar/forward"
	"github.com/sidewatch/sidewatch/sidecar/syslog"
)

// disableRootComponents turns off the producers that need root or fixed
// ports, for tests of the wiring itself.
func disableRootComponents(c Config) Config {
	c.NoCapture = true
	c.Syslog = syslog.DefaultConfig()
	c.Syslog.TCPAddr, c.Syslog.UDPAddr = "127.0.0.1:0", "127.0.0.1:0"
	c.Forward = forward.DefaultConfig()
	c.Forward.TCPAddr = "127.0.0.1:0"
	return c
}
