package bounds

import (
	"testing"
	"time"
)

func TestBounds(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"int_in_range", Int("--n", "N", 5, 1, 10), ""},
		{"int_low", Int("--n", "N", 0, 1, 10), "--n (N) must be in [1, 10], got 0"},
		{"int_high", Int("--n", "N", int64(1)<<40, 1, 10), "--n (N) must be in [1, 10], got 1099511627776"},
		{"int_edges", Int("--n", "N", uint16(10), 10, 10), ""},
		{"duration_in_range", Duration("--d", "D", time.Second, 0, time.Minute), ""},
		{"duration_high", Duration("--d", "D", time.Hour, 0, time.Minute), "--d (D) must be in [0s, 1m0s], got 1h0m0s"},
		{"duration_negative", Duration("--d", "D", -time.Second, 0, time.Minute), "--d (D) must be in [0s, 1m0s], got -1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if tt.err != nil {
				got = tt.err.Error()
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
