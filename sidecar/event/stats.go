package event

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// Stats is the periodic counters snapshot: uptime plus one object per
// subsystem, as nested name → value maps (see metrics.Registry.Stats).
type Stats struct {
	Uptime int64          `json:"uptime"`
	Groups map[string]any `json:"-"`
}

// appendJSON writes uptime first, then the groups in key order.
func (s *Stats) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"uptime":`...)
	dst = strconv.AppendInt(dst, s.Uptime, 10)
	for _, k := range sortedKeys(s.Groups) {
		dst = append(dst, ',')
		dst = appendString(dst, k)
		dst = append(dst, ':')
		dst = appendAny(dst, s.Groups[k])
	}
	return append(dst, '}')
}

func appendAny(dst []byte, v any) []byte {
	switch v := v.(type) {
	case map[string]any:
		dst = append(dst, '{')
		for i, k := range sortedKeys(v) {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
			dst = append(dst, ':')
			dst = appendAny(dst, v[k])
		}
		return append(dst, '}')
	case uint64:
		return strconv.AppendUint(dst, v, 10)
	case int64:
		return strconv.AppendInt(dst, v, 10)
	case float64:
		if v == float64(int64(v)) && v < 1e15 && v > -1e15 {
			return strconv.AppendInt(dst, int64(v), 10)
		}
		return strconv.AppendFloat(dst, v, 'g', -1, 64)
	case string:
		return appendString(dst, v)
	case bool:
		return strconv.AppendBool(dst, v)
	default:
		return appendString(dst, fmt.Sprint(v))
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// MarshalJSON encodes the stats object.
func (s Stats) MarshalJSON() ([]byte, error) { return s.appendJSON(nil), nil }

// UnmarshalJSON reads uptime and keeps every other key as a group.
func (s *Stats) UnmarshalJSON(b []byte) error {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	up, ok := m["uptime"].(float64)
	if !ok {
		return fmt.Errorf("stats: uptime is missing or not a number")
	}
	s.Uptime = int64(up)
	delete(m, "uptime")
	s.Groups = m
	return nil
}
