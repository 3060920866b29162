// Package e2e runs the sidecar image the way ECS Fargate runs a task: built
// from the Dockerfile with buildah, unpacked with umoci and started with runc
// in one network namespace, with Docker's default capabilities, next to a
// log_router that starts fluent-launch from the shared volume and, where
// Fluent Bit 5.x is installed (SIDEWATCH_FLUENT_BIT, fluent-bit-5.1.1 or
// fluent-bit on PATH), execs the real Fluent Bit with the forward recipe.
//
// The package holds only tests. They need root, buildah, umoci, runc, ip,
// logger, curl and ping, and skip with a message naming what is missing. Set
// SIDEWATCH_E2E_IMAGE to an OCI layout reference (dist/oci:<tag>-amd64 from
// make image) to test that image instead of building one.
package e2e
