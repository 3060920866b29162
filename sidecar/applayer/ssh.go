package applayer

import (
	"errors"

	"github.com/sidewatch/sidewatch/sidecar/applayer/ssh"
	"github.com/sidewatch/sidewatch/sidecar/applayer/tls"
	"github.com/sidewatch/sidewatch/sidecar/event"
)

// maxSSHVersion bounds the logged versions, as Suricata's 256-byte banner
// limit does.
const maxSSHVersion = 256

// sshConn is an SSH connection's clear-text start.
type sshConn struct {
	streams [2]ssh.Stream
	ev      *event.SSH
	logged  bool
}

// sshData reads a direction's identification string and KEXINIT; the
// direction is done after its KEXINIT, and the event is written once both
// are.
func (en *Engine) sshData(cs *connState, dir int, b []byte) (int, bool) {
	s := &cs.ssh
	pos := 0
	for {
		it, n, err := s.streams[dir].Next(b[pos:])
		pos += n
		if err != nil {
			if errors.Is(err, ssh.ErrNotSSH) {
				en.m.sshErrors[errNotProto].Inc()
			} else {
				en.m.sshErrors[errMalformed].Inc()
			}
			return pos, en.sshDone(cs, dir)
		}
		switch it.Kind {
		case ssh.KindNone:
			return pos, true
		case ssh.KindBanner:
			proto, software, ok := ssh.ParseBanner(it.Data)
			if !ok {
				en.m.sshErrors[errMalformed].Inc()
				return pos, en.sshDone(cs, dir)
			}
			p := en.sshPeer(s, dir)
			p.ProtoVersion = en.a.str(proto[:min(len(proto), maxSSHVersion)])
			p.SoftwareVersion = en.a.str(software[:min(len(software), maxSSHVersion)])
		case ssh.KindKexInit:
			if err := en.kex.Parse(it.Data); err != nil {
				en.m.sshErrors[errMalformed].Inc()
				return pos, en.sshDone(cs, dir)
			}
			a := &en.a
			h := a.hashes.one(a)
			str := en.kex.AppendHASSH(a.reserve(len(it.Data)), dir == toClient)
			h.String = a.commit(str)
			h.Hash = a.commit(tls.AppendMD5Hex(a.reserve(32), str))
			en.sshPeer(s, dir).HASSH = h
			return pos, en.sshDone(cs, dir)
		}
	}
}

func (en *Engine) sshPeer(s *sshConn, dir int) *event.SSHPeer {
	if s.ev == nil {
		s.ev = en.a.ssh.one(&en.a)
	}
	p := &s.ev.Client
	if dir == toClient {
		p = &s.ev.Server
	}
	if *p == nil {
		*p = en.a.sshPeers.one(&en.a)
	}
	return *p
}

// sshDone marks a direction finished; with both, the event is written.
func (en *Engine) sshDone(cs *connState, dir int) bool {
	cs.done[dir] = true
	if cs.done[1-dir] {
		en.sshFinish(cs)
	}
	return false
}

func (en *Engine) sshFinish(cs *connState) {
	s := &cs.ssh
	if s.logged || s.ev == nil || !en.cfg.SSH {
		return
	}
	s.logged = true
	ev := en.header(event.TypeSSH, false)
	ev.SSH = s.ev
	en.emit(ev)
}
