package capture

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sidewatch/sidewatch/sidecar/flow"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

// TestInterfacesLookup checks the index-to-name map against net.Interfaces
// and that unknown indexes refresh the list at most once a second. It needs
// no privilege: any process may list the links of its namespace.
func TestInterfacesLookup(t *testing.T) {
	s := interfaces{fd: -1}
	if err := s.refresh(); err != nil {
		t.Fatal(err)
	}
	defer s.close()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	refreshes := metrics.New().Counter("test", "refreshes_total", "")
	now := time.Unix(1_700_000_000, 0)
	for _, want := range ifs {
		got, ok := s.lookup(want.Index, now, refreshes)
		if !ok || got.name != want.Name {
			t.Errorf("lookup(%d) = %q, %v, want %q, true", want.Index, got.name, ok, want.Name)
		}
		if want.Flags&net.FlagLoopback != 0 && got.link != flow.LinkTypeEthernet {
			t.Errorf("lookup(%d) link = %v, want Ethernet for loopback", want.Index, got.link)
		}
	}
	if n := refreshes.Load(); n != 0 {
		t.Errorf("known indexes caused %d refreshes, want 0", n)
	}
	const unknown = 1 << 30
	for i, step := range []struct {
		after time.Duration
		want  uint64
	}{{0, 1}, {500 * time.Millisecond, 1}, {1500 * time.Millisecond, 2}} {
		if _, ok := s.lookup(unknown, now.Add(step.after), refreshes); ok {
			t.Fatalf("lookup(%d) found an interface", unknown)
		}
		if got := refreshes.Load(); got != step.want {
			t.Errorf("step %d (+%v): %d refreshes, want %d", i, step.after, got, step.want)
		}
	}
}

func TestLinkType(t *testing.T) {
	tests := []struct {
		name   string
		arphrd uint16
		want   flow.LinkType
	}{
		{"ether", unix.ARPHRD_ETHER, flow.LinkTypeEthernet},
		{"loopback", unix.ARPHRD_LOOPBACK, flow.LinkTypeEthernet},
		{"tun", unix.ARPHRD_NONE, flow.LinkTypeRaw},
		{"ipip", unix.ARPHRD_TUNNEL, flow.LinkTypeRaw},
		{"infiniband", unix.ARPHRD_INFINIBAND, 0},
		{"ieee80211_radiotap", unix.ARPHRD_IEEE80211_RADIOTAP, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := linkType(tc.arphrd); got != tc.want {
				t.Errorf("linkType(%d) = %v, want %v", tc.arphrd, got, tc.want)
			}
		})
	}
}
