package taskdefs

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// CloudWatch Logs output plugins of Fluent Bit.
const (
	// PluginGoCloudWatch is the AWS image's Go plugin (-e /fluent-bit/cloudwatch.so).
	PluginGoCloudWatch = "cloudwatch"
	// PluginCloudWatchLogs is Fluent Bit's core C plugin, in every image.
	PluginCloudWatchLogs = "cloudwatch_logs"
)

// Variables the recipe's outputs may refer to. aws-for-fluent-bit's init
// process exports them; fluent-launch --ecs-env does the same for every
// other image. Fargate sets AWS_REGION itself; EC2 does not.
const (
	envTaskID = "ECS_TASK_ID"
	envRegion = "AWS_REGION"
)

// ecsEnvNames are the variables fluent-launch --ecs-env exports.
var ecsEnvNames = []string{"AWS_REGION", "AWS_AVAILABILITY_ZONE", "ECS_CLUSTER", "ECS_TASK_ARN", "ECS_TASK_ID", "ECS_FAMILY", "ECS_LAUNCH_TYPE", "ECS_REVISION", "ECS_TASK_DEFINITION"}

// usesECSEnv reports whether an option value refers to one of them.
func usesECSEnv(v string) bool {
	for _, n := range ecsEnvNames {
		if strings.Contains(v, "${"+n+"}") {
			return true
		}
	}
	return false
}

// onlyRegionVar reports whether ${AWS_REGION} is the only variable a
// value refers to: Fargate sets it in every container.
func onlyRegionVar(v string) bool {
	return !strings.Contains(strings.ReplaceAll(v, "${"+envRegion+"}", ""), "${")
}

// awslogsAppSpecific are options that describe one app's log lines, and
// so are never copied to the sidecar's or the log_router's own logging.
var awslogsAppSpecific = []string{"awslogs-multiline-pattern", "awslogs-datetime-format"}

// translation is the FireLens side of one container's awslogs setup.
type translation struct {
	options *Object
	// multiline is the Onigmo start regex for the router's multiline
	// filter on this container's records; "" for none.
	multiline string
	notes     []string
}

// translateAwslogs builds the awsfirelens options that deliver a
// container's logs where awslogs did: same group and region, the same
// stream names (<prefix>/<container>/<task id>, or the container's ID
// without a prefix, on EC2) through the plugin's templating, create-group,
// endpoint and format, and the multiline and buffer options mapped to
// their FireLens equivalents.
func translateAwslogs(container string, in *Object, plugin string) (translation, error) {
	var tr translation
	group := in.String("awslogs-group")
	if group == "" {
		return tr, fmt.Errorf("awslogs-group: missing, so its CloudWatch group is unknown")
	}
	out := obj("Name", plugin)
	region := in.String("awslogs-region")
	if region == "" {
		// The awslogs driver falls back to the instance's region; the
		// router resolves the task's (Fargate sets AWS_REGION, fluent-launch
		// --ecs-env sets it elsewhere).
		region = "${" + envRegion + "}"
		tr.notes = append(tr.notes, "no awslogs-region: the log_router uses the task's region (${AWS_REGION})")
	}
	out.Set("region", region)
	out.Set("log_group_name", group)
	prefix := in.String("awslogs-stream-prefix")
	switch {
	case prefix != "" && plugin == PluginGoCloudWatch:
		out.Set("log_stream_name", prefix+"/"+container+"/$(ecs_task_id)")
	case prefix != "":
		out.Set("log_stream_name", prefix+"/"+container+"/${"+envTaskID+"}")
	case plugin == PluginGoCloudWatch:
		// Without a prefix awslogs names the stream after the container's
		// ID, which the log driver puts in every record.
		out.Set("log_stream_name", "$(container_id)")
	default:
		out.Set("log_stream_template", "$container_id")
		out.Set("log_stream_name", container)
	}
	if v := in.String("awslogs-create-group"); v != "" {
		out.Set("auto_create_group", v)
	}
	if v := in.String("awslogs-endpoint"); v != "" {
		out.Set("endpoint", v)
	}
	if v := in.String("awslogs-format"); v != "" {
		out.Set("log_format", v)
	}
	out.Set("log_key", "log") // store the line only, as awslogs does
	ml, notes, err := awslogsMultiline(in)
	if err != nil {
		return tr, err
	}
	tr.multiline = ml
	tr.notes = append(tr.notes, notes...)
	if size := in.String("max-buffer-size"); size != "" {
		limit, ok := bufferLimitLines(size)
		if !ok {
			return tr, fmt.Errorf("max-buffer-size %q: want bytes such as 25m", size)
		}
		out.Set("log-driver-buffer-limit", strconv.FormatInt(limit, 10))
	}
	if in.String("mode") == "blocking" {
		tr.notes = append(tr.notes, "mode blocking: FireLens delivers asynchronously, so when the log driver's buffer (log-driver-buffer-limit, default 1048576 lines) is full, lines are dropped instead of blocking the app")
	}
	for _, m := range in.All() {
		switch m.Key {
		case "awslogs-group", "awslogs-region", "awslogs-stream-prefix", "awslogs-create-group", "awslogs-endpoint",
			"awslogs-format", "awslogs-multiline-pattern", "awslogs-datetime-format", "mode", "max-buffer-size":
		default:
			tr.notes = append(tr.notes, fmt.Sprintf("option %s has no FireLens equivalent and is dropped", m.Key))
		}
	}
	tr.options = out
	return tr, nil
}

// bufferLimitLines converts awslogs' max-buffer-size (bytes, with an
// optional k/m/g suffix; default 1m) into FireLens' log-driver-buffer-limit,
// which counts lines: one line per KiB, so that lines of 1 KiB take the
// same memory (AWS sizes the option by lines times their average size).
func bufferLimitLines(size string) (int64, bool) {
	s := strings.ToLower(strings.TrimSpace(size))
	mul := int64(1)
	switch {
	case strings.HasSuffix(s, "k") || strings.HasSuffix(s, "kb"):
		mul = 1 << 10
	case strings.HasSuffix(s, "m") || strings.HasSuffix(s, "mb"):
		mul = 1 << 20
	case strings.HasSuffix(s, "g") || strings.HasSuffix(s, "gb"):
		mul = 1 << 30
	}
	s = strings.TrimRight(s, "kmgb")
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	lines := n * mul / 1024
	return min(max(lines, 1), 536870911), true
}

// ownLogConfiguration is the awslogs configuration of the sidecar and the
// log_router, derived from an app's: the same group, region and endpoint,
// its own stream prefix, none of the app's line options.
func ownLogConfiguration(group, region, createGroup, endpoint string) *Object {
	o := obj("awslogs-group", group)
	if region != "" {
		o.Set("awslogs-region", region)
	}
	o.Set("awslogs-stream-prefix", DefaultSidecarName)
	if createGroup != "" {
		o.Set("awslogs-create-group", createGroup)
	}
	if endpoint != "" {
		o.Set("awslogs-endpoint", endpoint)
	}
	return obj("logDriver", "awslogs", "options", o)
}

// sanitizeOwnLogs removes app-specific options from the awslogs
// configuration of the sidecar or the log_router, and returns those it
// removed.
func sanitizeOwnLogs(lc *Object) []string {
	if lc.String("logDriver") != "awslogs" || lc.Object("options") == nil {
		return nil
	}
	var removed []string
	for _, k := range awslogsAppSpecific {
		if lc.Object("options").Delete(k) {
			removed = append(removed, k)
		}
	}
	return removed
}

// Options that only one of the two CloudWatch plugins has; an output
// using one cannot be converted to the other plugin.
var (
	goCloudWatchOnly   = []string{"default_log_group_name", "default_log_stream_name", "new_log_group_tags", "credentials_endpoint", "auto_create_stream"}
	cloudWatchLogsOnly = []string{"log_group_template", "log_group_class", "auto_retry_requests", "external_id", "profile", "workers"}
)

// convertCloudWatch switches a CloudWatch output between the Go plugin
// and the core plugin, translating the stream-name templates inject
// writes: $(ecs_task_id) and ${ECS_TASK_ID}, $(container_id) and
// log_stream_template $container_id. Anything else that only one plugin
// understands is refused.
func convertCloudWatch(o *Object, to string) error {
	from := o.String("Name")
	var only []string
	if to == PluginCloudWatchLogs {
		only = goCloudWatchOnly
	} else {
		only = cloudWatchLogsOnly
	}
	for _, m := range o.Members {
		if slices.Contains(only, strings.ToLower(m.Key)) {
			return fmt.Errorf("option %s exists only in the %s plugin", m.Key, from)
		}
	}
	if g := o.String("log_group_name"); to == PluginCloudWatchLogs && strings.Contains(g, "$(") {
		return fmt.Errorf("log_group_name %q uses the cloudwatch plugin's templating, which cloudwatch_logs lacks", g)
	}
	name := o.String("log_stream_name")
	tmpl := o.String("log_stream_template")
	switch to {
	case PluginCloudWatchLogs:
		switch {
		case name == "$(container_id)":
			o.Set("log_stream_template", "$container_id")
			o.Set("log_stream_name", "firelens")
		case strings.Count(name, "$(") == 1 && strings.HasSuffix(name, "$(ecs_task_id)"):
			o.Set("log_stream_name", strings.TrimSuffix(name, "$(ecs_task_id)")+"${"+envTaskID+"}")
		case strings.Contains(name, "$("):
			return fmt.Errorf("log_stream_name %q uses the cloudwatch plugin's templating, which cloudwatch_logs lacks", name)
		}
	case PluginGoCloudWatch:
		switch {
		case tmpl == "$container_id":
			o.Delete("log_stream_template")
			o.Set("log_stream_name", "$(container_id)")
		case tmpl != "":
			return fmt.Errorf("log_stream_template %q has no equivalent in the cloudwatch plugin", tmpl)
		case strings.Contains(name, "${"+envTaskID+"}"):
			o.Set("log_stream_name", strings.ReplaceAll(name, "${"+envTaskID+"}", "$(ecs_task_id)"))
		}
	}
	o.Set("Name", to)
	return nil
}

// isCloudWatchPlugin reports whether an output plugin name is one of the
// two CloudWatch Logs plugins.
func isCloudWatchPlugin(name string) bool {
	n := strings.ToLower(name)
	return n == PluginGoCloudWatch || n == PluginCloudWatchLogs
}
