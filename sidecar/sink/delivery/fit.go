package delivery

import (
	"slices"
	"unicode/utf8"
)

// truncatedFlag marks an event cut down by Fit.
const truncatedFlag = `,"truncated":true`

// Fit returns line (one JSON object, without '\n') cut down to at most
// limit bytes for a service's per-event maximum, and whether it had to cut.
// It shortens the longest string values first, at character and escape
// boundaries, and adds "truncated":true to the object, so the result is
// still valid JSON with every field present. A line it cannot shorten that
// way (not an object, or too little string content) is cut at limit, at a
// UTF-8 boundary.
func Fit(line []byte, limit int) ([]byte, bool) {
	if len(line) <= limit {
		return line, false
	}
	spans, ok := stringValues(line)
	excess := len(line) + len(truncatedFlag) - limit
	if ok && len(line) > 1 && line[len(line)-1] == '}' {
		slices.SortStableFunc(spans, func(a, b [2]int) int { return (b[1] - b[0]) - (a[1] - a[0]) })
		var cuts [][2]int
		for _, sp := range spans {
			if excess <= 0 {
				break
			}
			content := line[sp[0]:sp[1]]
			keep := boundary(content, max(len(content)-excess, 0))
			cuts = append(cuts, [2]int{sp[0] + keep, sp[1]})
			excess -= len(content) - keep
		}
		if excess <= 0 {
			slices.SortFunc(cuts, func(a, b [2]int) int { return a[0] - b[0] })
			out := make([]byte, 0, limit)
			at := 0
			for _, c := range cuts {
				out = append(out, line[at:c[0]]...)
				at = c[1]
			}
			out = append(out, line[at:len(line)-1]...)
			out = append(out, truncatedFlag...)
			return append(out, '}'), true
		}
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(line[cut]) {
		cut--
	}
	return slices.Clone(line[:cut]), true
}

// boundary returns the largest n <= want at which content (the inside of a
// JSON string) can be cut: not inside an escape sequence or a UTF-8
// character.
func boundary(content []byte, want int) int {
	last := 0
	for i := 0; i < len(content); {
		if i > want {
			break
		}
		last = i
		switch c := content[i]; {
		case c == '\\':
			if i+1 < len(content) && content[i+1] == 'u' {
				i += 6
			} else {
				i += 2
			}
		case c < utf8.RuneSelf:
			i++
		default:
			_, n := utf8.DecodeRune(content[i:])
			i += n
		}
		if i <= want {
			last = i
		}
	}
	return min(last, len(content))
}

// stringValues returns the [start, end) of the contents of every string
// value (not key) in a JSON text, and false if the text is malformed.
func stringValues(b []byte) ([][2]int, bool) {
	var spans [][2]int
	for i := 0; i < len(b); i++ {
		if b[i] != '"' {
			continue
		}
		start := i + 1
		j := start
		for ; j < len(b) && b[j] != '"'; j++ {
			if b[j] == '\\' {
				j++
			}
		}
		if j >= len(b) {
			return nil, false
		}
		k := j + 1
		for k < len(b) && (b[k] == ' ' || b[k] == '\t' || b[k] == '\n' || b[k] == '\r') {
			k++
		}
		if k >= len(b) || b[k] != ':' {
			spans = append(spans, [2]int{start, j})
		}
		i = j
	}
	return spans, true
}
