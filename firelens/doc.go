// Package firelens is the contract between the FireLens log_router (Fluent
// Bit) and the sidecar: the Fluent Bit classic config model that
// fluent-launch patches, the two recipes that copy every record to the
// sidecar (ForwardRecipe, the default: forward protocol with
// acknowledgements; SyslogOutput, the Alert Logic-compatible one), the
// forward shared key kept in the shared volume, and the syslog record that
// arrives.
package firelens
