package detect

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/sidewatch/sidewatch/internal/netnstest"
	"github.com/sidewatch/sidewatch/sidecar/capture"
)

// activities make each corpus case's traffic in the lab with real tools.
var activities = map[string]func(l *lab){
	"scan_in_syn": func(l *lab) {
		l.in(l.N, "nmap", "-sS", "-Pn", "-n", "-T4", "--max-retries", "1", "-p", "1-100", labTask)
	},
	"scan_in_connect": func(l *lab) {
		l.in(l.N, "nmap", "-sT", "-Pn", "-n", "-T4", "--max-retries", "1", "-p", "1-100", labTask)
	},
	"scan_in_udp": func(l *lab) {
		l.in(l.N, "nmap", "-sU", "-Pn", "-n", "-T4", "--max-retries", "0", "-p", "1-30", labTask)
	},
	"scan_in_version": func(l *lab) {
		l.start(l.T, "Serving", "python3", "-u", "-m", "http.server", "8080", "--bind", labTask)
		l.in(l.N, "nmap", "-sV", "--version-intensity", "0", "-Pn", "-n", "-T4", "--max-retries", "1", "-p", "1-20,8080", labTask)
	},
	"scan_out_syn": func(l *lab) {
		l.in(l.T, "nmap", "-sS", "-Pn", "-n", "-T4", "--max-retries", "1", "-p", "1-100", labRouter)
	},
	"scan_out_connect": func(l *lab) {
		l.in(l.T, "nmap", "-sT", "-Pn", "-n", "-T4", "--max-retries", "1", "-p", "1-100", labRouter)
	},
	"scan_out_udp": func(l *lab) {
		l.in(l.T, "nmap", "-sU", "-Pn", "-n", "-T4", "--max-retries", "0", "-p", "1-30", labRouter)
	},
	"sweep_out": func(l *lab) {
		l.in(l.T, "nmap", "-sS", "-Pn", "-n", "-T4", "--max-retries", "0", "-p", "22", "10.78.1.1-40")
	},
	"imds": func(l *lab) {
		l.start(l.M, "listening", "python3", "-u", "testdata/metadata.py", labOwnCreds)
		token := l.in(l.T, "curl", "-sf", "-X", "PUT", "-H", "X-aws-ec2-metadata-token-ttl-seconds: 21600", "http://169.254.169.254/latest/api/token")
		l.in(l.T, "curl", "-sf", "-H", "X-aws-ec2-metadata-token: "+token, "http://169.254.169.254/latest/meta-data/iam/security-credentials/")
		l.in(l.T, "curl", "-sf", "-H", "X-aws-ec2-metadata-token: "+token, "http://169.254.169.254/latest/meta-data/iam/security-credentials/app-role")
	},
	"stratum": func(l *lab) {
		l.start(l.N, "listening", "python3", "-u", "testdata/stratum.py", "server", labPool, "3333", "8081")
		l.in(l.T, "python3", "testdata/stratum.py", "client", labPool, "3333", "8081")
	},
	"intel_ip": func(l *lab) {
		l.start(l.N, "Serving", "python3", "-u", "-m", "http.server", "8080", "--bind", labListed)
		l.in(l.T, "curl", "-sf", "-o", "/dev/null", "http://"+labListed+":8080/")
	},
}

// TestLabCorpus makes each corpus case's traffic with real tools in the
// lab while the detection chain captures the task's interfaces live, and
// checks that exactly the expected signatures are raised, each within
// 60 s of the activity's start; then it replays what dumpcap recorded of
// the same traffic and checks that the replay raises the same ones. With
// -record, the recordings replace the committed captures.
func TestLabCorpus(t *testing.T) {
	requireLab(t, "nmap", "curl")
	if testing.Short() {
		t.Skip("the lab corpus takes about a minute")
	}
	l := newLab(t)
	for _, cc := range corpus {
		act := activities[cc.name]
		if act == nil {
			t.Errorf("corpus case %s has no activity", cc.name)
			continue
		}
		t.Run(cc.name, func(t *testing.T) {
			l.t = t
			defer l.stopAll()
			cfg := labConfig(cc)
			c := newChain(t, cfg)
			var capt *capture.Capture
			netnstest.In(t, l.T, func() {
				var err error
				if capt, err = capture.Open(capture.DefaultConfig(), c.reg); err != nil {
					t.Fatal(err)
				}
			})
			ctx, cancel := context.WithCancel(context.Background())
			ran := make(chan error, 1)
			go func() { ran <- capt.Run(ctx, c.table) }()
			pcap := filepath.Join(t.TempDir(), cc.name+".pcapng")
			stopRecording := l.record(pcap)

			start := time.Now()
			act(l)
			want := sortedCopy(cc.want)
			deadline := start.Add(60 * time.Second)
			for time.Now().Before(deadline) && !containsAll(c.rec.uniqueSIDs(), want) {
				time.Sleep(100 * time.Millisecond)
			}
			time.Sleep(time.Second) // anything else that was coming
			stopRecording()
			l.stopAll()
			cancel()
			if err := <-ran; err != nil {
				t.Errorf("capture: %v", err)
			}
			if got := c.rec.uniqueSIDs(); !slices.Equal(got, want) {
				t.Errorf("live: signatures %v, want %v\n%s", got, want, describe(c.rec.alerts))
			}
			for i, a := range c.rec.alerts {
				d := c.rec.arrived[i].Sub(start)
				if d > 60*time.Second {
					t.Errorf("live: alert %d after %s, more than 60 s", a.Alert.SignatureID, d)
				}
				t.Logf("latency %s sid %d: %s after the activity started", cc.name, a.Alert.SignatureID, d.Round(time.Millisecond))
			}
			checkAlertedFlows(t, c)

			r := replay(t, cfg, pcap)
			if got, live := r.rec.uniqueSIDs(), c.rec.uniqueSIDs(); !slices.Equal(got, live) {
				t.Errorf("replay of the recording: signatures %v, live %v\n%s", got, live, describe(r.rec.alerts))
			}
			if *record {
				copyFile(t, pcap, casePath(cc.name))
			}
		})
	}
}

func containsAll(got, want []int) bool {
	for _, w := range want {
		if !slices.Contains(got, w) {
			return false
		}
	}
	return true
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(to)
	t.Logf("recorded %s (%s bytes)", to, strconv.FormatInt(st.Size(), 10))
}
