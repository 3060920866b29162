//go:build sidecaronly

package main

// TaskdefCommands is empty in the sidecar image's build: `sidewatch
// taskdef` runs on operators' machines, not in the task.
type TaskdefCommands struct{}
