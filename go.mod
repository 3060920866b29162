module github.com/sidewatch/sidewatch

go 1.26

require (
	github.com/google/go-cmp v0.7.0
	github.com/opencontainers/runtime-spec v1.3.0
)
