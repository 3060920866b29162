// Package msgpackcmp measures the msgpack libraries the forward receiver
// could have used against the same chunk (../testdata/chunk.msgpack) doing
// the same work per record as the receiver's own decoder: read the time
// and the record, take log, source, container and FireLens keys as
// strings, and write every other key as JSON. It is a separate module so
// that sidewatch itself depends on neither library; `make bench-msgpack`
// runs it beside the receiver's BenchmarkDecode.
package msgpackcmp
