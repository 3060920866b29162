package rules

import (
	"net/netip"

	"github.com/sidewatch/sidewatch/sidecar/intel"
)

// IntelSource is the detection engine as the rules see its indicator
// lists (detect.Engine).
type IntelSource interface {
	// IntelLists names the configured lists: each intel file's base name.
	IntelLists() []string
	// Intel returns the indicators in force (reloaded as the files change).
	Intel() *intel.Set
}

// IntelLists backs dataset and iprep with src's lists: a list is named by
// its file's base name (`iprep:dst,feodo.csv,>,30;`,
// `dataset:isset,bad-domains.txt;`), and lookups follow src's reloads.
func IntelLists(src IntelSource) Lists { return intelLists{names: src.IntelLists(), src: src} }

type intelLists struct {
	names []string
	src   IntelSource
}

func (l intelLists) Names() []string { return l.names }

func (l intelLists) AddrInList(list string, a netip.Addr) bool {
	return l.src.Intel().AddrInList(list, a)
}

func (l intelLists) DomainInList(list, name string) bool {
	return l.src.Intel().DomainInList(list, name)
}

func (l intelLists) JA3InList(list, hash string) bool { return l.src.Intel().JA3InList(list, hash) }

func (l intelLists) JA4InList(list, fp string) bool { return l.src.Intel().JA4InList(list, fp) }
