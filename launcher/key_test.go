package launcher

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/firelens"
)

func TestKeyFileExportedToFluentBit(t *testing.T) {
	in, runPath := writeInput(t, fireLensConfig)
	volume := t.TempDir()
	keyFile := filepath.Join(volume, "forward.key")
	key, err := firelens.LoadOrCreateSharedKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(firelens.SharedKeyEnv, "stale-value")
	r := firelens.DefaultForwardRecipe(firelens.TransportTCP)
	r.KeyFile = keyFile
	var calls []execCall
	sys := fakeSystem(t, filepath.Join(volume, "fluent-launch"), &calls)
	args := append([]string{"-r", runPath, "-c", in}, r.LauncherCommand()...)
	var stdout, stderr bytes.Buffer
	if err := run(args, &stdout, &stderr, sys); err != nil {
		t.Fatalf("run(%q) = %v", args, err)
	}
	env := calls[0].env
	want := firelens.SharedKeyEnv + "=" + key
	if !slices.Contains(env, want) || slices.Contains(env, firelens.SharedKeyEnv+"=stale-value") {
		t.Errorf("exec environment lacks %s=<key> or keeps the stale value", firelens.SharedKeyEnv)
	}
	// The key is in the environment only: not in argv, not in the config.
	for _, a := range calls[0].argv {
		if strings.Contains(a, key) {
			t.Errorf("argv element %q holds the key", a)
		}
	}
	if strings.Contains(calls[0].outContent, key) || stdout.Len() != 0 || strings.Contains(stderr.String(), key) {
		t.Error("the key was written to the config or printed")
	}
	if !slices.Contains(calls[0].argv, "Shared_Key=${"+firelens.SharedKeyEnv+"}") {
		t.Errorf("argv %q lacks the ${%s} reference", calls[0].argv, firelens.SharedKeyEnv)
	}
}

func TestKeyFileWaitsThenFails(t *testing.T) {
	in, runPath := writeInput(t, fireLensConfig)
	volume := t.TempDir()
	keyFile := filepath.Join(volume, "forward.key")
	var calls []execCall
	sys := fakeSystem(t, filepath.Join(volume, "fluent-launch"), &calls)
	sys.keyWait = 300 * time.Millisecond
	args := []string{"-r", runPath, "-c", in, "--key-file", keyFile, "--"}

	// Written while the launcher waits (the sidecar starting late).
	go func() {
		time.Sleep(100 * time.Millisecond)
		os.WriteFile(keyFile, []byte("k1\n"), 0o600)
	}()
	if err := run(args, &bytes.Buffer{}, &bytes.Buffer{}, sys); err != nil {
		t.Fatalf("run with a key written during the wait: %v", err)
	}
	if !slices.Contains(calls[0].env, firelens.SharedKeyEnv+"=k1") {
		t.Error("key written during the wait not exported")
	}

	os.Remove(keyFile)
	err := run(args, &bytes.Buffer{}, &bytes.Buffer{}, sys)
	if err == nil || !strings.HasPrefix(err.Error(), "key: "+keyFile+": ") {
		t.Errorf("run without a key file = %v, want a key step error naming it", err)
	}
	if code := Main(append([]string{"--key-env", "1BAD"}, args[4:]...), &bytes.Buffer{}, &bytes.Buffer{}, ""); code != 2 {
		t.Errorf("--key-env 1BAD exit = %d, want 2", code)
	}
}
