package firelens

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Paths and names of the forward transport, in the shared volume.
const (
	// SharedKeyPath is the file holding the forward shared key. The
	// sidecar creates it at first start and reuses it after a restart, so
	// that a running log_router keeps working; fluent-launch reads it.
	SharedKeyPath = LauncherDir + "/forward.key"
	// SharedKeyEnv is the variable fluent-launch sets from SharedKeyPath
	// before it execs Fluent Bit. The recipe refers to it as ${...}, which
	// Fluent Bit expands in command-line properties, so the key appears in
	// neither the task definition nor the patched config.
	SharedKeyEnv = "SIDEWATCH_FORWARD_KEY"
	// ForwardSocketPath is the sidecar's unix socket.
	ForwardSocketPath = LauncherDir + "/forward.sock"
	// StoragePath is Fluent Bit's filesystem buffer for the sidecar's copy.
	StoragePath = LauncherDir + "/flb-storage"
	// DefaultForwardAddr is the sidecar's TCP listener.
	DefaultForwardAddr = "127.0.0.1:24225"
	// CopyTagPrefix starts the tag of every record copied for the sidecar:
	// "sidewatch.<original tag>". It holds a dot, which FireLens tags never
	// do, so the copy is never copied again and the user's
	// "<container>-firelens*" filters and outputs never see it.
	CopyTagPrefix = "sidewatch."
)

// Transport is how the log_router's forward output reaches the sidecar.
type Transport string

// Transports.
const (
	// TransportTCP is TCP loopback with the shared-key handshake. Fluent
	// Bit 1.9.10 and 5.1.1 both match their acks on it (measured).
	TransportTCP Transport = "tcp"
	// TransportUnix is the unix socket in the shared volume: needed where
	// the router shares no loopback with the sidecar (bridge mode). Only
	// the containers that mount the volume can reach it. Fluent Bit 1.9.10
	// never matches its acks over a unix socket and retries forever, and
	// out_forward dereferences a NULL connection when shared_key is set on
	// unix_path (1.9.10 and 5.1.1), so this transport has no shared key.
	TransportUnix Transport = "unix"
)

// UnixAcksMinVersion is the oldest Fluent Bit version measured to match its
// forward acks over a unix socket.
const UnixAcksMinVersion = "5.1.1"

// TransportFor picks the transport for a log_router whose Fluent Bit
// version is version ("1.9.10", "5.1.1"; aws-for-fluent-bit 2.x ships
// 1.9.10). needUnix is true where the router cannot reach the sidecar on
// loopback (bridge network mode). It errors when no transport works.
func TransportFor(version string, needUnix bool) (Transport, error) {
	if !needUnix {
		return TransportTCP, nil
	}
	ok, err := versionAtLeast(version, UnixAcksMinVersion)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("fluent bit %s does not match forward acks over a unix socket (needs %s or later); use awsvpc network mode (TCP loopback) or a newer log_router image", version, UnixAcksMinVersion)
	}
	return TransportUnix, nil
}

// versionAtLeast compares dotted numeric versions ("1.9.10" < "5.1.1").
func versionAtLeast(v, min string) (bool, error) {
	parse := func(s string) ([3]int, error) {
		var out [3]int
		parts := strings.Split(strings.TrimPrefix(s, "v"), ".")
		if len(parts) == 0 || len(parts) > 3 {
			return out, fmt.Errorf("fluent bit version %q: want MAJOR.MINOR.PATCH", s)
		}
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 {
				return out, fmt.Errorf("fluent bit version %q: want MAJOR.MINOR.PATCH", s)
			}
			out[i] = n
		}
		return out, nil
	}
	a, err := parse(v)
	if err != nil {
		return false, err
	}
	b, err := parse(min)
	if err != nil {
		return false, err
	}
	for i := range a {
		if a[i] != b[i] {
			return a[i] > b[i], nil
		}
	}
	return true, nil
}

// ForwardRecipe is the log_router side of the forward transport: a copy of
// every FireLens record taken before the user's filters, buffered on disk
// for the sidecar only, and sent with acknowledgements.
//
// Isolation (measured on 1.9.10 and 5.1.1 with the sidecar down while the
// app logged 2 KiB lines at 1,000/s): the copy is a rewrite_tag filter on
// the command line, which runs before the config file's filters (so
// records the user's grep filters drop still reach the sidecar); its
// emitter buffers on the filesystem, and the sidecar's output is capped at
// StorageLimit, beyond which Fluent Bit drops the oldest chunks of that
// output only. The user's own outputs never wait for the sidecar.
type ForwardRecipe struct {
	Transport Transport
	// Addr is the sidecar's TCP address (TransportTCP).
	Addr string
	// UnixPath is the sidecar's socket (TransportUnix).
	UnixPath string
	// KeyFile is read by fluent-launch and exported as KeyEnv
	// (TransportTCP only).
	KeyFile string
	KeyEnv  string
	// StoragePath is the [SERVICE] storage.path (the copy's buffer).
	StoragePath string
	// StorageLimit is storage.total_limit_size of the sidecar's output:
	// the bound on its backlog.
	StorageLimit string
	// EmitterMemBufLimit is the copy emitter's Mem_Buf_Limit: the bound
	// on the copy's memory in the log_router (its chunks also go to
	// disk). Trade-off, from Fluent Bit's source: a paused emitter refuses
	// records and rewrite_tag then drops the copy with a debug-level log
	// only; "0" removes that but leaves memory bounded only by
	// storage.max_chunks_up (128 chunks of up to 2 MB), and an OOM kill of
	// the log_router would stop the user's own logging. Measured in the
	// outage test (15 s and 60 s at 2 MB/s): 10M and 0 lost nothing beyond
	// the evicted backlog, peak RSS 26-27 MB either way.
	EmitterMemBufLimit string
	// SchedulerCap caps Fluent Bit's retry backoff (seconds), so the copy
	// resumes soon after the sidecar comes back.
	SchedulerCap int
}

// DefaultForwardRecipe is the recipe taskdef writes for transport t.
func DefaultForwardRecipe(t Transport) ForwardRecipe {
	r := ForwardRecipe{
		Transport:          t,
		StoragePath:        StoragePath,
		StorageLimit:       "20M",
		EmitterMemBufLimit: "10M",
		SchedulerCap:       30,
	}
	switch t {
	case TransportUnix:
		r.UnixPath = ForwardSocketPath
	default:
		r.Addr = DefaultForwardAddr
		r.KeyFile = SharedKeyPath
		r.KeyEnv = SharedKeyEnv
	}
	return r
}

// Validate checks that the recipe can be written as arguments.
func (r ForwardRecipe) Validate() error {
	var errs []error
	switch r.Transport {
	case TransportTCP:
		if _, port, err := net.SplitHostPort(r.Addr); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("forward recipe: address %q: want host:port", r.Addr))
		}
		if r.KeyFile == "" || r.KeyEnv == "" {
			errs = append(errs, errors.New("forward recipe: TCP needs the shared key file and variable"))
		}
	case TransportUnix:
		if !strings.HasPrefix(r.UnixPath, "/") {
			errs = append(errs, fmt.Errorf("forward recipe: unix path %q must be absolute", r.UnixPath))
		}
	default:
		errs = append(errs, fmt.Errorf("forward recipe: transport %q: want tcp or unix", r.Transport))
	}
	for _, f := range []struct{ name, v string }{
		{"storage path", r.StoragePath}, {"storage limit", r.StorageLimit}, {"emitter buffer limit", r.EmitterMemBufLimit},
	} {
		if f.v == "" || strings.ContainsAny(f.v, " \t\r\n") {
			errs = append(errs, fmt.Errorf("forward recipe: %s %q must be one non-empty word", f.name, f.v))
		}
	}
	if r.SchedulerCap < 1 {
		errs = append(errs, fmt.Errorf("forward recipe: scheduler cap %d must be >= 1", r.SchedulerCap))
	}
	return errors.Join(errs...)
}

// LauncherArgs are fluent-launch's own options (before "--").
func (r ForwardRecipe) LauncherArgs() []string {
	var args []string
	if r.Transport == TransportTCP {
		args = append(args, "--key-file", r.KeyFile, "--key-env", r.KeyEnv)
	}
	return append(args,
		"-s", "Scheduler.Cap", strconv.Itoa(r.SchedulerCap),
		"-s", "storage.path", r.StoragePath,
	)
}

// FluentBitArgs are the copy filter and the sidecar's output, as Fluent Bit
// command-line arguments (one argv element per token).
func (r ForwardRecipe) FluentBitArgs() []string {
	args := []string{
		// FireLens tags are "<container>-firelens-<task id>", without dots;
		// the copy's tag has one, so it never matches here again.
		"-F", "rewrite_tag", "-p", "Match_Regex=^[^.]+-firelens-[^.]+$",
		// The first rule that finds its key copies the record. The log
		// driver always sends container_id; records sent to FireLens'
		// TCP input by other means usually have log.
		"-p", "Rule=$container_id ^ " + CopyTagPrefix + "$TAG true",
		"-p", "Rule=$log ^ " + CopyTagPrefix + "$TAG true",
		"-p", "Rule=$message ^ " + CopyTagPrefix + "$TAG true",
		"-p", "Emitter_Name=sidewatch_copy",
		"-p", "Emitter_Storage.type=filesystem",
		"-p", "Emitter_Mem_Buf_Limit=" + r.EmitterMemBufLimit,
		"-o", "forward", "-m", CopyTagPrefix + "*",
		"-p", "Alias=sidewatch",
	}
	switch r.Transport {
	case TransportUnix:
		args = append(args, "-p", "unix_path="+r.UnixPath)
	default:
		host, port, _ := net.SplitHostPort(r.Addr)
		args = append(args, "-p", "Host="+host, "-p", "Port="+port,
			"-p", "Shared_Key=${"+r.KeyEnv+"}", "-p", "Self_Hostname=log_router")
	}
	return append(args,
		"-p", "Require_ack_response=true",
		"-p", "Retry_Limit=no_limits",
		"-p", "storage.total_limit_size="+r.StorageLimit,
	)
}

// LauncherCommand is the log_router's command (its entryPoint is
// LauncherPath): fluent-launch's options, "--", then Fluent Bit's
// arguments. goPlugins are -e shared objects (the AWS image's
// /fluent-bit/cloudwatch.so and friends) needed by outputs in the file.
func (r ForwardRecipe) LauncherCommand(goPlugins ...string) []string {
	cmd := append(r.LauncherArgs(), "--")
	for _, p := range goPlugins {
		cmd = append(cmd, "-e", p)
	}
	return append(cmd, r.FluentBitArgs()...)
}
