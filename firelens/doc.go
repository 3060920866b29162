// Package firelens is the contract between the FireLens log_router (Fluent
// Bit) and the sidecar: the Fluent Bit classic config model that
// fluent-launch patches, the syslog output the log_router uses to copy every
// record to the sidecar, and the log record that arrives.
package firelens
