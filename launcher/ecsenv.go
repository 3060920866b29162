package launcher

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// MetadataURIEnv is set by ECS (Fargate platform 1.4.0 and later, EC2
// agent 1.39.0 and later) in every container: the task metadata endpoint
// v4 of this container.
const MetadataURIEnv = "ECS_CONTAINER_METADATA_URI_V4"

// maxMetadataBytes bounds the /task response read.
const maxMetadataBytes = 4 << 20

// ecsEnv fetches the task's metadata and returns the variables
// aws-for-fluent-bit's init process exports, for the variables the
// environment does not set already, so that the recipe can name the
// task in outputs (log_stream_name .../${ECS_TASK_ID}) and resolve the
// region on EC2, where ECS does not set AWS_REGION.
func ecsEnv(env []string, timeout time.Duration) ([]string, error) {
	uri := lookupEnv(env, MetadataURIEnv)
	if uri == "" {
		return nil, fmt.Errorf("%s is not set: not running in an ECS task (or an ECS agent older than 1.39.0)", MetadataURIEnv)
	}
	deadline := time.Now().Add(timeout)
	var body []byte
	var err error
	for {
		body, err = httpGet(uri+"/task", time.Until(deadline))
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("task metadata: %w", err)
	}
	vars, err := metadataVars(body)
	if err != nil {
		return nil, fmt.Errorf("task metadata: %w", err)
	}
	var out []string
	for _, kv := range vars {
		k, _, _ := strings.Cut(kv, "=")
		if lookupEnv(env, k) == "" {
			out = append(out, kv)
		}
	}
	return out, nil
}

// metadataVars derives the init process's variables from a TMDE v4
// /task response, in its order: AWS_REGION (the task ARN's region),
// AWS_AVAILABILITY_ZONE, ECS_CLUSTER (a name, also when TMDE gives an
// ARN), ECS_TASK_ARN, ECS_TASK_ID, ECS_FAMILY, ECS_LAUNCH_TYPE,
// ECS_REVISION and ECS_TASK_DEFINITION (family:revision). Empty values
// are left out.
func metadataVars(body []byte) ([]string, error) {
	f, err := topLevelStrings(body)
	if err != nil {
		return nil, err
	}
	t := struct{ Cluster, TaskARN, Family, Revision, AvailabilityZone, LaunchType string }{
		f["Cluster"], f["TaskARN"], f["Family"], f["Revision"], f["AvailabilityZone"], f["LaunchType"],
	}
	// arn:PARTITION:ecs:REGION:ACCOUNT:task/[CLUSTER/]ID
	parts := strings.SplitN(t.TaskARN, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || !strings.HasPrefix(parts[5], "task/") {
		return nil, fmt.Errorf("TaskARN %q is not a task ARN", t.TaskARN)
	}
	region := parts[3]
	taskID := parts[5][strings.LastIndexByte(parts[5], '/')+1:]
	cluster := t.Cluster
	if i := strings.LastIndexByte(cluster, '/'); strings.HasPrefix(cluster, "arn:") && i >= 0 {
		cluster = cluster[i+1:]
	}
	taskDef := ""
	if t.Family != "" && t.Revision != "" {
		taskDef = t.Family + ":" + t.Revision
	}
	var out []string
	for _, kv := range [][2]string{
		{"AWS_REGION", region}, {"AWS_AVAILABILITY_ZONE", t.AvailabilityZone}, {"ECS_CLUSTER", cluster},
		{"ECS_TASK_ARN", t.TaskARN}, {"ECS_TASK_ID", taskID}, {"ECS_FAMILY", t.Family},
		{"ECS_LAUNCH_TYPE", t.LaunchType}, {"ECS_REVISION", t.Revision}, {"ECS_TASK_DEFINITION", taskDef},
	} {
		if kv[1] != "" {
			out = append(out, kv[0]+"="+kv[1])
		}
	}
	return out, nil
}

func lookupEnv(env []string, name string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == name {
			return v
		}
	}
	return ""
}

// httpGet is a minimal HTTP/1.0 GET for the plain-HTTP metadata endpoint.
// net/http would add 4.5 MB to a launcher that must stay small; an
// HTTP/1.0 request gets a body that ends at the connection's close, never
// chunked.
func httpGet(rawURL string, timeout time.Duration) ([]byte, error) {
	// http://HOST[:PORT]/PATH; net/url would add 135 KB for this.
	rest, ok := strings.CutPrefix(rawURL, "http://")
	if !ok {
		return nil, fmt.Errorf("%s: only http:// is supported", rawURL)
	}
	hostport, path, _ := strings.Cut(rest, "/")
	path = "/" + path
	host := hostport
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		host = net.JoinHostPort(strings.Trim(hostport, "[]"), "80")
	}
	if hostport == "" || strings.ContainsAny(rest, " \r\n") {
		return nil, fmt.Errorf("%s: not a URL fluent-launch can fetch", rawURL)
	}
	if timeout < time.Second {
		timeout = time.Second
	}
	conn, err := net.DialTimeout("tcp", host, timeout)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: fluent-launch\r\n\r\n", path, hostport); err != nil {
		return nil, err
	}
	r := bufio.NewReader(io.LimitReader(conn, maxMetadataBytes+64<<10))
	status, err := r.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("read status: %w", err)
	}
	f := strings.Fields(status)
	if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/") {
		return nil, fmt.Errorf("bad status line %q", strings.TrimSpace(status))
	}
	if code, _ := strconv.Atoi(f[1]); code != 200 {
		return nil, fmt.Errorf("%s: %s", rawURL, strings.TrimSpace(status))
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("read headers: %w", err)
		}
		if strings.TrimRight(line, "\r\n") == "" {
			break
		}
	}
	body, err := io.ReadAll(io.LimitReader(r, maxMetadataBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if len(body) > maxMetadataBytes {
		return nil, errors.New("response larger than 4 MiB")
	}
	return body, nil
}
