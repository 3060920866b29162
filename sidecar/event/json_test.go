package event

import (
	"strings"
	"testing"
)

// BenchmarkAppendStringASCII is a log message's usual case: printable
// ASCII, taken eight bytes at a time.
func BenchmarkAppendStringASCII(b *testing.B) {
	s := strings.Repeat("10.0.1.23 - - GET /api/v1/items?page=2 HTTP/1.1 200 5123 ", 4)
	buf := make([]byte, 0, 1024)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		buf = appendString(buf[:0], s)
	}
}

// TestPlain8 checks the word test of appendString's fast path both ways;
// FuzzAppendString checks the encoding as a whole.
func TestPlain8(t *testing.T) {
	s := "10.0.1.23 - - GET /api/v1/items?page=2 HTTP/1.1 200 5123 "
	for i := 0; i+8 <= len(s); i++ {
		if !plain8(load8(s, i)) {
			t.Errorf("plain8(%q) = false", s[i:i+8])
		}
	}
	for _, w := range []string{"abc\"defg", "abcdefg\\", "\x1fabcdefg", "abcdefg\x7f", "abcdefg\x80", "é1234567"} {
		if plain8(load8(w, 0)) {
			t.Errorf("plain8(%q) = true", w)
		}
	}
}

// TestECSAppendMemberIsLast checks what the pipeline relies on: an event
// encodes as itself without its ECS, less the closing brace, then its ECS
// member, then the brace.
func TestECSAppendMemberIsLast(t *testing.T) {
	ev := logEvent()
	ev.ECS = ECS{Cluster: "c", TaskARN: "arn:aws:ecs:us-east-1:1:task/c/x", Family: "f", Revision: "1", Container: Container{ID: "id", Name: "n"}}
	want := ev.AppendJSON(nil)
	ecs := ev.ECS
	ev.ECS = ECS{}
	got := ev.AppendJSON(nil)
	got = append(ecs.AppendMember(got[:len(got)-1]), '}')
	if string(got) != string(want) {
		t.Errorf("split encoding =\n%s\nwant\n%s", got, want)
	}
	if b := (&ECS{}).AppendMember([]byte("x")); string(b) != "x" {
		t.Errorf("zero ECS member = %q, want nothing", b)
	}
}
