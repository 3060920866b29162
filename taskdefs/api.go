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
	var ps []Problem
	checkAPIType(def, registerInputType, "", &ps)
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

// checkAPIType walks v next to the SDK type t. The SDK's structs carry
// no JSON tags and encoding/json matches their field names to the API's
// camelCase keys case-insensitively; registerInput relies on that too.
func checkAPIType(v any, t reflect.Type, path string, ps *[]Problem) {
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
		for _, m := range o.Members {
			f, ok := apiField(t, m.Key)
			if !ok {
				*ps = append(*ps, Problem{Path: joinPath(path, m.Key), Msg: "unknown field: this sidewatch's AWS SDK does not know it, so `sidewatch taskdef register` cannot send it (the AWS CLI may)", Unknown: true})
				continue
			}
			checkAPIType(m.Value, f.Type, joinPath(path, m.Key), ps)
		}
	case reflect.Slice:
		a, ok := v.([]any)
		if !ok {
			bad("an array")
			return
		}
		for i, e := range a {
			checkAPIType(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), ps)
		}
	case reflect.Map:
		o, ok := v.(*Object)
		if !ok {
			bad("an object")
			return
		}
		for _, m := range o.Members {
			checkAPIType(m.Value, t.Elem(), joinPath(path, m.Key), ps)
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

// apiField finds the field of an SDK struct that a JSON key fills, as
// encoding/json does: the exact name first, then case-insensitively.
func apiField(t reflect.Type, key string) (reflect.StructField, bool) {
	var folded *reflect.StructField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Anonymous {
			continue
		}
		if f.Name == key {
			return f, true
		}
		if folded == nil && strings.EqualFold(f.Name, key) {
			folded = &f
		}
	}
	if folded != nil {
		return *folded, true
	}
	return reflect.StructField{}, false
}
