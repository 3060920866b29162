// Command sender writes syslog lines shaped like Fluent Bit's RFC 3164
// output (213 bytes each with the newline) to a TCP address, as fast as it can or at
// a fixed rate, for `make bench-syslog`.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:1514", "receiver TCP address")
	n := flag.Int("n", 1000000, "lines to send in total")
	conns := flag.Int("conns", 1, "connections, each sending n/conns lines")
	rate := flag.Int("rate", 0, "lines per second over all connections (0: as fast as possible)")
	flag.Parse()
	if err := send(*addr, *n, *conns, *rate); err != nil {
		fmt.Fprintln(os.Stderr, "sender:", err)
		os.Exit(1)
	}
}

func send(addr string, n, conns, rate int) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for c := range conns {
		count := n / conns
		if c < n%conns {
			count++
		}
		wg.Go(func() {
			if err := sendConn(addr, c, count, rate/conns); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

func sendConn(addr string, id, count, rate int) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	w := bufio.NewWriterSize(c, 64<<10)
	stamp := time.Now().UTC().Format(time.Stamp)
	pad := strings.Repeat(".", 60)
	start := time.Now()
	for i := range count {
		fmt.Fprintf(w, "<14>%s cd189a933e5849daa93386466019ab50-%010d web[1]: 10.0.1.23 - - \"GET /api/v1/items?page=2 HTTP/1.1\" 200 5123 conn=%d seq=%09d %s\n", stamp, id, id, i, pad)
		if rate > 0 && i%100 == 99 {
			w.Flush()
			if ahead := time.Duration(i+1)*time.Second/time.Duration(rate) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
		}
	}
	return w.Flush()
}
