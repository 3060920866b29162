package taskdefs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// ECS's own limits on RegisterTaskDefinition requests.
const (
	// MaxRequestBytes is the largest task definition ECS registers (its
	// JSON, as the AWS CLI sends it: compact).
	MaxRequestBytes = 64 << 10
	// MaxContainers is the most containerDefinitions a task may have.
	MaxContainers = 10
)

// Problem is a place where a task definition breaks what
// RegisterTaskDefinition accepts.
type Problem struct {
	Path string
	Msg  string
	// Unknown marks a field this sidewatch's AWS SDK does not know: a
	// newer ECS may accept it, but `sidewatch taskdef register` cannot
	// send it.
	Unknown bool
}

func (p Problem) String() string { return p.Path + ": " + p.Msg }

var registerInputType = reflect.TypeFor[ecs.RegisterTaskDefinitionInput]()

// APIProblems checks a task definition in the register shape against
// the ECS API: every field's JSON type (a container "cpu": "128" is
// rejected by ECS), nulls (the AWS CLI rejects them), unknown fields,
// the request size and the number of containers.
func APIProblems(def *Object) []Problem {
	c := apiChecker{fields: map[reflect.Type]map[string]reflect.Type{}}
	c.check(def, registerInputType, "")
	ps := c.ps
	if b, err := Encode(def); err == nil {
		var c bytes.Buffer
		if json.Compact(&c, b) == nil && c.Len() > MaxRequestBytes {
			ps = append(ps, Problem{Path: "(document)", Msg: fmt.Sprintf("%d bytes as compact JSON; ECS registers at most %d (64 KiB)", c.Len(), MaxRequestBytes)})
		}
	}
	if n := len(def.Array("containerDefinitions")); n > MaxContainers {
		ps = append(ps, Problem{Path: "containerDefinitions", Msg: fmt.Sprintf("%d containers; ECS allows at most %d in a task", n, MaxContainers)})
	}
	return ps
}

func joinPath(base, key string) string {
	if base == "" {
		return key
	}
	return base + "." + key
}

// apiChecker walks a document next to the SDK's types, indexing each
// struct's fields once.
type apiChecker struct {
	fields map[reflect.Type]map[string]reflect.Type // lower-case name -> type
	ps     []Problem
}

// check walks v next to the SDK type t. The SDK's structs carry no JSON
// tags and encoding/json matches their field names to the API's camelCase
// keys case-insensitively; registerInput relies on that too.
func (c *apiChecker) check(v any, t reflect.Type, path string) {
	ps := &c.ps
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		*ps = append(*ps, Problem{Path: path, Msg: "null: the AWS CLI rejects null values; remove the key"})
		return
	}
	bad := func(want string) {
		*ps = append(*ps, Problem{Path: path, Msg: fmt.Sprintf("is a JSON %s, want %s", kind(v), want)})
	}
	switch t.Kind() {
	case reflect.Struct:
		o, ok := v.(*Object)
		if !ok {
			bad("an object")
			return
		}
		fields := c.structFields(t)
		for _, m := range o.Members {
			ft, ok := fields[strings.ToLower(m.Key)]
			if !ok {
				*ps = append(*ps, Problem{Path: joinPath(path, m.Key), Msg: "unknown field: this sidewatch's AWS SDK does not know it, so `sidewatch taskdef register` cannot send it (the AWS CLI may)", Unknown: true})
				continue
			}
			c.check(m.Value, ft, joinPath(path, m.Key))
		}
	case reflect.Slice:
		a, ok := v.([]any)
		if !ok {
			bad("an array")
			return
		}
		for i, e := range a {
			c.check(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		o, ok := v.(*Object)
		if !ok {
			bad("an object")
			return
		}
		for _, m := range o.Members {
			c.check(m.Value, t.Elem(), joinPath(path, m.Key))
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			bad("a string")
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			bad("true or false")
		}
	case reflect.Int32, reflect.Int64, reflect.Int:
		n, ok := v.(json.Number)
		if !ok {
			if s, isStr := v.(string); isStr {
				*ps = append(*ps, Problem{Path: path, Msg: fmt.Sprintf("is the string %q, want a JSON number such as %s (without quotes)", s, strings.Trim(s, " "))})
				return
			}
			bad("a number")
			return
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		limit := int64(math.MaxInt32)
		if t.Kind() != reflect.Int32 {
			limit = math.MaxInt64
		}
		if err != nil || i > limit || i < -limit-1 {
			*ps = append(*ps, Problem{Path: path, Msg: fmt.Sprintf("%s is not a whole number ECS accepts here", n)})
		}
	case reflect.Float32, reflect.Float64:
		if _, ok := v.(json.Number); !ok {
			bad("a number")
		}
	}
}

// structFields indexes the exported fields of an SDK struct by lower-case
// name: encoding/json fills a field from a key that equals its name
// case-insensitively (the SDK's names never differ only by case).
func (c *apiChecker) structFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := c.fields[t]; ok {
		return m
	}
	m := map[string]reflect.Type{}
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() && !f.Anonymous {
			m[strings.ToLower(f.Name)] = f.Type
		}
	}
	c.fields[t] = m
	return m
}
