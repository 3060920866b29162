package launcher

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// topLevelStrings returns the string members of a JSON object, skipping
// members of other types. fluent-launch reads only a few strings of the
// task metadata; encoding/json would add 370 KB to a launcher that every
// task copies. Invalid JSON is an error (FuzzTopLevelStrings compares it
// with encoding/json).
func topLevelStrings(b []byte) (map[string]string, error) {
	p := &jsonScanner{b: b}
	p.space()
	if !p.eat('{') {
		return nil, p.errorf("want an object")
	}
	out := map[string]string{}
	p.space()
	if p.eat('}') {
		return out, p.end()
	}
	for {
		p.space()
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.space()
		if !p.eat(':') {
			return nil, p.errorf("want ':'")
		}
		p.space()
		if p.peek() == '"' {
			v, err := p.str()
			if err != nil {
				return nil, err
			}
			out[key] = v
		} else if err := p.skip(0); err != nil {
			return nil, err
		}
		p.space()
		if p.eat('}') {
			return out, p.end()
		}
		if !p.eat(',') {
			return nil, p.errorf("want ',' or '}'")
		}
	}
}

type jsonScanner struct {
	b []byte
	i int
}

func (p *jsonScanner) errorf(format string, a ...any) error {
	return fmt.Errorf("json offset %d: %s", p.i, fmt.Sprintf(format, a...))
}

func (p *jsonScanner) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *jsonScanner) eat(c byte) bool {
	if p.peek() == c && p.i < len(p.b) {
		p.i++
		return true
	}
	return false
}

func (p *jsonScanner) space() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *jsonScanner) end() error {
	p.space()
	if p.i != len(p.b) {
		return p.errorf("data after the object")
	}
	return nil
}

// str reads a string, unescaping it.
func (p *jsonScanner) str() (string, error) {
	if !p.eat('"') {
		return "", p.errorf("want a string")
	}
	var out []byte
	for {
		if p.i >= len(p.b) {
			return "", p.errorf("unterminated string")
		}
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return string(out), nil
		case c < 0x20:
			return "", p.errorf("control character in string")
		case c == '\\':
			if p.i+1 >= len(p.b) {
				return "", p.errorf("unterminated escape")
			}
			e := p.b[p.i+1]
			p.i += 2
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, err := p.hex4()
				if err != nil {
					return "", err
				}
				if r >= 0xD800 && r < 0xDC00 && p.i+1 < len(p.b) && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
					p.i += 2
					r2, err := p.hex4()
					if err != nil {
						return "", err
					}
					if r2 >= 0xDC00 && r2 < 0xE000 {
						r = (r-0xD800)<<10 + (r2 - 0xDC00) + 0x10000
					} else {
						out = utf8.AppendRune(out, utf8.RuneError)
						r = r2
					}
				}
				if r >= 0xD800 && r < 0xE000 {
					r = utf8.RuneError
				}
				out = utf8.AppendRune(out, r)
			default:
				return "", p.errorf("bad escape \\%c", e)
			}
		case c < utf8.RuneSelf:
			out = append(out, c)
			p.i++
		default:
			// As encoding/json: each invalid byte becomes U+FFFD.
			r, size := utf8.DecodeRune(p.b[p.i:])
			out = utf8.AppendRune(out, r)
			p.i += size
		}
	}
}

func (p *jsonScanner) hex4() (rune, error) {
	if p.i+4 > len(p.b) {
		return 0, p.errorf("short \\u escape")
	}
	n, err := strconv.ParseUint(string(p.b[p.i:p.i+4]), 16, 32)
	if err != nil {
		return 0, p.errorf("bad \\u escape")
	}
	p.i += 4
	return rune(n), nil
}

// maxJSONDepth bounds nesting, as encoding/json does (10000).
const maxJSONDepth = 10000

// skip passes over any JSON value.
func (p *jsonScanner) skip(depth int) error {
	if depth > maxJSONDepth {
		return errors.New("json nested too deep")
	}
	switch c := p.peek(); {
	case c == '"':
		_, err := p.str()
		return err
	case c == '{' || c == '[':
		closeC := byte('}')
		if c == '[' {
			closeC = ']'
		}
		p.i++
		p.space()
		if p.eat(closeC) {
			return nil
		}
		for {
			p.space()
			if c == '{' {
				if _, err := p.str(); err != nil {
					return err
				}
				p.space()
				if !p.eat(':') {
					return p.errorf("want ':'")
				}
				p.space()
			}
			if err := p.skip(depth + 1); err != nil {
				return err
			}
			p.space()
			if p.eat(closeC) {
				return nil
			}
			if !p.eat(',') {
				return p.errorf("want ',' or '%c'", closeC)
			}
		}
	case c == 't':
		return p.word("true")
	case c == 'f':
		return p.word("false")
	case c == 'n':
		return p.word("null")
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	}
	return p.errorf("want a value")
}

func (p *jsonScanner) word(w string) error {
	if p.i+len(w) > len(p.b) || string(p.b[p.i:p.i+len(w)]) != w {
		return p.errorf("want %s", w)
	}
	p.i += len(w)
	return nil
}

// number passes over a JSON number: -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?
func (p *jsonScanner) number() error {
	digits := func() int {
		n := 0
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	p.eat('-')
	if p.eat('0') {
		// no more integer digits
	} else if digits() == 0 {
		return p.errorf("bad number")
	}
	if p.eat('.') && digits() == 0 {
		return p.errorf("bad number")
	}
	if p.eat('e') || p.eat('E') {
		if !p.eat('+') {
			p.eat('-')
		}
		if digits() == 0 {
			return p.errorf("bad number")
		}
	}
	return nil
}
