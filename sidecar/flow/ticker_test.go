package flow

import (
	"fmt"
	"testing"
	"time"
)

// countingTicker records the packet counts the table shows each call and
// the clock it is given.
type countingTicker struct {
	counts []string
	ticks  []time.Time
}

func (c *countingTicker) Inspect(e *Entry, p *Packet) {
	c.counts = append(c.counts, fmt.Sprintf("%s %d/%d", p.Direction, e.Packets(ToServer), e.Packets(ToClient)))
}

func (c *countingTicker) Expire(*Entry) {}

func (c *countingTicker) Tick(now time.Time) { c.ticks = append(c.ticks, now) }

func TestTickerAndPackets(t *testing.T) {
	in := &countingTicker{}
	tab := NewTable(DefaultConfig(), &recorder{}, nil, in)
	feed(t, tab, t0, tcpSession("10.0.0.1", "10.0.0.2", 40000, 80)[:3])
	want := []string{"to_server 1/0", "to_client 1/1", "to_server 2/1"}
	if fmt.Sprint(in.counts) != fmt.Sprint(want) {
		t.Errorf("Packets seen in Inspect = %v, want %v", in.counts, want)
	}
	tab.Expire(t0.Add(time.Second))
	tab.Expire(t0.Add(2 * time.Second))
	if len(in.ticks) != 2 || !in.ticks[1].Equal(t0.Add(2*time.Second)) {
		t.Errorf("ticks = %v, want the two Expire times", in.ticks)
	}
}
