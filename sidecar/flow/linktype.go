package flow

// LinkType is a frame's link-layer header type, numbered as the
// LINKTYPE_* values of pcap and pcapng files (tcpdump.org/linktypes.html),
// which are also the DLT_* values for the types below.
type LinkType uint16

// The link types the decoder follows. LinkTypeRaw12 and LinkTypeRaw14 are
// DLT_RAW as some BSDs numbered it, found in old files.
const (
	LinkTypeNull      LinkType = 0
	LinkTypeEthernet  LinkType = 1
	LinkTypeRaw12     LinkType = 12
	LinkTypeRaw14     LinkType = 14
	LinkTypeRaw       LinkType = 101
	LinkTypeLoop      LinkType = 108
	LinkTypeLinuxSLL  LinkType = 113
	LinkTypeIPv4      LinkType = 228
	LinkTypeIPv6      LinkType = 229
	LinkTypeLinuxSLL2 LinkType = 276
)

// Decoded reports whether the decoder follows link type l: frames of any
// other type are skipped and counted (packets_skipped_total{reason=
// "link_type"}), and a replay refuses a file of one (capture.ReadFile).
func (l LinkType) Decoded() bool {
	switch l {
	case LinkTypeNull, LinkTypeEthernet, LinkTypeRaw12, LinkTypeRaw14, LinkTypeRaw,
		LinkTypeLoop, LinkTypeLinuxSLL, LinkTypeIPv4, LinkTypeIPv6, LinkTypeLinuxSLL2:
		return true
	}
	return false
}
