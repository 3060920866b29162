package firelens

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// sharedKeyBytes is the entropy of a generated key (hex-encoded in the file).
const sharedKeyBytes = 32

// maxSharedKeyLen bounds what ReadSharedKey accepts.
const maxSharedKeyLen = 1024

// LoadOrCreateSharedKey returns the forward shared key stored at path,
// creating it (32 random bytes, hex, mode 0600, written atomically) when
// the file does not exist. A key that exists is kept, so that a log_router
// started before a sidecar restart keeps authenticating.
func LoadOrCreateSharedKey(path string) (string, error) {
	key, err := ReadSharedKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	var b [sharedKeyBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("shared key: %w", err)
	}
	key = hex.EncodeToString(b[:])
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("shared key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".forward-key-*")
	if err != nil {
		return "", fmt.Errorf("shared key: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the link
	_, err = tmp.WriteString(key + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("shared key %s: %w", path, err)
	}
	// Link, not rename: if another process created the key meanwhile,
	// its key stays and is the one returned.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return ReadSharedKey(path)
		}
		return "", fmt.Errorf("shared key %s: %w", path, err)
	}
	return key, nil
}

// ReadSharedKey reads a key file: one line of printable ASCII without
// spaces, at most 1024 bytes.
func ReadSharedKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("shared key: %w", err)
	}
	key := strings.TrimSuffix(string(b), "\n")
	switch {
	case key == "":
		return "", fmt.Errorf("shared key %s: empty", path)
	case len(key) > maxSharedKeyLen:
		return "", fmt.Errorf("shared key %s: longer than %d bytes", path, maxSharedKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] >= 0x7f {
			return "", fmt.Errorf("shared key %s: byte %d is not printable ASCII", path, i)
		}
	}
	return key, nil
}
