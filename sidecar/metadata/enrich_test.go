package metadata

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sidewatch/sidewatch/sidecar/event"
	"github.com/sidewatch/sidewatch/sidecar/metrics"
)

const (
	curlID = "bfa2636268144d039771334145e490c5-1117626119"
	appID  = "bfa2636268144d039771334145e490c5-3681984407"
	ec2ID  = "731a0d6a3b4210e2448339bc7015aaa79bfe4fa256384f4102db86ef94cbbc4c"
)

// watcherWith returns a Watcher whose snapshot is task, with no endpoint.
func watcherWith(t testing.TB, task *Task) (*Watcher, *metrics.Registry) {
	t.Helper()
	reg := metrics.New()
	w := NewWatcher(Config{}, nil, reg)
	if task != nil {
		w.snap.Store(newSnapshot(task))
	}
	return w, reg
}

// fargateECS is what every event of the fixture task carries.
var fargateECS = event.ECS{
	Cluster:          "MyEmptyCluster",
	TaskARN:          "arn:aws:ecs:us-east-1:123456789012:task/MyEmptyCluster/bfa2636268144d039771334145e490c5",
	Family:           "sample-fargate",
	Revision:         "5",
	AvailabilityZone: "us-east-1d",
	LaunchType:       "FARGATE",
}

func withContainer(e event.ECS, id, name string) event.ECS {
	e.Container = event.Container{ID: id, Name: name}
	return e
}

func TestEnrich(t *testing.T) {
	// The fixture plus a container whose runtime has not reported an id.
	task := fixtureTask()
	task.Containers = append(task.Containers, Container{Name: "sidewatch", DockerName: "sidewatch"})

	tests := []struct {
		name     string
		in       event.ECS
		want     event.ECS
		wantMiss uint64
	}{
		{"no_container", event.ECS{}, fargateECS, 0},
		{"id_only", withContainer(event.ECS{}, curlID, ""), withContainer(fargateECS, curlID, "curl-image"), 0},
		{"name_only", withContainer(event.ECS{}, "", "fargate-app"), withContainer(fargateECS, appID, "fargate-app"), 0},
		{"both_consistent", withContainer(event.ECS{}, appID, "fargate-app"), withContainer(fargateECS, appID, "fargate-app"), 0},
		{"both_id_wins", withContainer(event.ECS{}, appID, "curl-image"), withContainer(fargateECS, appID, "fargate-app"), 0},
		{"unknown_id", withContainer(event.ECS{}, "deadbeef-1", ""), withContainer(fargateECS, "deadbeef-1", ""), 1},
		{"unknown_id_known_name", withContainer(event.ECS{}, "deadbeef-1", "curl-image"), withContainer(fargateECS, "deadbeef-1", "curl-image"), 1},
		{"unknown_name", withContainer(event.ECS{}, "", "nginx"), withContainer(fargateECS, "", "nginx"), 1},
		{"name_without_id_yet", withContainer(event.ECS{}, "", "sidewatch"), withContainer(fargateECS, "", "sidewatch"), 1},
		{
			name: "producer_task_fields_kept",
			in:   event.ECS{Cluster: "replayed", Revision: "9", Container: event.Container{ID: curlID}},
			want: func() event.ECS {
				e := withContainer(fargateECS, curlID, "curl-image")
				e.Cluster, e.Revision = "replayed", "9"
				return e
			}(),
			wantMiss: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, _ := watcherWith(t, task)
			got := tt.in
			w.Enrich(&got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Enrich(%+v) mismatch (-want +got):\n%s", tt.in, diff)
			}
			if got := w.enrichMiss.Load(); got != tt.wantMiss {
				t.Errorf("Enrich(%+v): enrich_misses_total = %d, want %d", tt.in, got, tt.wantMiss)
			}
			if kicked := len(w.kick) == 1; kicked != (tt.wantMiss > 0) {
				t.Errorf("Enrich(%+v): early refresh requested = %v, want %v", tt.in, kicked, tt.wantMiss > 0)
			}
		})
	}
}

// TestEnrichEC2Names covers the EC2 forms: a 64-hex id, a cluster name
// rather than an ARN, and the runtime name with the leading '/' that
// Docker's fluentd log driver sends as container_name.
func TestEnrichEC2Names(t *testing.T) {
	task := &Task{
		Cluster:    "default",
		TaskARN:    "arn:aws:ecs:us-west-2:111122223333:task/default/158d1c8083dd49d6b527399fd6414f5c",
		Family:     "web",
		Revision:   "7",
		LaunchType: "EC2",
		Containers: []Container{{DockerID: ec2ID, Name: "web", DockerName: "ecs-web-7-web-d0c8a1"}},
	}
	base := event.ECS{Cluster: "default", TaskARN: task.TaskARN, Family: "web", Revision: "7", LaunchType: "EC2"}
	tests := []struct {
		name string
		in   event.Container
		want event.Container
	}{
		{"id_only", event.Container{ID: ec2ID}, event.Container{ID: ec2ID, Name: "web"}},
		{"runtime_name_with_slash", event.Container{Name: "/ecs-web-7-web-d0c8a1"}, event.Container{ID: ec2ID, Name: "web"}},
		{"runtime_name", event.Container{Name: "ecs-web-7-web-d0c8a1"}, event.Container{ID: ec2ID, Name: "web"}},
		{"id_and_runtime_name", event.Container{ID: ec2ID, Name: "/ecs-web-7-web-d0c8a1"}, event.Container{ID: ec2ID, Name: "web"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, _ := watcherWith(t, task)
			got := event.ECS{Container: tt.in}
			w.Enrich(&got)
			want := base
			want.Container = tt.want
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Enrich(%+v) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestEnrichBeforeFirstFetch(t *testing.T) {
	w, _ := watcherWith(t, nil)
	in := withContainer(event.ECS{}, curlID, "")
	got := in
	w.Enrich(&got)
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("Enrich without a snapshot changed the event (-want +got):\n%s", diff)
	}
}

func TestEnrichAllocs(t *testing.T) {
	w, _ := watcherWith(t, fixtureTask())
	for _, c := range []event.Container{{ID: curlID}, {Name: "fargate-app"}, {ID: "unknown"}} {
		allocs := testing.AllocsPerRun(100, func() {
			e := event.ECS{Container: c}
			w.Enrich(&e)
		})
		if allocs != 0 {
			t.Errorf("Enrich(%+v) allocates %v times per call, want 0", c, allocs)
		}
	}
}

func BenchmarkEnrich(b *testing.B) {
	w, _ := watcherWith(b, fixtureTask())
	for _, bb := range []struct {
		name string
		c    event.Container
	}{
		{"id", event.Container{ID: appID}},
		{"name", event.Container{Name: "fargate-app"}},
		{"unknown_id", event.Container{ID: "deadbeef-1"}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			var e event.ECS
			for b.Loop() {
				e = event.ECS{Container: bb.c}
				w.Enrich(&e)
			}
			if e.TaskARN == "" {
				b.Fatal("Enrich did not fill the task")
			}
		})
	}
}
