package awscfg

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sidewatch/sidewatch/sidecar/metadata"
)

func TestTaskOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		task *metadata.Task
		want Task
	}{
		{"fargate", &metadata.Task{Cluster: "arn:aws:ecs:eu-west-1:123456789012:cluster/prod", TaskARN: "arn:aws:ecs:eu-west-1:123456789012:task/prod/0123abcd"},
			Task{Cluster: "prod", ID: "0123abcd", Region: "eu-west-1", Account: "123456789012"}},
		{"old_arn", &metadata.Task{Cluster: "default", TaskARN: "arn:aws:ecs:us-east-1:1:task/ffff"},
			Task{Cluster: "default", ID: "ffff", Region: "us-east-1", Account: "1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := TaskOf(tc.task); got != tc.want {
				t.Errorf("TaskOf = %+v, want %+v", got, tc.want)
			}
		})
	}
	if got := TaskOf(nil); got.ID == "" || got.Cluster != "unknown" {
		t.Errorf("TaskOf(nil) = %+v, want the host name and cluster unknown", got)
	}
}

func TestLoadRegion(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	task := &metadata.Task{TaskARN: "arn:aws:ecs:ap-south-2:1:task/c/abc"}
	for _, tc := range []struct {
		name, flag, env string
		task            *metadata.Task
		want            string
	}{
		{"flag_wins", "eu-north-1", "us-west-2", task, "eu-north-1"},
		{"env_next", "", "us-west-2", task, "us-west-2"},
		{"metadata_last", "", "", task, "ap-south-2"},
		{"none", "", "", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_REGION", tc.env)
			cfg, err := Load(Config{Region: tc.flag}, tc.task)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("Load with no region = %q, want an error", cfg.Region)
				}
				return
			}
			if err != nil || cfg.Region != tc.want {
				t.Errorf("Load region = %q, %v; want %q", cfg.Region, err, tc.want)
			}
		})
	}
	if err := (Config{Region: "us-east-1; rm"}).Validate(); err == nil {
		t.Errorf("Validate accepted a bad region")
	}
}

// TestContainerCredentials serves the container credentials endpoint the
// way ECS does (AWS_CONTAINER_CREDENTIALS_FULL_URI on loopback with a token)
// and checks that Load's chain uses it.
func TestContainerCredentials(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "tok" {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		w.Write([]byte(`{"AccessKeyId":"AKIDTASK","SecretAccessKey":"s","Token":"t","Expiration":"2099-01-01T00:00:00Z"}`))
	}))
	defer srv.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", srv.URL+"/creds")
	t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "tok")
	cfg, err := Load(Config{Region: "us-east-1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != "AKIDTASK" || creds.SessionToken != "t" {
		t.Errorf("credentials = %+v, %v; want the endpoint's AKIDTASK", creds, err)
	}
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://203.0.113.9/creds")
	if _, err := Load(Config{Region: "us-east-1"}, nil); err == nil {
		t.Errorf("a non-loopback http FULL_URI was accepted")
	}
}
