package taskdefs

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxInputBytes bounds what Read parses: far above any task definition
// ECS registers (MaxRequestBytes), even indented or in the describe shape.
const MaxInputBytes = 1 << 20

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// readOnlyFields are what describe-task-definition returns but
// register-task-definition rejects.
var readOnlyFields = []string{
	"taskDefinitionArn", "revision", "status", "requiresAttributes",
	"compatibilities", "registeredAt", "registeredBy", "deregisteredAt",
}

// Read parses a task definition in the --cli-input-json shape of
// register-task-definition, or as printed by describe-task-definition
// ({"taskDefinition": {...}, "tags": [...]}), and returns it in the
// register shape with the read-only fields removed. Unknown fields and key
// order are kept.
func Read(data []byte) (*Object, error) {
	if len(data) > MaxInputBytes {
		return nil, fmt.Errorf("%d bytes: larger than any task definition ECS accepts (%d bytes of JSON); is this the right file?", len(data), MaxRequestBytes)
	}
	// Editors on Windows write a BOM; JSON forbids it, ECS never sees it.
	skipped := 0
	if bytes.HasPrefix(data, utf8BOM) {
		data, skipped = data[len(utf8BOM):], len(utf8BOM)
	}
	if off := invalidUTF8(data); off >= 0 {
		return nil, fmt.Errorf("byte %d (0x%02x): not UTF-8; ECS takes UTF-8 JSON only (convert the file, e.g. iconv -f LATIN1 -t UTF-8)", off+skipped, data[off])
	}
	v, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("parse task definition: %w", err)
	}
	top, ok := v.(*Object)
	if !ok {
		return nil, fmt.Errorf("task definition is a JSON %s, want an object", kind(v))
	}
	def := top
	if inner, ok := top.Get("taskDefinition"); ok {
		def, ok = inner.(*Object)
		if !ok {
			return nil, fmt.Errorf("taskDefinition is a JSON %s, want an object", kind(inner))
		}
		for _, m := range top.Members {
			switch m.Key {
			case "taskDefinition":
			case "tags":
				if _, dup := def.Get("tags"); dup {
					return nil, fmt.Errorf("tags: given both beside and inside taskDefinition")
				}
				def.Set("tags", m.Value)
			default:
				return nil, fmt.Errorf("%s: unexpected beside taskDefinition (want only tags)", m.Key)
			}
		}
	}
	for _, f := range readOnlyFields {
		def.Delete(f)
	}
	if err := validate(def); err != nil {
		return nil, err
	}
	return def, nil
}

// validate checks the few fields every command relies on, so later code
// can assume their types.
func validate(def *Object) error {
	fam, ok := def.Get("family")
	if s, isStr := fam.(string); !ok || !isStr || s == "" {
		return fmt.Errorf("family: missing or not a non-empty string")
	}
	cv, ok := def.Get("containerDefinitions")
	if !ok {
		return fmt.Errorf("containerDefinitions: missing")
	}
	list, ok := cv.([]any)
	if !ok || len(list) == 0 {
		return fmt.Errorf("containerDefinitions: want a non-empty array, got a JSON %s", kind(cv))
	}
	seen := map[string]bool{}
	for i, e := range list {
		c, ok := e.(*Object)
		if !ok {
			return fmt.Errorf("containerDefinitions[%d]: want an object, got a JSON %s", i, kind(e))
		}
		name := c.String("name")
		if name == "" {
			return fmt.Errorf("containerDefinitions[%d].name: missing or not a non-empty string", i)
		}
		if seen[name] {
			return fmt.Errorf("containerDefinitions[%d].name: duplicate container name %q", i, name)
		}
		seen[name] = true
		for _, f := range []string{"logConfiguration", "firelensConfiguration", "healthCheck", "dockerLabels"} {
			if v, ok := c.Get(f); ok && v != nil {
				if _, isObj := v.(*Object); !isObj {
					return fmt.Errorf("containerDefinitions[%d].%s: want an object, got a JSON %s", i, f, kind(v))
				}
			}
		}
		for _, f := range []string{"environment", "dependsOn", "volumesFrom", "portMappings", "entryPoint", "command"} {
			if v, ok := c.Get(f); ok && v != nil {
				if _, isArr := v.([]any); !isArr {
					return fmt.Errorf("containerDefinitions[%d].%s: want an array, got a JSON %s", i, f, kind(v))
				}
			}
		}
		if lc := c.Object("logConfiguration"); lc != nil {
			if o, ok := lc.Get("options"); ok && o != nil {
				opts, isObj := o.(*Object)
				if !isObj {
					return fmt.Errorf("containerDefinitions[%d].logConfiguration.options: want an object, got a JSON %s", i, kind(o))
				}
				for _, m := range opts.Members {
					if _, ok := m.Value.(string); !ok {
						return fmt.Errorf("containerDefinitions[%d].logConfiguration.options.%s: want a string, got a JSON %s", i, m.Key, kind(m.Value))
					}
				}
			}
		}
	}
	for _, f := range []string{"memory", "cpu"} {
		if v, ok := def.Get(f); ok && v != nil {
			if _, isStr := v.(string); !isStr {
				return fmt.Errorf("%s: want a string such as \"512\", got a JSON %s", f, kind(v))
			}
		}
	}
	return nil
}

// containers returns the container definitions; validate has checked them.
func containers(def *Object) []*Object {
	list := def.Array("containerDefinitions")
	cs := make([]*Object, len(list))
	for i, e := range list {
		cs[i] = e.(*Object)
	}
	return cs
}

func kind(v any) string {
	switch v.(type) {
	case *Object:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return "number"
}

// parseMemory returns a task-level memory value in MiB: "512", "1GB" or
// "1 GB", as register-task-definition accepts.
func parseMemory(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mul := 1.0
	if v, ok := strings.CutSuffix(t, "gb"); ok {
		t, mul = strings.TrimSpace(v), 1024
	} else if v, ok := strings.CutSuffix(t, "mb"); ok {
		t = strings.TrimSpace(v)
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 || f > 1<<30 {
		return 0, fmt.Errorf("memory %q: want MiB such as \"512\" or GB such as \"1 GB\"", s)
	}
	return int64(f * mul), nil
}

// parseCPU returns a task-level cpu value in CPU units: "256", "1 vCPU" or
// ".25 vcpu".
func parseCPU(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mul := 1.0
	if v, ok := strings.CutSuffix(t, "vcpu"); ok {
		t, mul = strings.TrimSpace(v), 1024
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 || f > 1<<30 {
		return 0, fmt.Errorf("cpu %q: want CPU units such as \"256\" or vCPUs such as \"1 vCPU\"", s)
	}
	return int64(f * mul), nil
}

// invalidUTF8 returns the offset of the first byte that is not part of
// valid UTF-8, or -1.
func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// TaskRegion returns the region in the task definition ARN of a
// describe-task-definition output, "" when data has none (the register
// shape). Read drops that ARN; inject uses its region in the ARNs of the
// IAM statements it prints.
func TaskRegion(data []byte) string {
	if len(data) > MaxInputBytes {
		return ""
	}
	v, err := Decode(bytes.TrimPrefix(data, utf8BOM))
	top, ok := v.(*Object)
	if err != nil || !ok {
		return ""
	}
	arn := top.String("taskDefinitionArn")
	if inner := top.Object("taskDefinition"); inner != nil {
		arn = inner.String("taskDefinitionArn")
	}
	return ARNRegion(arn)
}

// ARNRegion returns the region of an ARN (arn:PARTITION:SERVICE:REGION:...),
// "" when it has none.
func ARNRegion(arn string) string {
	p := strings.SplitN(arn, ":", 5)
	if len(p) < 5 || p[0] != "arn" {
		return ""
	}
	return p[3]
}
