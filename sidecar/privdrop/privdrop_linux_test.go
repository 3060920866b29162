package privdrop

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

const childEnv = "SIDEWATCH_PRIVDROP_TEST_CHILD"

// TestDrop runs Drop in a child process started as root and checks, from
// the child's report, every thread's credentials and capability sets.
func TestDrop(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to test switching users (CI runs tests as root)")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDropChild$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"=65534:65533")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	threads := 0
	for _, block := range strings.Split(string(out), "=== status ")[1:] {
		threads++
		fields := map[string]string{}
		for _, line := range strings.Split(block, "\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok {
				fields[k] = strings.Join(strings.Fields(v), " ")
			}
		}
		want := map[string]string{
			"Uid":    "65534 65534 65534 65534",
			"Gid":    "65533 65533 65533 65533",
			"Groups": "",
			"CapInh": "0000000000000000",
			"CapPrm": "0000000000000000",
			"CapEff": "0000000000000000",
			"CapAmb": "0000000000000000",
			"CapBnd": "0000000000000000",
		}
		for k, v := range want {
			if fields[k] != v {
				t.Errorf("thread %s: %s = %q, want %q", strings.SplitN(block, "\n", 2)[0], k, fields[k], v)
			}
		}
	}
	if threads < 2 {
		t.Errorf("child reported %d threads, want several:\n%s", threads, out)
	}
	for _, want := range []string{"af_packet: operation not permitted", "drop again: "} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
}

// TestDropChild is the child half of TestDrop.
func TestDropChild(t *testing.T) {
	arg := os.Getenv(childEnv)
	if arg == "" {
		t.Skip("only run as TestDrop's child")
	}
	u, err := ParseUser(arg)
	if err != nil {
		t.Fatal(err)
	}
	// Park goroutines on threads of their own so Drop has several threads
	// to cover.
	var wg sync.WaitGroup
	release := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			<-release
		}()
	}
	if err := Drop(u); err != nil {
		t.Fatal(err)
	}
	tasks, _ := filepath.Glob("/proc/self/task/*/status")
	for _, path := range tasks {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		fmt.Printf("=== status %s\n%s", path, b)
	}
	close(release)
	wg.Wait()
	if _, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0); err != nil {
		fmt.Printf("af_packet: %v\n", err)
	} else {
		fmt.Printf("af_packet: opened after Drop\n")
	}
	fmt.Printf("drop again: %v\n", Drop(User{UID: 1000, GID: 1000}))
}
