// Package bounds checks numeric options against their limits, with errors
// that name the flag and its environment variable, so that no value given
// to sidewatch can panic or exhaust memory at startup.
package bounds

import (
	"fmt"
	"time"
)

// Integer is any integer option type.
type Integer interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 | ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

// Int returns nil if lo <= v <= hi, else an error such as
// "--queue-max-bytes (SIDEWATCH_QUEUE_MAX_BYTES) must be in [1048576, 8589934592], got 5".
func Int[T Integer](flag, env string, v, lo, hi T) error {
	if v >= lo && v <= hi {
		return nil
	}
	return fmt.Errorf("%s (%s) must be in [%d, %d], got %d", flag, env, lo, hi, v)
}

// Duration returns nil if lo <= v <= hi, else an error naming flag and env.
func Duration(flag, env string, v, lo, hi time.Duration) error {
	if v >= lo && v <= hi {
		return nil
	}
	return fmt.Errorf("%s (%s) must be in [%s, %s], got %s", flag, env, lo, hi, v)
}
