package http

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	nethttp "net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// message is what walk reports: a head's start line and the body length
// of the message it began.
type message struct {
	Start   string
	BodyLen int64
}

// walk feeds b to a Stream in chunks of size, keeping what Next leaves
// unconsumed as a reassembler would, and sets each message's framing with
// frame. It closes the stream at the end.
func walk(t *testing.T, b []byte, size int, frame func(head []byte, s *Stream)) []message {
	t.Helper()
	var s Stream
	var held []byte
	var out []message
	step := func() {
		for {
			it, n, err := s.Next(held)
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if n < 0 || n > len(held) {
				t.Fatalf("consumed %d of %d", n, len(held))
			}
			switch it.Kind {
			case KindHead:
				line, _, _ := strings.Cut(string(it.Head), "\n")
				line = strings.TrimSuffix(line, "\r")
				out = append(out, message{Start: line})
				frame(it.Head, &s)
			case KindEnd:
				out[len(out)-1].BodyLen = it.BodyLen
			}
			held = held[n:]
			if it.Kind == KindNone {
				return
			}
		}
	}
	for len(b) > 0 {
		n := min(size, len(b))
		held = append(held, b[:n]...)
		b = b[n:]
		step()
	}
	if end, cut := s.Close(); end.Kind == KindEnd {
		out[len(out)-1].BodyLen = end.BodyLen
	} else if cut {
		out = append(out, message{Start: "(cut)", BodyLen: end.BodyLen})
	}
	return out
}

func requestFraming(t *testing.T) func([]byte, *Stream) {
	return func(head []byte, s *Stream) {
		var r Request
		if err := ParseRequest(head, &r); err != nil {
			t.Fatalf("ParseRequest(%q): %v", head, err)
		}
		s.Body(r.Framing())
	}
}

// responseFraming frames responses to the given request methods in turn.
func responseFraming(t *testing.T, methods ...string) func([]byte, *Stream) {
	return func(head []byte, s *Stream) {
		var r Response
		if err := ParseResponse(head, &r); err != nil {
			t.Fatalf("ParseResponse(%q): %v", head, err)
		}
		f, n, tunnel := r.Framing([]byte(methods[0]))
		if tunnel {
			s.Tunnel()
			return
		}
		if !r.Interim() {
			methods = methods[1:]
		}
		s.Body(f, n)
	}
}

func TestRequestStream(t *testing.T) {
	pipelined := "GET /a HTTP/1.1\r\nHost: x\r\n\r\n" +
		"\r\n" + // a stray empty line between messages is allowed
		"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world" +
		"PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n" +
		"DELETE /d HTTP/1.0\nHost: x\n\n"
	want := []message{{"GET /a HTTP/1.1", 0}, {"POST /b HTTP/1.1", 11}, {"PUT /c HTTP/1.1", 11}, {"DELETE /d HTTP/1.0", 0}}
	for _, size := range []int{1, 2, 5, 13, 64, 1 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			got := walk(t, []byte(pipelined), size, requestFraming(t))
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("messages %v, want %v", got, want)
			}
		})
	}
}

func TestResponseStream(t *testing.T) {
	conversation := "HTTP/1.1 100 Continue\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" +
		"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n" + // to a HEAD: no body
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
		"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + strings.Repeat("z", 5000)
	want := []message{{"HTTP/1.1 100 Continue", 0}, {"HTTP/1.1 200 OK", 5}, {"HTTP/1.1 200 OK", 0}, {"HTTP/1.1 304 Not Modified", 0}, {"HTTP/1.1 200 OK", 3}, {"HTTP/1.0 200 OK", 5000}}
	for _, size := range []int{1, 3, 100, 1 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			got := walk(t, []byte(conversation), size, responseFraming(t, "POST", "HEAD", "GET", "GET", "GET"))
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("messages %v, want %v", got, want)
			}
		})
	}
}

func TestResponseStreamTunnel(t *testing.T) {
	b := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello HTTP/1.1 200 OK\r\n\r\n"
	got := walk(t, []byte(b), 10, responseFraming(t, "GET"))
	if want := []message{{"HTTP/1.1 101 Switching Protocols", 0}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("messages %v, want %v (nothing parsed after the upgrade)", got, want)
	}
}

func TestStreamCut(t *testing.T) {
	got := walk(t, []byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"), 1<<20, responseFraming(t, "GET"))
	want := []message{{"HTTP/1.1 200 OK", 0}, {"(cut)", 5}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("messages %v, want %v", got, want)
	}
}

func TestStreamErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		frame Framing
		want  error
	}{
		{"bad_chunk_size", "HTTP/1.1 200 OK\r\n\r\nzz\r\n", Chunked, ErrBadChunk},
		{"chunk_without_crlf", "HTTP/1.1 200 OK\r\n\r\n3\r\nabcXY", Chunked, ErrBadChunk},
		{"huge_chunk_size", "HTTP/1.1 200 OK\r\n\r\nffffffffffffffff\r\n", Chunked, ErrBadChunk},
		{"head_too_long", "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", MaxHeadLen), NoBody, ErrHeadTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Stream
			b := []byte(tt.input)
			var err error
			for {
				var it Item
				var n int
				it, n, err = s.Next(b)
				b = b[n:]
				if err != nil || it.Kind == KindNone {
					break
				}
				if it.Kind == KindHead {
					s.Body(tt.frame, 0)
				}
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Next = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestGap(t *testing.T) {
	var s Stream
	if s.Gap(10) {
		t.Error("Gap in a head = true, want false")
	}
	s = Stream{}
	b := []byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
	it, n, _ := s.Next(b)
	if it.Kind != KindHead {
		t.Fatal(it)
	}
	s.Body(Length, 100)
	if _, m, _ := s.Next(b[n:]); m != 10 {
		t.Fatalf("consumed %d body bytes, want 10", m)
	}
	if !s.Gap(80) {
		t.Fatal("Gap of 80 inside a 100-byte body = false")
	}
	if s.Gap(20) {
		t.Error("Gap of 20 with 10 body bytes left = true, want false")
	}
	it, _, _ = s.Next([]byte("0123456789"))
	if it.Kind != KindEnd || it.BodyLen != 100 {
		t.Errorf("after the gap: %+v, want the end of a 100-byte body", it)
	}
}

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name string
		head string
		want Request
	}{
		{"curl", "GET /v2/credentials/abc?x=1 HTTP/1.1\r\nHost: 169.254.170.2\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n",
			Request{Method: []byte("GET"), URI: []byte("/v2/credentials/abc?x=1"), Protocol: []byte("HTTP/1.1"), Host: []byte("169.254.170.2"), UserAgent: []byte("curl/7.88.1"), ContentLength: -1}},
		{"header_case_and_spaces", "POST /f HTTP/1.0\r\nhOsT:   example.com:8080 \r\nREFERER: http://a/\r\nx-forwarded-for: 10.0.0.1, 10.0.0.2\r\nContent-Length: 3\r\ncontent-length: 3\r\n",
			Request{Method: []byte("POST"), URI: []byte("/f"), Protocol: []byte("HTTP/1.0"), Host: []byte("example.com:8080"), Referer: []byte("http://a/"), XFF: []byte("10.0.0.1, 10.0.0.2"), ContentLength: 3}},
		{"absolute_form_names_the_host", "GET http://user@proxied.example:81/p?q HTTP/1.1\r\nHost: other\r\n",
			Request{Method: []byte("GET"), URI: []byte("http://user@proxied.example:81/p?q"), Protocol: []byte("HTTP/1.1"), Host: []byte("proxied.example:81"), ContentLength: -1}},
		{"chunked", "PUT /u HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\nContent-Length: 5\r\n",
			Request{Method: []byte("PUT"), URI: []byte("/u"), Protocol: []byte("HTTP/1.1"), ContentLength: 5, Chunked: true}},
		{"uri_with_space", "GET /a b HTTP/1.1\r\n",
			Request{Method: []byte("GET"), URI: []byte("/a b"), Protocol: []byte("HTTP/1.1"), ContentLength: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			if err := ParseRequest([]byte(tt.head), &r); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, r, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ParseRequest mismatch (-want +got):\n%s", diff)
			}
		})
	}
	for _, bad := range []string{"", "GET\r\n", "GET /\r\n", "GET / FTP/1.0\r\n", "G(T / HTTP/1.1\r\n", "SSH-2.0-OpenSSH_9.2\r\n"} {
		var r Request
		if err := ParseRequest([]byte(bad), &r); !errors.Is(err, ErrNotHTTP) {
			t.Errorf("ParseRequest(%q) = %v, want ErrNotHTTP", bad, err)
		}
	}
	var r Request
	if err := ParseRequest([]byte("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n"), &r); !errors.Is(err, ErrBadLength) {
		t.Errorf("conflicting Content-Length: %v, want ErrBadLength", err)
	}
}

func TestParseResponse(t *testing.T) {
	var r Response
	head := "HTTP/1.1 302 Found\r\nContent-Type: text/html; charset=utf-8\r\nLocation: https://example.com/\r\nContent-Length: 0\r\n"
	if err := ParseResponse([]byte(head), &r); err != nil {
		t.Fatal(err)
	}
	if r.Status != 302 || string(r.ContentType) != "text/html" || string(r.Location) != "https://example.com/" || r.ContentLength != 0 {
		t.Errorf("ParseResponse = %+v", r)
	}
	if err := ParseResponse([]byte("HTTP/1.1 2XX Weird\r\n"), &r); err != nil || r.Status != 0 || string(r.StatusText) != "2XX" {
		t.Errorf("non-numeric status: %v, %d %q", err, r.Status, r.StatusText)
	}
	if err := ParseResponse([]byte("ICY 200 OK\r\n"), &r); !errors.Is(err, ErrNotHTTP) {
		t.Errorf("ICY response: %v, want ErrNotHTTP", err)
	}
}

func TestSplitHostPort(t *testing.T) {
	tests := []struct {
		in, host string
		port     uint16
	}{
		{"example.com", "example.com", 0},
		{"example.com:8080", "example.com", 8080},
		{"[fd00::1]:443", "[fd00::1]", 443},
		{"[fd00::1]", "[fd00::1]", 0},
		{"fd00::1", "fd00::1", 0},
		{"example.com:", "example.com", 0},
		{"example.com:99999", "example.com", 0},
		{"example.com:http", "example.com", 0},
	}
	for _, tt := range tests {
		host, port := SplitHostPort([]byte(tt.in))
		if string(host) != tt.host || port != tt.port {
			t.Errorf("SplitHostPort(%q) = %q %d, want %q %d", tt.in, host, port, tt.host, tt.port)
		}
	}
}

func TestStreamAllocatesNothing(t *testing.T) {
	b := []byte("GET /a HTTP/1.1\r\nHost: x\r\nUser-Agent: y\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
	var s Stream
	var r Request
	if n := testing.AllocsPerRun(100, func() {
		rest := b
		for {
			it, n, err := s.Next(rest)
			rest = rest[n:]
			if err != nil || it.Kind == KindNone {
				return
			}
			if it.Kind == KindHead {
				ParseRequest(it.Head, &r)
				s.Body(r.Framing())
			}
		}
	}); n != 0 {
		t.Errorf("%.1f allocations per pass, want 0", n)
	}
}

func BenchmarkRequestHead(b *testing.B) {
	head := []byte("GET /v2/credentials/96574b15-39b9-41fb-b2ea-2362089cd242 HTTP/1.1\r\nHost: 169.254.170.2\r\nUser-Agent: aws-sdk-go-v2/1.30.0 os/linux lang/go#1.24.4\r\nAccept-Encoding: gzip\r\nAmz-Sdk-Invocation-Id: 0b7f8b59-8d8e-4a5f-9d7e-7f0e2f1e1e1e\r\n\r\n")
	var s Stream
	var r Request
	b.ReportAllocs()
	b.SetBytes(int64(len(head)))
	for b.Loop() {
		s = Stream{}
		it, _, err := s.Next(head)
		if err != nil || it.Kind != KindHead {
			b.Fatal(it, err)
		}
		if err := ParseRequest(it.Head, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzStream feeds arbitrary bytes in arbitrary chunks and checks that
// the stream never consumes more than it has, never panics, and that a
// request head it accepts is one net/http also reads the same way.
func FuzzStream(f *testing.F) {
	f.Add([]byte("GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), uint8(7))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 204 No\r\n\r\n"), uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, chunk uint8) {
		size := int(chunk) + 1
		var s Stream
		var held []byte
		for len(b) > 0 {
			n := min(size, len(b))
			held = append(held, b[:n]...)
			b = b[n:]
			for {
				it, used, err := s.Next(held)
				if used < 0 || used > len(held) {
					t.Fatalf("consumed %d of %d", used, len(held))
				}
				held = held[used:]
				if err != nil {
					return
				}
				if it.Kind == KindNone {
					break
				}
				if it.Kind != KindHead {
					continue
				}
				var req Request
				var resp Response
				switch {
				case ParseRequest(it.Head, &req) == nil:
					s.Body(req.Framing())
					checkAgainstNetHTTP(t, it.Head, &req)
				case ParseResponse(it.Head, &resp) == nil:
					f, l, tunnel := resp.Framing(nil)
					if tunnel {
						s.Tunnel()
					} else {
						s.Body(f, l)
					}
				}
			}
		}
		s.Close()
	})
}

// checkAgainstNetHTTP compares the method and target with net/http's
// reading of the same head, when net/http accepts it.
func checkAgainstNetHTTP(t *testing.T, head []byte, r *Request) {
	req, err := nethttp.ReadRequest(bufio.NewReader(bytes.NewReader(append(bytes.Clone(head), "\r\n"...))))
	if err != nil {
		return
	}
	if req.Method != string(r.Method) || req.RequestURI != string(r.URI) {
		t.Fatalf("head %q: method %q target %q, net/http %q %q", head, r.Method, r.URI, req.Method, req.RequestURI)
	}
}
