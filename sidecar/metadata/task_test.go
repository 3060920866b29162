package metadata

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// cmpNet compares the netip types, whose fields are unexported.
var cmpNet = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// fixtureTask is testdata/tmde-v4-task.json (AWS's Fargate example) parsed.
func fixtureTask() *Task {
	const arn = "arn:aws:ecs:us-east-1:123456789012:task/MyEmptyCluster/bfa2636268144d039771334145e490c5"
	const cluster = "arn:aws:ecs:us-east-1:123456789012:cluster/MyEmptyCluster"
	labels := func(name string) map[string]string {
		return map[string]string{
			"com.amazonaws.ecs.cluster":                 cluster,
			"com.amazonaws.ecs.container-name":          name,
			"com.amazonaws.ecs.task-arn":                arn,
			"com.amazonaws.ecs.task-definition-family":  "sample-fargate",
			"com.amazonaws.ecs.task-definition-version": "5",
		}
	}
	network := []Network{{
		NetworkMode:          "awsvpc",
		IPv4Addresses:        []netip.Addr{netip.MustParseAddr("172.31.42.189")},
		MACAddress:           net.HardwareAddr{0x0e, 0x98, 0x9f, 0x33, 0x76, 0xd3},
		IPv4Subnet:           netip.MustParsePrefix("172.31.32.0/20"),
		SubnetGatewayIPv4:    netip.MustParsePrefix("172.31.32.1/20"),
		PrivateDNSName:       "ip-172-31-42-189.ec2.internal",
		DomainNameServers:    []string{"172.31.0.2"},
		DomainNameSearchList: []string{"ec2.internal"},
	}}
	return &Task{
		Cluster:          cluster,
		TaskARN:          arn,
		Family:           "sample-fargate",
		Revision:         "5",
		DesiredStatus:    "RUNNING",
		KnownStatus:      "RUNNING",
		AvailabilityZone: "us-east-1d",
		LaunchType:       "FARGATE",
		Limits:           Limits{CPU: 0.25, Memory: 512},
		PullStartedAt:    mustTime("2023-07-21T15:45:33.532811081Z"),
		PullStoppedAt:    mustTime("2023-07-21T15:45:38.541068435Z"),
		ClockDrift: ClockDrift{
			ClockErrorBound:            0.446931,
			ReferenceTimestamp:         mustTime("2023-07-21T16:09:17Z"),
			ClockSynchronizationStatus: "SYNCHRONIZED",
		},
		Containers: []Container{
			{
				DockerID:      "bfa2636268144d039771334145e490c5-1117626119",
				Name:          "curl-image",
				DockerName:    "curl-image",
				Image:         "curlimages/curl",
				ImageID:       "sha256:daf3f46a2639c1613b25e85c9ee4193af8a1d538f92483d67f9a3d7f21721827",
				Labels:        labels("curl-image"),
				DesiredStatus: "RUNNING",
				KnownStatus:   "RUNNING",
				Limits:        Limits{CPU: 128},
				CreatedAt:     mustTime("2023-07-21T15:45:44.91368314Z"),
				StartedAt:     mustTime("2023-07-21T15:45:44.91368314Z"),
				Type:          "NORMAL",
				ContainerARN:  "arn:aws:ecs:us-east-1:123456789012:container/MyEmptyCluster/bfa2636268144d039771334145e490c5/da6cccf7-1178-400c-afdf-7536173ee209",
				Networks:      network,
			},
			{
				DockerID:      "bfa2636268144d039771334145e490c5-3681984407",
				Name:          "fargate-app",
				DockerName:    "fargate-app",
				Image:         "public.ecr.aws/docker/library/httpd:latest",
				ImageID:       "sha256:8059bdd0058510c03ae4c808de8c4fd2c1f3c1b6d9ea75487f1e5caa5ececa02",
				Labels:        labels("fargate-app"),
				DesiredStatus: "RUNNING",
				KnownStatus:   "RUNNING",
				Limits:        Limits{CPU: 2},
				CreatedAt:     mustTime("2023-07-21T15:45:44.954460255Z"),
				StartedAt:     mustTime("2023-07-21T15:45:44.954460255Z"),
				Type:          "NORMAL",
				ContainerARN:  "arn:aws:ecs:us-east-1:123456789012:container/MyEmptyCluster/bfa2636268144d039771334145e490c5/f65b461d-aa09-4acb-a579-9785c0530cbc",
				Networks:      network,
			},
		},
	}
}

func TestParseTaskFixture(t *testing.T) {
	got, err := ParseTask(readFixture(t, "tmde-v4-task.json"))
	if err != nil {
		t.Fatalf("ParseTask(tmde-v4-task.json) error: %v", err)
	}
	if diff := cmp.Diff(fixtureTask(), got, cmpNet); diff != "" {
		t.Errorf("ParseTask(tmde-v4-task.json) mismatch (-want +got):\n%s", diff)
	}
	if got, want := got.ClusterName(), "MyEmptyCluster"; got != want {
		t.Errorf("ClusterName() = %q, want %q", got, want)
	}
}

// TestParseTaskContainerFixture parses AWS's example container response
// (testdata/tmde-v4-container.json) as the one container of a task. Its
// gateway is a network CIDR ("192.0.2.0/24"), unlike the task example's.
func TestParseTaskContainerFixture(t *testing.T) {
	doc := `{"TaskARN":"arn:aws:ecs:us-west-2:111122223333:task/default/cd189a933e5849daa93386466019ab50","Containers":[` +
		string(readFixture(t, "tmde-v4-container.json")) + `]}`
	task, err := ParseTask([]byte(doc))
	if err != nil {
		t.Fatalf("ParseTask(container fixture in a task) error: %v", err)
	}
	want := Container{
		DockerID:   "cd189a933e5849daa93386466019ab50-2495160603",
		Name:       "curl",
		DockerName: "curl",
		Image:      "111122223333.dkr.ecr.us-west-2.amazonaws.com/curltest:latest",
		ImageID:    "sha256:25f3695bedfb454a50f12d127839a68ad3caf91e451c1da073db34c542c4d2cb",
		Labels: map[string]string{
			"com.amazonaws.ecs.cluster":                 "arn:aws:ecs:us-west-2:111122223333:cluster/default",
			"com.amazonaws.ecs.container-name":          "curl",
			"com.amazonaws.ecs.task-arn":                "arn:aws:ecs:us-west-2:111122223333:task/default/cd189a933e5849daa93386466019ab50",
			"com.amazonaws.ecs.task-definition-family":  "curltest",
			"com.amazonaws.ecs.task-definition-version": "2",
		},
		DesiredStatus: "RUNNING",
		KnownStatus:   "RUNNING",
		Limits:        Limits{CPU: 10, Memory: 128},
		CreatedAt:     mustTime("2020-10-08T20:09:11.44527186Z"),
		StartedAt:     mustTime("2020-10-08T20:09:11.44527186Z"),
		Type:          "NORMAL",
		ContainerARN:  "arn:aws:ecs:us-west-2:111122223333:container/05966557-f16c-49cb-9352-24b3a0dcd0e1",
		LogDriver:     "awslogs",
		LogOptions: map[string]string{
			"awslogs-create-group": "true",
			"awslogs-group":        "/ecs/containerlogs",
			"awslogs-region":       "us-west-2",
			"awslogs-stream":       "ecs/curl/cd189a933e5849daa93386466019ab50",
		},
		Networks: []Network{{
			NetworkMode:          "awsvpc",
			IPv4Addresses:        []netip.Addr{netip.MustParseAddr("192.0.2.3")},
			MACAddress:           net.HardwareAddr{0x0a, 0xde, 0xf6, 0x10, 0x51, 0xe5},
			IPv4Subnet:           netip.MustParsePrefix("192.0.2.0/24"),
			SubnetGatewayIPv4:    netip.MustParsePrefix("192.0.2.0/24"),
			PrivateDNSName:       "ip-10-0-0-222.us-west-2.compute.internal",
			DomainNameServers:    []string{"192.0.2.2"},
			DomainNameSearchList: []string{"us-west-2.compute.internal"},
		}},
	}
	if len(task.Containers) != 1 {
		t.Fatalf("ParseTask(container fixture in a task): %d containers, want 1", len(task.Containers))
	}
	if diff := cmp.Diff(want, task.Containers[0], cmpNet); diff != "" {
		t.Errorf("container mismatch (-want +got):\n%s", diff)
	}
	if got, want := task.ClusterName(), ""; got != want {
		t.Errorf("ClusterName() = %q, want %q (no Cluster field)", got, want)
	}
}

// parseTests are documents that parse; each is checked on one field.
var parseTests = []struct {
	name  string
	in    string
	check func(*Task) any
	want  any
}{
	{
		name:  "minimal",
		in:    `{"TaskARN":"arn:aws:ecs:us-east-1:1:task/c/abc"}`,
		check: func(t *Task) any { return len(t.Containers) },
		want:  0,
	},
	{
		name:  "unknown_fields_ignored",
		in:    `{"TaskARN":"a","SomethingNew":{"x":[1,2]},"Family":"web"}`,
		check: func(t *Task) any { return t.Family },
		want:  "web",
	},
	{
		name:  "gateway_is_cidr_with_host_bits",
		in:    `{"TaskARN":"a","Containers":[{"Networks":[{"SubnetGatewayIpv4Address":"192.0.2.1/24"}]}]}`,
		check: func(t *Task) any { return t.Containers[0].Networks[0].SubnetGatewayIPv4.String() },
		want:  "192.0.2.1/24",
	},
	{
		name:  "gateway_bare_address",
		in:    `{"TaskARN":"a","Containers":[{"Networks":[{"SubnetGatewayIpv4Address":"192.0.2.1"}]}]}`,
		check: func(t *Task) any { return t.Containers[0].Networks[0].SubnetGatewayIPv4.String() },
		want:  "192.0.2.1/32",
	},
	{
		name:  "empty_mac_is_nil",
		in:    `{"TaskARN":"a","Containers":[{"Networks":[{"NetworkMode":"bridge","MACAddress":""}]}]}`,
		check: func(t *Task) any { return t.Containers[0].Networks[0].MACAddress == nil },
		want:  true,
	},
	{
		name: "ipv6_addresses",
		in:   `{"TaskARN":"a","Containers":[{"Networks":[{"IPv6Addresses":["2001:db8::5"],"IPv6SubnetCIDRBlock":"2001:db8::/64"}]}]}`,
		check: func(t *Task) any {
			return t.Containers[0].Networks[0].IPv6Subnet.Contains(t.Containers[0].Networks[0].IPv6Addresses[0])
		},
		want: true,
	},
	{
		name:  "task_cpu_is_vcpu_float",
		in:    `{"TaskARN":"a","Limits":{"CPU":0.5,"Memory":1024},"Containers":[{"Limits":{"CPU":512}}]}`,
		check: func(t *Task) any { return [2]float64{t.Limits.CPU, t.Containers[0].Limits.CPU} },
		want:  [2]float64{0.5, 512},
	},
	{
		name:  "empty_and_null_times",
		in:    `{"TaskARN":"a","PullStartedAt":"","PullStoppedAt":null}`,
		check: func(t *Task) any { return t.PullStartedAt.IsZero() && t.PullStoppedAt.IsZero() },
		want:  true,
	},
	{
		name:  "stopping_task",
		in:    `{"TaskARN":"a","DesiredStatus":"STOPPED","ExecutionStoppedAt":"2023-07-21T16:00:00Z","Containers":[{"Name":"app","ExitCode":137}]}`,
		check: func(t *Task) any { return *t.Containers[0].ExitCode },
		want:  137,
	},
	{
		name:  "ec2_cluster_name_and_docker_id",
		in:    `{"Cluster":"default","TaskARN":"a","VPCID":"vpc-1","Containers":[{"DockerId":"731a0d6a3b4210e2448339bc7015aaa79bfe4fa256384f4102db86ef94cbbc4c","Name":"web","DockerName":"ecs-web-7-web-d0c8a1"}]}`,
		check: func(t *Task) any { return t.ClusterName() + " " + t.VPCID + " " + t.Containers[0].DockerID[:8] },
		want:  "default vpc-1 731a0d6a",
	},
}

func TestParseTask(t *testing.T) {
	for _, tt := range parseTests {
		t.Run(tt.name, func(t *testing.T) {
			task, err := ParseTask([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseTask(%q) error: %v", tt.in, err)
			}
			if got := tt.check(task); !cmp.Equal(got, tt.want) {
				t.Errorf("ParseTask(%q): got %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

var parseErrorTests = []struct {
	name    string
	in      string
	wantErr string
}{
	{"empty", ``, "unexpected end of JSON input"},
	{"not_json", `<html>502 Bad Gateway</html>`, "invalid character"},
	{"truncated", `{"TaskARN":"a","Containers":[{"Name":"x"`, "unexpected end of JSON input"},
	{"trailing_data", `{"TaskARN":"a"} {"TaskARN":"b"}`, "invalid character"},
	{"null", `null`, "no TaskARN"},
	{"array", `[]`, "cannot unmarshal array"},
	{"missing_task_arn", `{"Cluster":"c","Family":"f"}`, "no TaskARN"},
	{"revision_number", `{"TaskARN":"a","Revision":5}`, "Revision"},
	{"bad_ipv4", `{"TaskARN":"a","Containers":[{"Name":"app","Networks":[{"IPv4Addresses":["10.0.0.300"]}]}]}`, `container 0 ("app") network 0: IPv4Addresses[0]`},
	{"bad_mac", `{"TaskARN":"a","Containers":[{"Networks":[{"MACAddress":"0e:98:zz"}]}]}`, "MACAddress"},
	{"bad_gateway", `{"TaskARN":"a","Containers":[{"Networks":[{"SubnetGatewayIpv4Address":"192.0.2.1/99"}]}]}`, "SubnetGatewayIpv4Address"},
	{"bad_subnet", `{"TaskARN":"a","Containers":[{"Networks":[{"IPv4SubnetCIDRBlock":"x/20"}]}]}`, "IPv4SubnetCIDRBlock"},
	{"bad_time", `{"TaskARN":"a","PullStartedAt":"yesterday"}`, "cannot parse"},
	{"fractional_memory", `{"TaskARN":"a","Limits":{"Memory":1.5}}`, "Memory"},
}

func TestParseTaskErrors(t *testing.T) {
	for _, tt := range parseErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			task, err := ParseTask([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseTask(%q) = %v, %v; want error containing %q", tt.in, task, err, tt.wantErr)
			}
			if task != nil {
				t.Errorf("ParseTask(%q) returned a task with error %v", tt.in, err)
			}
		})
	}
}

func TestENIs(t *testing.T) {
	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	tests := []struct {
		name string
		in   string
		want []string // MAC addresses
	}{
		{"fargate_fixture_one_eni", string(readFixture(t, "tmde-v4-task.json")), []string{"0e:98:9f:33:76:d3"}},
		{"no_containers", `{"TaskARN":"a"}`, nil},
		{"bridge_mode_no_mac", `{"TaskARN":"a","Containers":[{"Networks":[{"NetworkMode":"bridge","IPv4Addresses":["172.17.0.2"]}]}]}`, nil},
		{
			name: "two_attachments_deduplicated",
			in: `{"TaskARN":"a","Containers":[
				{"Networks":[{"MACAddress":"0a:00:00:00:00:01"},{"MACAddress":"0a:00:00:00:00:02"}]},
				{"Networks":[{"MACAddress":"0A:00:00:00:00:02"}]}]}`,
			want: []string{"0a:00:00:00:00:01", "0a:00:00:00:00:02"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task, err := ParseTask([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			var got []net.HardwareAddr
			for _, n := range task.ENIs() {
				got = append(got, n.MACAddress)
			}
			var want []net.HardwareAddr
			for _, s := range tt.want {
				want = append(want, mac(s))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ENIs() MACs mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClusterName(t *testing.T) {
	tests := []struct{ name, cluster, want string }{
		{"fargate_arn", "arn:aws:ecs:us-east-1:123456789012:cluster/MyEmptyCluster", "MyEmptyCluster"},
		{"china_partition", "arn:aws-cn:ecs:cn-north-1:123456789012:cluster/prod", "prod"},
		{"ec2_name", "default", "default"},
		{"name_with_slash_not_arn", "a/b", "a/b"},
		{"arn_without_slash", "arn:aws:ecs:us-east-1:1:cluster", "arn:aws:ecs:us-east-1:1:cluster"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (&Task{Cluster: tt.cluster}).ClusterName(); got != tt.want {
				t.Errorf("ClusterName(%q) = %q, want %q", tt.cluster, got, tt.want)
			}
		})
	}
}

func FuzzParseTask(f *testing.F) {
	f.Add(readFixture(f, "tmde-v4-task.json"))
	f.Add([]byte(`{"TaskARN":"a","Containers":[` + string(readFixture(f, "tmde-v4-container.json")) + `]}`))
	for _, tt := range parseTests {
		f.Add([]byte(tt.in))
	}
	for _, tt := range parseErrorTests {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		task, err := ParseTask(data)
		if (err == nil) == (task == nil) {
			t.Fatalf("ParseTask(%q) = %v, %v: want exactly one of task and error", data, task, err)
		}
		if err != nil {
			return
		}
		if task.TaskARN == "" {
			t.Fatalf("ParseTask(%q) accepted a task without TaskARN", data)
		}
		// Every container with an id and a name must be found both ways,
		// unless an earlier container has the same id or name.
		s := newSnapshot(task)
		seenID, seenName := map[string]bool{}, map[string]bool{}
		for _, c := range task.Containers {
			if c.DockerID != "" && c.Name != "" && !seenID[c.DockerID] {
				if got := s.nameByID[c.DockerID]; got == "" {
					t.Errorf("container id %q not found in snapshot of %q", c.DockerID, data)
				}
			}
			if c.Name != "" && !seenName[c.Name] {
				if got := s.byName[c.Name]; got.name != c.Name {
					t.Errorf("byName[%q] = %+v, want name %q", c.Name, got, c.Name)
				}
			}
			seenID[c.DockerID], seenName[c.Name] = true, true
		}
	})
}
