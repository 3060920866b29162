package firelens

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestForwardRecipeTCP(t *testing.T) {
	r := DefaultForwardRecipe(TransportTCP)
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	got := r.LauncherCommand("/fluent-bit/cloudwatch.so")
	want := []string{
		"--key-file", "/var/sidewatch/lib/fluent-bit/forward.key", "--key-env", "SIDEWATCH_FORWARD_KEY",
		"-s", "Scheduler.Cap", "30", "-s", "storage.path", "/var/sidewatch/lib/fluent-bit/flb-storage",
		"--",
		"-e", "/fluent-bit/cloudwatch.so",
		"-F", "rewrite_tag", "-p", "Match_Regex=^[^.]+-firelens-[^.]+$",
		"-p", "Rule=$container_id ^ sidewatch.$TAG true",
		"-p", "Rule=$log ^ sidewatch.$TAG true",
		"-p", "Rule=$message ^ sidewatch.$TAG true",
		"-p", "Emitter_Name=sidewatch_copy", "-p", "Emitter_Storage.type=filesystem", "-p", "Emitter_Mem_Buf_Limit=10M",
		"-o", "forward", "-m", "sidewatch.*", "-p", "Alias=sidewatch",
		"-p", "Host=127.0.0.1", "-p", "Port=24225", "-p", "Shared_Key=${SIDEWATCH_FORWARD_KEY}", "-p", "Self_Hostname=log_router",
		"-p", "Require_ack_response=true", "-p", "Retry_Limit=no_limits", "-p", "storage.total_limit_size=20M",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LauncherCommand (-want +got):\n%s", diff)
	}
}

func TestForwardRecipeUnix(t *testing.T) {
	r := DefaultForwardRecipe(TransportUnix)
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	cmd := r.LauncherCommand()
	if slices.Contains(cmd, "--key-file") || slices.ContainsFunc(cmd, func(a string) bool { return strings.HasPrefix(a, "Shared_Key=") }) {
		t.Errorf("unix recipe %q has a shared key; Fluent Bit's out_forward crashes with shared_key on unix_path", cmd)
	}
	if !slices.Contains(cmd, "unix_path="+ForwardSocketPath) || slices.ContainsFunc(cmd, func(a string) bool { return strings.HasPrefix(a, "Host=") }) {
		t.Errorf("unix recipe %q: want unix_path=%s and no Host", cmd, ForwardSocketPath)
	}
}

func TestForwardRecipeValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*ForwardRecipe)
		want   string
	}{
		{"bad_transport", func(r *ForwardRecipe) { r.Transport = "udp" }, "transport"},
		{"tcp_without_port", func(r *ForwardRecipe) { r.Addr = "127.0.0.1" }, "address"},
		{"tcp_without_key", func(r *ForwardRecipe) { r.KeyFile = "" }, "shared key"},
		{"relative_socket", func(r *ForwardRecipe) { r.Transport, r.UnixPath = TransportUnix, "forward.sock" }, "absolute"},
		{"limit_with_space", func(r *ForwardRecipe) { r.StorageLimit = "20 M" }, "storage limit"},
		{"zero_cap", func(r *ForwardRecipe) { r.SchedulerCap = 0 }, "scheduler cap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := DefaultForwardRecipe(TransportTCP)
			tt.change(&r)
			err := r.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want an error about %q", err, tt.want)
			}
		})
	}
}

func TestTransportFor(t *testing.T) {
	tests := []struct {
		name     string
		version  string
		needUnix bool
		want     Transport
		wantErr  bool
	}{
		{"awsvpc_1_9", "1.9.10", false, TransportTCP, false},
		{"awsvpc_5", "5.1.1", false, TransportTCP, false},
		{"bridge_1_9", "1.9.10", true, "", true},
		{"bridge_4_2", "4.2.2", true, "", true},
		{"bridge_5_1_1", "5.1.1", true, TransportUnix, false},
		{"bridge_5_2", "5.2", true, TransportUnix, false},
		{"bridge_v6", "v6.0.0", true, TransportUnix, false},
		{"bridge_garbage", "latest", true, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := TransportFor(tt.version, tt.needUnix)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("TransportFor(%q, %v) = %q, %v; want %q, error %v", tt.version, tt.needUnix, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestSharedKeyCreatedOnceAndReused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "forward.key")
	var (
		wg   sync.WaitGroup
		keys [8]string
		errs [8]error
	)
	for i := range keys {
		wg.Go(func() { keys[i], errs[i] = LoadOrCreateSharedKey(path) })
	}
	wg.Wait()
	for i := range keys {
		if errs[i] != nil || keys[i] != keys[0] {
			t.Fatalf("concurrent LoadOrCreateSharedKey #%d = %q, %v; want %q (one key for all)", i, keys[i], errs[i], keys[0])
		}
	}
	if len(keys[0]) != 2*sharedKeyBytes {
		t.Errorf("key length = %d, want %d hex characters", len(keys[0]), 2*sharedKeyBytes)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	again, err := LoadOrCreateSharedKey(path)
	if err != nil || again != keys[0] {
		t.Errorf("second start: key %q, %v; want the stored %q", again, err, keys[0])
	}
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".forward-key-*"))
	if len(matches) != 0 {
		t.Errorf("temporary files left behind: %v", matches)
	}
}

func TestReadSharedKeyRejects(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		{"empty", "", "empty"},
		{"newline_only", "\n", "empty"},
		{"space_inside", "ab cd\n", "printable"},
		{"control_byte", "ab\x01cd", "printable"},
		{"too_long", strings.Repeat("a", maxSharedKeyLen+1), "longer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "k")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadOrCreateSharedKey(path); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadOrCreateSharedKey(%q) error = %v, want one about %q (never replace a bad key silently)", tt.content, err, tt.want)
			}
		})
	}
}
