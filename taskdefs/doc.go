// Package taskdefs reads, patches and checks ECS task definitions so that a
// task runs the sidewatch sidecar and a FireLens log_router that copies
// every container's logs to it, and registers and deploys them.
//
// Everything but aws.go is pure: functions from one JSON document to
// another, keeping unknown fields and key order so patches diff cleanly.
package taskdefs
