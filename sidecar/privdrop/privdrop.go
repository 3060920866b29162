// Package privdrop switches the sidecar to an unprivileged user and clears
// every capability once its privileged sockets are open, as tcpdump -Z does.
package privdrop

import (
	"fmt"
	"strconv"
	"strings"
)

// User is a numeric user and group to switch to.
type User struct {
	UID, GID int
}

// ParseUser parses "UID[:GID]" (numbers only: the sidecar image has no user
// database). Without GID the group is the UID's number. Neither may be 0:
// dropping to root would keep nothing from being dropped.
func ParseUser(s string) (User, error) {
	uidStr, gidStr, hasGID := strings.Cut(s, ":")
	uid, err := parseID(uidStr)
	if err != nil {
		return User{}, fmt.Errorf("user %q: uid: %w", s, err)
	}
	gid := uid
	if hasGID {
		if gid, err = parseID(gidStr); err != nil {
			return User{}, fmt.Errorf("user %q: gid: %w", s, err)
		}
	}
	return User{UID: uid, GID: gid}, nil
}

func parseID(s string) (int, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 || n == 1<<32-1 {
		return 0, fmt.Errorf("%q is out of range 1..4294967294", s)
	}
	return int(n), nil
}

// String formats u as ParseUser reads it.
func (u User) String() string { return strconv.Itoa(u.UID) + ":" + strconv.Itoa(u.GID) }
