package taskdefs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Object is a JSON object that keeps its keys in document order, so that a
// patched task definition differs from its input only where it was patched.
// Values are *Object, []any, string, json.Number, bool or nil.
type Object struct {
	Members []Member
}

// Member is one key and value of an Object.
type Member struct {
	Key   string
	Value any
}

// Get returns the value of key.
func (o *Object) Get(key string) (any, bool) {
	if o == nil {
		return nil, false
	}
	for _, m := range o.Members {
		if m.Key == key {
			return m.Value, true
		}
	}
	return nil, false
}

// All returns the members; none for a nil object.
func (o *Object) All() []Member {
	if o == nil {
		return nil
	}
	return o.Members
}

// Set replaces the value of key in place, or appends key.
func (o *Object) Set(key string, v any) {
	for i := range o.Members {
		if o.Members[i].Key == key {
			o.Members[i].Value = v
			return
		}
	}
	o.Members = append(o.Members, Member{key, v})
}

// Delete removes key and reports whether it was there.
func (o *Object) Delete(key string) bool {
	for i, m := range o.Members {
		if m.Key == key {
			o.Members = append(o.Members[:i], o.Members[i+1:]...)
			return true
		}
	}
	return false
}

// String returns the string value of key, or "" if it is absent or not a
// string.
func (o *Object) String(key string) string {
	v, _ := o.Get(key)
	s, _ := v.(string)
	return s
}

// Object returns the object value of key, or nil.
func (o *Object) Object(key string) *Object {
	v, _ := o.Get(key)
	obj, _ := v.(*Object)
	return obj
}

// Array returns the array value of key, or nil.
func (o *Object) Array(key string) []any {
	v, _ := o.Get(key)
	a, _ := v.([]any)
	return a
}

// Int returns the integer value of key.
func (o *Object) Int(key string) (int64, bool) {
	v, _ := o.Get(key)
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}

// Bool returns the boolean value of key.
func (o *Object) Bool(key string) (value, ok bool) {
	v, _ := o.Get(key)
	value, ok = v.(bool)
	return value, ok
}

// obj builds an Object from alternating keys and values.
func obj(kv ...any) *Object {
	o := &Object{Members: make([]Member, 0, len(kv)/2)}
	for i := 0; i+1 < len(kv); i += 2 {
		o.Members = append(o.Members, Member{kv[i].(string), kv[i+1]})
	}
	return o
}

// num returns n as a JSON number.
func num(n int64) json.Number { return json.Number(strconv.FormatInt(n, 10)) }

// strs converts a []string into a JSON array.
func strs(ss []string) []any {
	a := make([]any, len(ss))
	for i, s := range ss {
		a[i] = s
	}
	return a
}

// maxDepth bounds nesting so hostile input can't exhaust the stack.
const maxDepth = 100

// Decode parses one JSON value, keeping object key order. Duplicate keys
// and trailing data are errors.
func Decode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("offset %d: data after the JSON value", dec.InputOffset())
	}
	return v, nil
}

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err == io.EOF {
		return nil, errors.New("unexpected end of JSON input")
	}
	if err != nil {
		return nil, err
	}
	return decodeFrom(dec, tok, depth)
}

func decodeFrom(dec *json.Decoder, tok json.Token, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("offset %d: nested more than %d levels", dec.InputOffset(), maxDepth)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &Object{}
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, ok := kt.(string)
				if !ok {
					return nil, fmt.Errorf("offset %d: object key is not a string", dec.InputOffset())
				}
				if seen[key] {
					return nil, fmt.Errorf("offset %d: duplicate key %q", dec.InputOffset(), key)
				}
				seen[key] = true
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				o.Members = append(o.Members, Member{key, v})
			}
			if _, err := dec.Token(); err != nil { // '}'
				return nil, err
			}
			return o, nil
		case '[':
			a := []any{}
			for dec.More() {
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			if _, err := dec.Token(); err != nil { // ']'
				return nil, err
			}
			return a, nil
		}
		return nil, fmt.Errorf("offset %d: unexpected %q", dec.InputOffset(), t)
	case string, json.Number, bool, nil:
		return t, nil
	}
	return nil, fmt.Errorf("offset %d: unexpected token %v", dec.InputOffset(), tok)
}

// Encode writes v as JSON indented by two spaces, ending in a newline.
// HTML characters are not escaped: task definitions are not embedded in
// HTML and escaped "<" would only make diffs harder to read.
func Encode(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := encodeValue(&b, v, 0); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

func encodeValue(b *bytes.Buffer, v any, depth int) error {
	switch t := v.(type) {
	case *Object:
		if len(t.Members) == 0 {
			b.WriteString("{}")
			return nil
		}
		b.WriteString("{\n")
		for i, m := range t.Members {
			indent(b, depth+1)
			writeString(b, m.Key)
			b.WriteString(": ")
			if err := encodeValue(b, m.Value, depth+1); err != nil {
				return err
			}
			if i < len(t.Members)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		indent(b, depth)
		b.WriteByte('}')
	case []any:
		if len(t) == 0 {
			b.WriteString("[]")
			return nil
		}
		b.WriteString("[\n")
		for i, e := range t {
			indent(b, depth+1)
			if err := encodeValue(b, e, depth+1); err != nil {
				return err
			}
			if i < len(t)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		indent(b, depth)
		b.WriteByte(']')
	case string:
		writeString(b, t)
	case json.Number:
		if !json.Valid([]byte(t)) {
			return fmt.Errorf("invalid number %q", string(t))
		}
		b.WriteString(string(t))
	case bool:
		b.WriteString(strconv.FormatBool(t))
	case nil:
		b.WriteString("null")
	default:
		return fmt.Errorf("cannot encode %T", v)
	}
	return nil
}

func indent(b *bytes.Buffer, depth int) {
	for range depth {
		b.WriteString("  ")
	}
}

func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	// A string always encodes; drop Encode's newline.
	enc.Encode(s)
	b.Truncate(b.Len() - 1)
}

// clone deep-copies a decoded value.
func clone(v any) any {
	switch t := v.(type) {
	case *Object:
		c := &Object{Members: make([]Member, len(t.Members))}
		for i, m := range t.Members {
			c.Members[i] = Member{m.Key, clone(m.Value)}
		}
		return c
	case []any:
		c := make([]any, len(t))
		for i, e := range t {
			c[i] = clone(e)
		}
		return c
	}
	return v
}
