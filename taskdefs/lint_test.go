package taskdefs

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestLint breaks a clean, injected definition (app, sidewatch,
// log_router) one way per row and expects exactly the matching finding.
func TestLint(t *testing.T) {
	type finding struct {
		Severity Severity
		Check    string
		Path     string
	}
	app, sidecar, router := 0, 1, 2
	tests := []struct {
		name   string
		break_ func(def *Object, cs []*Object)
		want   []finding
	}{
		{
			name:   "clean",
			break_: func(*Object, []*Object) {},
		},
		{
			name:   "command_without_separator",
			break_: func(_ *Object, cs []*Object) { cs[router].Set("command", strs([]string{"-o", "syslog"})) },
			want:   []finding{{SeverityError, "command-separator", "containerDefinitions[2].command"}},
		},
		{
			name:   "no_syslog_output",
			break_: func(_ *Object, cs []*Object) { cs[router].Set("command", strs([]string{"-s", "Flush", "1", "--"})) },
			want:   []finding{{SeverityError, "syslog-output", "containerDefinitions[2].command"}},
		},
		{
			name: "go_plugin_without_e",
			break_: func(_ *Object, cs []*Object) {
				cs[app].Object("logConfiguration").Set("options", obj("Name", "firehose", "delivery_stream", "s"))
				cs[router].Set("command", strs([]string{"--", "-o", "syslog"}))
			},
			want: []finding{{SeverityError, "go-plugin-missing", "containerDefinitions[2].command"}},
		},
		{
			name: "go_plugin_on_upstream_image",
			break_: func(_ *Object, cs []*Object) {
				cs[app].Object("logConfiguration").Set("options", obj("Name", "kinesis", "stream", "s"))
				cs[router].Set("image", "fluent/fluent-bit:3.2")
				cs[router].Set("command", strs([]string{"--", "-o", "syslog"}))
			},
			want: []finding{{SeverityError, "go-plugin-image", "containerDefinitions[2].image"}},
		},
		{
			// 17: a plugin a config file may use, lost with the image's start.
			name: "config_file_needs_image_plugins",
			break_: func(_ *Object, cs []*Object) {
				cs[router].Object("firelensConfiguration").Set("options", obj("config-file-type", "file", "config-file-value", "/fluent-bit/configs/extra.conf"))
				cs[router].Set("command", strs([]string{"--", "-e", "/fluent-bit/cloudwatch.so", "-o", "syslog"}))
			},
			want: []finding{{SeverityError, "router-plugins", "containerDefinitions[2].command"}},
		},
		{
			name: "recorded_start_plugin_missing",
			break_: func(_ *Object, cs []*Object) {
				cs[router].Set("image", "example.com/fluent-bit-newrelic:2")
				cs[router].Set("dockerLabels", obj(StartLabel, `{"run":"/fluent-bit/bin/fluent-bit","args":["-e","/fluent-bit/bin/out_newrelic.so"]}`))
			},
			want: []finding{{SeverityError, "router-plugins", "containerDefinitions[2].command"}},
		},
		{
			name:   "unknown_image_without_start",
			break_: func(_ *Object, cs []*Object) { cs[router].Set("image", "example.com/fluent-bit-newrelic:2") },
			want:   []finding{{SeverityWarning, "router-start", "containerDefinitions[2].image"}},
		},
		{
			name:   "init_image_bypassed",
			break_: func(_ *Object, cs []*Object) { cs[router].Set("image", "amazon/aws-for-fluent-bit:init-2.32.3") },
			want:   []finding{{SeverityError, "router-init", "containerDefinitions[2].command"}},
		},
		{
			name: "bad_log_group_name",
			break_: func(_ *Object, cs []*Object) {
				cs[app].Object("logConfiguration").Set("options", obj("Name", "cloudwatch_logs", "region", "us-east-1", "log_group_name", "/ecs/my app", "log_stream_prefix", "web/"))
			},
			want: []finding{{SeverityError, "log-group-name", "containerDefinitions[0].logConfiguration.options.log_group_name"}, {SeverityWarning, "task-role-logs", "taskRoleArn"}},
		},
		{
			name: "templated_log_group_name_is_fine",
			break_: func(_ *Object, cs []*Object) {
				cs[app].Object("logConfiguration").Set("options", obj("Name", "cloudwatch_logs", "region", "us-east-1", "log_group_name", "/ecs/$(ecs_task_id)", "log_stream_prefix", "web/"))
			},
			want: []finding{{SeverityWarning, "task-role-logs", "taskRoleArn"}},
		},
		{
			name: "bad_stream_prefix",
			break_: func(_ *Object, cs []*Object) {
				cs[app].Object("logConfiguration").Set("options", obj("Name", "cloudwatch_logs", "region", "us-east-1", "log_group_name", "/ecs/app", "log_stream_prefix", "web:1/"))
			},
			want: []finding{{SeverityError, "log-stream-prefix", "containerDefinitions[0].logConfiguration.options.log_stream_prefix"}, {SeverityWarning, "task-role-logs", "taskRoleArn"}},
		},
		{
			// 11: without region the plugin refuses to start.
			name: "cloudwatch_without_region",
			break_: func(_ *Object, cs []*Object) {
				cs[app].Object("logConfiguration").Set("options", obj("Name", "cloudwatch", "log_group_name", "/ecs/app", "log_stream_name", "web/web/$(ecs_task_id)"))
			},
			want: []finding{{SeverityError, "cloudwatch-region", "containerDefinitions[0].logConfiguration.options.region"}, {SeverityWarning, "task-role-logs", "taskRoleArn"}},
		},
		{
			name: "task_id_variable_without_ecs_env",
			break_: func(_ *Object, cs []*Object) {
				cs[app].Object("logConfiguration").Set("options", obj("Name", "cloudwatch_logs", "region", "us-east-1", "log_group_name", "/ecs/app", "log_stream_name", "web/web/${ECS_TASK_ID}"))
			},
			want: []finding{{SeverityWarning, "task-role-logs", "taskRoleArn"}, {SeverityError, "ecs-env", "containerDefinitions[0].logConfiguration.options.log_stream_name"}},
		},
		{
			name: "awslogs_option_in_firelens",
			break_: func(_ *Object, cs []*Object) {
				cs[app].Object("logConfiguration").Object("options").Set("awslogs-multiline-pattern", "^x")
			},
			want: []finding{{SeverityError, "firelens-option", "containerDefinitions[0].logConfiguration.options.awslogs-multiline-pattern"}},
		},
		{
			name:   "syslog_port_exposed",
			break_: func(_ *Object, cs []*Object) { cs[app].Set("portMappings", []any{obj("containerPort", num(1514))}) },
			want:   []finding{{SeverityWarning, "syslog-port-exposed", "containerDefinitions[0].portMappings[0].containerPort"}},
		},
		{
			name:   "sidecar_not_essential",
			break_: func(_ *Object, cs []*Object) { cs[sidecar].Set("essential", false) },
			want:   []finding{{SeverityWarning, "sidecar-not-essential", "containerDefinitions[1].essential"}},
		},
		{
			name:   "memory_below_reservations",
			break_: func(def *Object, _ []*Object) { def.Set("memory", "256") },
			want:   []finding{{SeverityError, "resources", "memory"}},
		},
		{
			name: "cloudwatch_without_task_role",
			break_: func(def *Object, cs []*Object) {
				def.Delete("taskRoleArn")
				cs[app].Object("logConfiguration").Set("options", obj("Name", "cloudwatch_logs", "region", "us-east-1", "log_group_name", "/ecs/app", "log_stream_prefix", "web/"))
			},
			want: []finding{{SeverityError, "task-role", "taskRoleArn"}},
		},
		{
			name:   "awslogs_without_execution_role_on_fargate",
			break_: func(def *Object, cs []*Object) { def.Delete("executionRoleArn") },
			want:   []finding{{SeverityError, "execution-role", "executionRoleArn"}},
		},
		{
			// 12: on EC2 the instance's role writes awslogs.
			name: "awslogs_without_execution_role_on_ec2",
			break_: func(def *Object, cs []*Object) {
				def.Delete("executionRoleArn")
				def.Set("requiresCompatibilities", []any{"EC2"})
			},
		},
		{
			name:   "depends_on_missing",
			break_: func(_ *Object, cs []*Object) { cs[router].Delete("dependsOn") },
			want:   []finding{{SeverityError, "depends-on", "containerDefinitions[2].dependsOn"}},
		},
		{
			name: "depends_on_unknown_container",
			break_: func(_ *Object, cs []*Object) {
				cs[app].Set("dependsOn", []any{obj("containerName", "db", "condition", "START")})
			},
			want: []finding{{SeverityError, "depends-on-missing", "containerDefinitions[0].dependsOn[0].containerName"}},
		},
		{
			name: "depends_on_cycle",
			break_: func(_ *Object, cs []*Object) {
				cs[sidecar].Set("dependsOn", []any{obj("containerName", "log_router", "condition", "START")})
			},
			want: []finding{{SeverityError, "depends-on-cycle", "containerDefinitions[1].dependsOn"}},
		},
		{
			name:   "healthy_without_health_check",
			break_: func(_ *Object, cs []*Object) { cs[sidecar].Delete("healthCheck") },
			want:   []finding{{SeverityError, "depends-on", "containerDefinitions[2].dependsOn"}},
		},
		{
			name:   "volumes_from_read_only",
			break_: func(_ *Object, cs []*Object) { cs[router].Array("volumesFrom")[0].(*Object).Set("readOnly", true) },
			want:   []finding{{SeverityError, "volumes-from", "containerDefinitions[2].volumesFrom"}},
		},
		{
			name:   "health_check_without_addr",
			break_: func(_ *Object, cs []*Object) { cs[sidecar].Set("environment", []any{}) },
			want:   []finding{{SeverityError, "health-addr", "containerDefinitions[1].environment"}},
		},
		{
			name:   "sidecar_on_firelens",
			break_: func(_ *Object, cs []*Object) { cs[sidecar].Set("logConfiguration", obj("logDriver", "awsfirelens")) },
			want:   []finding{{SeverityError, "sidecar-firelens", "containerDefinitions[1].logConfiguration.logDriver"}},
		},
		{
			name:   "sidecar_without_logging",
			break_: func(_ *Object, cs []*Object) { cs[sidecar].Delete("logConfiguration") },
			want:   []finding{{SeverityWarning, "sidecar-logging", "containerDefinitions[1].logConfiguration"}},
		},
		{
			name:   "router_without_logging",
			break_: func(_ *Object, cs []*Object) { cs[router].Delete("logConfiguration") },
			want:   []finding{{SeverityWarning, "router-logging", "containerDefinitions[2].logConfiguration"}},
		},
		{
			// 5: the app's line format on the sidecar's own logs.
			name: "inherited_multiline",
			break_: func(_ *Object, cs []*Object) {
				cs[sidecar].Object("logConfiguration").Object("options").Set("awslogs-datetime-format", "%Y-%m-%d")
			},
			want: []finding{{SeverityError, "inherited-multiline", "containerDefinitions[1].logConfiguration.options.awslogs-datetime-format"}},
		},
		{
			name:   "app_not_on_firelens",
			break_: func(_ *Object, cs []*Object) { cs[app].Set("logConfiguration", obj("logDriver", "json-file")) },
			want:   []finding{{SeverityWarning, "not-firelens", "containerDefinitions[0].logConfiguration.logDriver"}},
		},
		{
			name: "app_opted_out",
			break_: func(_ *Object, cs []*Object) {
				cs[app].Set("logConfiguration", obj("logDriver", "json-file"))
				cs[app].Set("dockerLabels", obj("sidewatch.ignore", "true"))
			},
		},
		{
			name:   "options_without_name",
			break_: func(_ *Object, cs []*Object) { cs[app].Object("logConfiguration").Set("options", obj("region", "x")) },
			want:   []finding{{SeverityError, "output-name", "containerDefinitions[0].logConfiguration.options.Name"}},
		},
		{
			name:   "router_not_launching",
			break_: func(_ *Object, cs []*Object) { cs[router].Delete("entryPoint") },
			want:   []finding{{SeverityError, "router-entrypoint", "containerDefinitions[2].entryPoint"}},
		},
		{
			name:   "router_fluentd",
			break_: func(_ *Object, cs []*Object) { cs[router].Object("firelensConfiguration").Set("type", "fluentd") },
			want:   []finding{{SeverityError, "router-type", "containerDefinitions[2].firelensConfiguration.type"}},
		},
		{
			name:   "no_router",
			break_: func(_ *Object, cs []*Object) { cs[router].Delete("firelensConfiguration") },
			// The former router is now an app container on awslogs.
			want: []finding{{SeverityWarning, "not-firelens", "containerDefinitions[2].logConfiguration.logDriver"}, {SeverityError, "router-missing", "containerDefinitions"}},
		},
		{
			name:   "no_sidecar",
			break_: func(_ *Object, cs []*Object) { cs[sidecar].Set("name", "agent") },
			want: []finding{
				{SeverityError, "depends-on-missing", "containerDefinitions[2].dependsOn[0].containerName"},
				{SeverityError, "sidecar-missing", "containerDefinitions"},
				{SeverityWarning, "not-firelens", "containerDefinitions[1].logConfiguration.logDriver"},
			},
		},
		{
			name:   "fargate_bridge",
			break_: func(def *Object, _ []*Object) { def.Set("networkMode", "bridge") },
			want:   []finding{{SeverityError, "network-mode", "networkMode"}, {SeverityError, "loopback-listener", "containerDefinitions[2].command"}},
		},
		{
			// 2, 17: in bridge mode a loopback address never reaches the
			// other container.
			name: "bridge_loopback_host",
			break_: func(def *Object, _ []*Object) {
				def.Set("networkMode", "bridge")
				def.Set("requiresCompatibilities", []any{"EC2"})
			},
			want: []finding{{SeverityWarning, "network-mode", "networkMode"}, {SeverityError, "loopback-listener", "containerDefinitions[2].command"}},
		},
		{
			name: "bridge_sidecar_on_loopback",
			break_: func(def *Object, cs []*Object) {
				def.Set("networkMode", "bridge")
				def.Set("requiresCompatibilities", []any{"EC2"})
				cmd := strList(cs[router].Array("command"))
				cmd[slices.Index(cmd, "Host=127.0.0.1")] = "Host=sidewatch"
				cs[router].Set("command", strs(cmd))
			},
			want: []finding{
				{SeverityWarning, "network-mode", "networkMode"},
				{SeverityError, "loopback-listener", "containerDefinitions[1].environment"},
				{SeverityError, "link-missing", "containerDefinitions[2].links"},
			},
		},
		{
			// 3: the forward copy authenticates with the key fluent-launch
			// reads; without --key-file the key is empty.
			name: "forward_without_key_file",
			break_: func(_ *Object, cs []*Object) {
				cmd := strList(cs[router].Array("command"))
				i := slices.Index(cmd, "--key-file")
				cs[router].Set("command", strs(slices.Delete(cmd, i, i+2)))
			},
			want: []finding{{SeverityError, "forward-key", "containerDefinitions[2].command"}},
		},
		{
			name: "forward_without_shared_key",
			break_: func(_ *Object, cs []*Object) {
				cmd := strList(cs[router].Array("command"))
				i := slices.Index(cmd, "Shared_Key=${SIDEWATCH_FORWARD_KEY}")
				cs[router].Set("command", strs(slices.Delete(cmd, i-1, i+1)))
			},
			want: []finding{{SeverityError, "forward-key", "containerDefinitions[2].command"}},
		},
		{
			// 2: acks over a unix socket never match on 1.9.10.
			name: "forward_unix_socket_on_fluent_bit_1_9",
			break_: func(_ *Object, cs []*Object) {
				cs[router].Set("image", "public.ecr.aws/aws-observability/aws-for-fluent-bit:2.32.3")
				cmd := strList(cs[router].Array("command"))
				i := slices.Index(cmd, "Host=127.0.0.1")
				cs[router].Set("command", strs(slices.Replace(cmd, i, i+7, "unix_path=/var/sidewatch/lib/fluent-bit/forward.sock")))
			},
			want: []finding{{SeverityError, "forward-unix-acks", "containerDefinitions[2].command"}},
		},
		{
			name: "forward_unix_socket_unknown_version",
			break_: func(_ *Object, cs []*Object) {
				cmd := strList(cs[router].Array("command"))
				i := slices.Index(cmd, "Host=127.0.0.1")
				cs[router].Set("command", strs(slices.Replace(cmd, i, i+7, "unix_path=/var/sidewatch/lib/fluent-bit/forward.sock")))
			},
			want: []finding{{SeverityWarning, "forward-unix-acks", "containerDefinitions[2].image"}},
		},
		{
			name: "host_mode",
			break_: func(def *Object, _ []*Object) {
				def.Set("networkMode", "host")
				def.Set("requiresCompatibilities", []any{"EC2"})
			},
			want: []finding{{SeverityWarning, "network-mode", "networkMode"}},
		},
		{
			name: "windows",
			break_: func(def *Object, _ []*Object) {
				def.Set("runtimePlatform", obj("operatingSystemFamily", "WINDOWS_SERVER_2019_CORE"))
			},
			want: []finding{{SeverityError, "windows", "runtimePlatform.operatingSystemFamily"}},
		},
		{
			name: "windows_router_image",
			break_: func(_ *Object, cs []*Object) {
				cs[router].Set("image", "amazon/aws-for-fluent-bit:windowsservercore-latest")
			},
			want: []finding{{SeverityError, "windows", "containerDefinitions[2].image"}, {SeverityWarning, "router-start", "containerDefinitions[2].image"}},
		},
		{
			// 16: what the console shows as a number but is a string.
			name:   "cpu_as_string",
			break_: func(_ *Object, cs []*Object) { cs[app].Set("cpu", "128") },
			want:   []finding{{SeverityError, "register-input", "containerDefinitions[0].cpu"}},
		},
		{
			name:   "null_value",
			break_: func(_ *Object, cs []*Object) { cs[app].Set("healthCheck", nil) },
			want:   []finding{{SeverityError, "register-input", "containerDefinitions[0].healthCheck"}},
		},
		{
			name:   "unknown_field",
			break_: func(_ *Object, cs []*Object) { cs[app].Set("restartPolicyX", true) },
			want:   []finding{{SeverityWarning, "unknown-field", "containerDefinitions[0].restartPolicyX"}},
		},
		{
			name: "eleven_containers",
			break_: func(def *Object, cs []*Object) {
				all := def.Array("containerDefinitions")
				for i := range 8 {
					all = append(all, obj("name", fmt.Sprintf("extra%d", i), "image", "x", "logConfiguration", obj("logDriver", "awsfirelens")))
				}
				def.Set("containerDefinitions", all)
			},
			want: []finding{{SeverityError, "register-input", "containerDefinitions"}},
		},
		// Issue 17: the sidecar's sinks, as its environment configures them.
		{
			name: "sink_without_task_role",
			break_: func(def *Object, cs []*Object) {
				def.Delete("taskRoleArn")
				addEnv(cs[sidecar], "SIDEWATCH_SINK=stdout,s3,firehose", "SIDEWATCH_S3_BUCKET=acme-events", "SIDEWATCH_FIREHOSE_DELIVERY_STREAM=events")
			},
			want: []finding{{SeverityError, "sink-task-role", "taskRoleArn"}},
		},
		{
			// Credentials from the container's own keys (here secrets):
			// no task role needed.
			name: "sink_with_static_keys_is_fine",
			break_: func(def *Object, cs []*Object) {
				def.Delete("taskRoleArn")
				addEnv(cs[sidecar], "SIDEWATCH_SINK=s3", "SIDEWATCH_S3_BUCKET=acme-events")
				cs[sidecar].Set("secrets", []any{
					obj("name", "AWS_ACCESS_KEY_ID", "valueFrom", "arn:aws:ssm:us-east-1:123456789012:parameter/sw-key-id"),
					obj("name", "AWS_SECRET_ACCESS_KEY", "valueFrom", "arn:aws:ssm:us-east-1:123456789012:parameter/sw-key"),
				})
			},
		},
		{
			name:   "sink_missing_bucket",
			break_: func(_ *Object, cs []*Object) { addEnv(cs[sidecar], "SIDEWATCH_SINK=stdout,s3") },
			want:   []finding{{SeverityError, "sink-required", "containerDefinitions[1].environment"}},
		},
		{
			name:   "sink_missing_group_and_stream",
			break_: func(_ *Object, cs []*Object) { addEnv(cs[sidecar], "SIDEWATCH_SINK=cloudwatch,firehose") },
			want: []finding{
				{SeverityError, "sink-required", "containerDefinitions[1].environment"},
				{SeverityError, "sink-required", "containerDefinitions[1].environment"},
			},
		},
		{
			// It may be in a file lint cannot read.
			name: "sink_required_with_environment_files",
			break_: func(_ *Object, cs []*Object) {
				addEnv(cs[sidecar], "SIDEWATCH_SINK=s3")
				cs[sidecar].Set("environmentFiles", []any{obj("value", "arn:aws:s3:::acme-config/sidewatch.env", "type", "s3")})
			},
			want: []finding{{SeverityWarning, "sink-required", "containerDefinitions[1].environment"}},
		},
		{
			name: "sink_value_from_secrets_is_fine",
			break_: func(_ *Object, cs []*Object) {
				addEnv(cs[sidecar], "SIDEWATCH_SINK=s3")
				cs[sidecar].Set("secrets", []any{obj("name", "SIDEWATCH_S3_BUCKET", "valueFrom", "arn:aws:ssm:us-east-1:123456789012:parameter/sw-bucket")})
			},
		},
		{
			name: "sink_bad_value",
			break_: func(_ *Object, cs []*Object) {
				addEnv(cs[sidecar], "SIDEWATCH_SINK=s3", "SIDEWATCH_S3_BUCKET=Acme_Events")
			},
			want: []finding{{SeverityError, "sink-config", "containerDefinitions[1].environment[2].value"}},
		},
		{
			name:   "sink_bad_duration",
			break_: func(_ *Object, cs []*Object) { addEnv(cs[sidecar], "SIDEWATCH_CLOUDWATCH_BATCH_DELAY=1 second") },
			want:   []finding{{SeverityError, "sink-config", "containerDefinitions[1].environment[1].value"}},
		},
		{
			name: "sink_unknown",
			break_: func(_ *Object, cs []*Object) {
				addEnv(cs[sidecar], "SIDEWATCH_SINK=stdout, s3", "SIDEWATCH_S3_BUCKET=acme-events")
			},
			want: []finding{{SeverityError, "sink-config", "containerDefinitions[1].environment[1].value"}},
		},
		{
			// The image declares a VOLUME at the default spool directory.
			name: "spool_on_image_volume_is_fine",
			break_: func(_ *Object, cs []*Object) {
				cs[sidecar].Set("readonlyRootFilesystem", true)
				addEnv(cs[sidecar], "SIDEWATCH_SINK=s3", "SIDEWATCH_S3_BUCKET=acme-events")
			},
		},
		{
			name: "spool_on_read_only_root",
			break_: func(_ *Object, cs []*Object) {
				cs[sidecar].Set("readonlyRootFilesystem", true)
				addEnv(cs[sidecar], "SIDEWATCH_SINK=s3", "SIDEWATCH_S3_BUCKET=acme-events", "SIDEWATCH_SPOOL_DIR=/tmp/spool")
			},
			want: []finding{{SeverityError, "spool-volume", "containerDefinitions[1].environment[3].value"}},
		},
		{
			name: "spool_on_read_only_mount",
			break_: func(_ *Object, cs []*Object) {
				addEnv(cs[sidecar], "SIDEWATCH_SINK=s3", "SIDEWATCH_S3_BUCKET=acme-events", "SIDEWATCH_SPOOL_DIR=/data/spool")
				cs[sidecar].Set("mountPoints", []any{obj("sourceVolume", "data", "containerPath", "/data", "readOnly", true)})
			},
			want: []finding{{SeverityError, "spool-volume", "containerDefinitions[1].mountPoints[0].readOnly"}},
		},
		{
			name: "spool_on_mount_is_fine",
			break_: func(_ *Object, cs []*Object) {
				cs[sidecar].Set("readonlyRootFilesystem", true)
				addEnv(cs[sidecar], "SIDEWATCH_SINK=s3", "SIDEWATCH_S3_BUCKET=acme-events", "SIDEWATCH_SPOOL_DIR=/data/spool")
				cs[sidecar].Set("mountPoints", []any{obj("sourceVolume", "data", "containerPath", "/data/", "readOnly", false)})
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			def := readDef(t, filepath.Join("testdata", "inject", "secrets.golden.json"))
			tt.break_(def, containers(def))
			var got []finding
			for _, f := range Lint(def, LintOptions{}) {
				got = append(got, finding{f.Severity, f.Check, f.Path})
				if f.Message == "" || f.Fix == "" {
					t.Errorf("finding %+v lacks a message or a fix", f)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Lint findings (-want +got):\n%s", diff)
			}
			// The messages and fixes, as users read them.
			golden(t, filepath.Join("testdata", "lint", tt.name+".txt"), []byte(FormatFindings(Lint(def, LintOptions{}))))
		})
	}
}

// addEnv appends NAME=VALUE entries to a container's environment.
func addEnv(c *Object, kvs ...string) {
	env := c.Array("environment")
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		env = append(env, obj("name", k, "value", v))
	}
	c.Set("environment", env)
}
