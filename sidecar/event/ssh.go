package event

// SSH is EVE's ssh object: each side's identification string and, when its
// key exchange init was seen, its HASSH fingerprint.
type SSH struct {
	Client *SSHPeer `json:"client,omitempty"`
	Server *SSHPeer `json:"server,omitempty"`
}

// SSHPeer is one side of an SSH connection. From "SSH-2.0-OpenSSH_9.2p1
// Debian-2", ProtoVersion is "2.0" and SoftwareVersion "OpenSSH_9.2p1".
type SSHPeer struct {
	ProtoVersion    string   `json:"proto_version"`
	SoftwareVersion string   `json:"software_version,omitempty"`
	HASSH           *TLSHash `json:"hassh,omitempty"`
}

func (s *SSH) appendJSON(dst []byte) []byte {
	dst = append(dst, `,"ssh":{`...)
	start := len(dst)
	dst = s.Client.appendJSON(dst, "client")
	dst = s.Server.appendJSON(dst, "server")
	return closeObject(dst, start)
}

func (p *SSHPeer) appendJSON(dst []byte, name string) []byte {
	if p == nil {
		return dst
	}
	dst = append(dst, ",\""...)
	dst = append(dst, name...)
	dst = append(dst, `":{"proto_version":`...)
	dst = appendString(dst, p.ProtoVersion)
	dst = appendStringField(dst, "software_version", p.SoftwareVersion)
	dst = p.HASSH.appendJSON(dst, "hassh")
	return append(dst, '}')
}
