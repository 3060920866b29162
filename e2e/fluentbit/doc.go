// Package fluentbit runs the log_router recipes with the real Fluent Bit:
// a FireLens-shaped config (the ECS agent's own generator) patched by
// fluent-launch, records sent in as the ECS log driver sends them, and
// `sidewatch run` as the sidecar, each task in its own network namespace.
//
// The package holds only tests. They need root (ip netns) and Fluent Bit
// binaries, found through SIDEWATCH_FLUENT_BIT (5.x) and
// SIDEWATCH_FLUENT_BIT_1_9 (1.9.10, the line inside aws-for-fluent-bit 2.x),
// else fluent-bit-5.1.1 / fluent-bit and fluent-bit-1.9.10 on PATH; a
// version that is missing is skipped with a message.
// SIDEWATCH_FB_OUTAGE sets the length of the outage test (default 15s; the
// issue's figure is 60s); SIDEWATCH_FB_EMITTER_MEM overrides the recipe's
// Emitter_Mem_Buf_Limit there, to measure other values.
package fluentbit
