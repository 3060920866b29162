package rules

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unsafe"
)

// Lists are named indicator lists kept outside the rules: the detection
// engine's threat intelligence (see IntelLists). dataset and iprep keywords
// that name a list without loading a file of their own look it up here.
// The methods are *intel.Set's: a domain list also holds the subdomains of
// its entries, an address list the addresses of its networks.
type Lists interface {
	// Names returns the names of the lists that exist (whether or not they
	// hold anything now).
	Names() []string
	AddrInList(list string, a netip.Addr) bool
	DomainInList(list, name string) bool
	JA3InList(list, hash string) bool
	JA4InList(list, fp string) bool
}

// listKind is what a buffer's values are, as an intel list holds them.
type listKind uint8

const (
	listNone listKind = iota
	listAddr
	listDomain
	listJA3
	listJA4
)

// listKindOf returns the kind of indicator buffer buf holds, or listNone
// for buffers no intel list can hold (URIs, user agents, certificates...).
func listKindOf(buf bufferID) listKind {
	switch buf {
	case bufIPSrc, bufIPDst:
		return listAddr
	case bufDNSQuery, bufTLSSNI, bufHTTPHost, bufHTTPHostRaw:
		return listDomain
	case bufJA3Hash, bufJA3SHash:
		return listJA3
	case bufJA4Hash:
		return listJA4
	}
	return listNone
}

// hasList reports whether lists has a list called name, and says which
// lists there are when it has not.
func hasList(lists Lists, name string) (bool, string) {
	var names []string
	if lists != nil {
		names = lists.Names()
	}
	if slices.Contains(names, name) {
		return true, ""
	}
	if len(names) == 0 {
		return false, "no intel lists are loaded (--detect-intel-files)"
	}
	return false, "the intel lists are " + strings.Join(names, ", ")
}

// dataset is one Suricata dataset: a set of strings, hashes or addresses,
// loaded from a file or backed by a named list.
type dataset struct {
	name    string
	typ     string // string, md5, sha256, ipv4, ip
	strs    map[string]struct{}
	addrs   map[netip.Addr]struct{}
	lists   Lists // when the set is a named list
	listRef string
	kind    listKind
}

// contains reports whether v (a buffer value, or an address for ip.src and
// ip.dst) is in the set.
func (d *dataset) contains(v []byte, a netip.Addr) bool {
	if d.lists != nil {
		// v is only read during the lookup: no copy.
		s := unsafe.String(unsafe.SliceData(v), len(v))
		switch d.kind {
		case listAddr:
			return a.IsValid() && d.lists.AddrInList(d.listRef, a)
		case listDomain:
			return d.lists.DomainInList(d.listRef, s)
		case listJA3:
			return d.lists.JA3InList(d.listRef, s)
		case listJA4:
			return d.lists.JA4InList(d.listRef, s)
		}
		return false
	}
	switch d.typ {
	case "ip", "ipv4", "ipv6":
		if !a.IsValid() {
			var err error
			if a, err = netip.ParseAddr(string(v)); err != nil {
				return false
			}
		}
		_, ok := d.addrs[a.Unmap()]
		return ok
	case "md5", "sha256":
		if len(v) > 64 {
			return false
		}
		var lower [64]byte
		for i, c := range v {
			if 'A' <= c && c <= 'F' {
				c += 'a' - 'A'
			}
			lower[i] = c
		}
		_, ok := d.strs[string(lower[:len(v)])]
		return ok
	}
	_, ok := d.strs[string(v)]
	return ok
}

// datasets holds the sets loaded for one rule set, by name.
type datasets struct {
	dir   string // relative load paths resolve against the rule file's directory
	lists Lists
	sets  map[string]*dataset
	// listSets are the datasets backed by intel lists, by name and kind
	// (one list can back datasets on a name buffer and on ip.dst).
	listSets map[listSetKey]*dataset
	// maxEntries bounds one loaded file, so a wrong path (a huge file) is an
	// error rather than an out-of-memory kill.
	maxEntries int
}

// parse parses `isset|isnotset,name[,type T][,load FILE]...` for buffer buf.
func (ds *datasets) parse(v string, buf bufferID) (*dataset, bool, error) {
	parts := strings.Split(v, ",")
	if len(parts) < 2 {
		return nil, false, fmt.Errorf("dataset %q: want cmd,name[,options]", v)
	}
	cmd, name := strings.TrimSpace(parts[0]), strings.TrimSpace(parts[1])
	neg := false
	switch cmd {
	case "isset":
	case "isnotset":
		neg = true
	case "set", "unset":
		return nil, false, unsupported("dataset", "dataset:%s (sidewatch does not write datasets)", cmd)
	default:
		return nil, false, fmt.Errorf("dataset %q: unknown command %q", v, cmd)
	}
	if name == "" {
		return nil, false, fmt.Errorf("dataset %q: empty name", v)
	}
	typ, load := "", ""
	for _, p := range parts[2:] {
		k, val, _ := strings.Cut(strings.TrimSpace(p), " ")
		val = strings.TrimSpace(val)
		switch k {
		case "type":
			typ = val
		case "load":
			load = val
		case "state", "save":
			return nil, false, unsupported("dataset", "dataset %s (sidewatch does not write datasets)", k)
		case "memcap", "hashsize", "format", "enrichment_key", "context_key", "value_key", "array_key", "remove_key":
		default:
			return nil, false, fmt.Errorf("dataset %q: unknown option %q", v, k)
		}
	}
	if d, ok := ds.sets[name]; ok {
		if typ != "" && typ != d.typ {
			return nil, false, fmt.Errorf("dataset %s: type %s, but another rule declared it %s", name, typ, d.typ)
		}
		return d, neg, nil
	}
	if load == "" {
		d, err := ds.list(name, typ, buf)
		return d, neg, err
	}
	switch typ {
	case "string", "md5", "sha256", "ipv4", "ip", "ipv6":
	case "":
		return nil, false, fmt.Errorf("dataset %s: type is required with load", name)
	default:
		return nil, false, unsupported("dataset", "dataset type %s", typ)
	}
	if (buf == bufIPSrc || buf == bufIPDst) != (typ == "ip" || typ == "ipv4" || typ == "ipv6") {
		return nil, false, fmt.Errorf("dataset %s: type %s does not fit buffer %s", name, typ, buffers[buf].name)
	}
	d, err := ds.load(name, typ, load)
	if err != nil {
		return nil, false, err
	}
	ds.sets[name] = d
	return d, neg, nil
}

type listSetKey struct {
	name string
	kind listKind
}

// list returns the dataset backed by the intel list name, for buffer buf.
// A list that does not exist, or a buffer no list can hold, makes the rule
// unsupported, with the reason: never a rule that silently matches nothing.
func (ds *datasets) list(name, typ string, buf bufferID) (*dataset, error) {
	if ok, known := hasList(ds.lists, name); !ok {
		return nil, unsupported("dataset", "dataset %s: no load file, and no intel list of that name (%s)", name, known)
	}
	kind := listKindOf(buf)
	if kind == listNone {
		return nil, unsupported("dataset", "dataset %s on %s: intel lists hold addresses (ip.src, ip.dst), domain names (dns.query, tls.sni, http.host), JA3 and JA4 hashes", name, buffers[buf].name)
	}
	if typ != "" && (kind == listAddr) != (typ == "ip" || typ == "ipv4" || typ == "ipv6") {
		return nil, fmt.Errorf("dataset %s: type %s does not fit buffer %s", name, typ, buffers[buf].name)
	}
	k := listSetKey{name, kind}
	if d, ok := ds.listSets[k]; ok {
		return d, nil
	}
	d := &dataset{name: name, typ: typ, lists: ds.lists, listRef: name, kind: kind}
	if ds.listSets == nil {
		ds.listSets = map[listSetKey]*dataset{}
	}
	ds.listSets[k] = d
	return d, nil
}

// load reads a dataset file in Suricata's format: one entry per line,
// strings base64-encoded, hashes in hex, addresses as text.
func (ds *datasets) load(name, typ, path string) (*dataset, error) {
	if !filepath.IsAbs(path) {
		path = filepath.Join(ds.dir, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", name, err)
	}
	defer f.Close()
	d := &dataset{name: name, typ: typ, strs: map[string]struct{}{}, addrs: map[netip.Addr]struct{}{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		// Entries may carry a value after a comma (datarep); the key is first.
		key, _, _ := strings.Cut(line, ",")
		switch typ {
		case "string":
			b, err := base64.StdEncoding.DecodeString(key)
			if err != nil {
				return nil, fmt.Errorf("dataset %s: %s:%d: not base64: %v", name, path, n, err)
			}
			d.strs[string(b)] = struct{}{}
		case "md5", "sha256":
			want := 32
			if typ == "sha256" {
				want = 64
			}
			if _, err := hex.DecodeString(key); err != nil || len(key) != want {
				return nil, fmt.Errorf("dataset %s: %s:%d: want %d hex digits", name, path, n, want)
			}
			d.strs[strings.ToLower(key)] = struct{}{}
		default:
			a, err := netip.ParseAddr(key)
			if err != nil {
				return nil, fmt.Errorf("dataset %s: %s:%d: %v", name, path, n, err)
			}
			d.addrs[a.Unmap()] = struct{}{}
		}
		if len(d.strs)+len(d.addrs) > ds.maxEntries {
			return nil, fmt.Errorf("dataset %s: %s has more than %d entries", name, path, ds.maxEntries)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("dataset %s: %s: %w", name, path, err)
	}
	return d, nil
}

// iprep is an `iprep:side,category,op,value` check against a named list:
// an address in the list has reputation 127 (Suricata's maximum), one not in
// it has none, and a check on an address without reputation fails, as in
// Suricata, except isnotset.
type iprep struct {
	side  string // src, dst, both, any
	list  string
	op    string // >, <, =, isset, isnotset
	value int
	lists Lists
}

func (c *compiler) parseIPRep(v string) (iprep, error) {
	parts := strings.Split(v, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	if len(parts) < 3 {
		return iprep{}, fmt.Errorf("iprep %q: want side,category,op,value", v)
	}
	ip := iprep{side: parts[0], list: parts[1], op: parts[2], lists: c.lists}
	switch ip.side {
	case "src", "dst", "both", "any":
	default:
		return iprep{}, fmt.Errorf("iprep %q: side must be src, dst, both or any", v)
	}
	switch ip.op {
	case ">", "<", "=":
		if len(parts) != 4 {
			return iprep{}, fmt.Errorf("iprep %q: want side,category,op,value", v)
		}
		n, err := strconv.Atoi(parts[3])
		if err != nil || n < 0 || n > 127 {
			return iprep{}, fmt.Errorf("iprep %q: value must be 0-127", v)
		}
		ip.value = n
	case "isset", "isnotset":
	default:
		return iprep{}, fmt.Errorf("iprep %q: unknown operator %q", v, ip.op)
	}
	if ok, known := hasList(c.lists, ip.list); !ok {
		return iprep{}, unsupported("iprep", "iprep category %s: no intel list of that name (%s)", ip.list, known)
	}
	return ip, nil
}

func (ip *iprep) match(src, dst netip.Addr) bool {
	one := func(a netip.Addr) bool {
		in := a.IsValid() && ip.lists.AddrInList(ip.list, a)
		switch ip.op {
		case "isset":
			return in
		case "isnotset":
			return !in
		case ">":
			return in && 127 > ip.value
		case "<":
			return in && 127 < ip.value
		}
		return in && ip.value == 127
	}
	switch ip.side {
	case "src":
		return one(src)
	case "dst":
		return one(dst)
	case "both":
		return one(src) && one(dst)
	}
	return one(src) || one(dst)
}
