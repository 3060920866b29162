package taskdefs

import (
	"path/filepath"
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
			},
			want: []finding{{SeverityError, "go-plugin-missing", "containerDefinitions[2].command"}},
		},
		{
			name: "go_plugin_on_upstream_image",
			break_: func(_ *Object, cs []*Object) {
				cs[app].Object("logConfiguration").Set("options", obj("Name", "kinesis", "stream", "s"))
				cs[router].Set("image", "fluent/fluent-bit:3.2")
			},
			want: []finding{{SeverityError, "go-plugin-image", "containerDefinitions[2].image"}},
		},
		{
			name: "bad_log_group_name",
			break_: func(_ *Object, cs []*Object) {
				cs[app].Object("logConfiguration").Set("options", obj("Name", "cloudwatch_logs", "log_group_name", "/ecs/my app", "log_stream_prefix", "web/"))
			},
			want: []finding{{SeverityError, "log-group-name", "containerDefinitions[0].logConfiguration.options.log_group_name"}},
		},
		{
			name: "templated_log_group_name_is_fine",
			break_: func(_ *Object, cs []*Object) {
				cs[app].Object("logConfiguration").Set("options", obj("Name", "cloudwatch_logs", "log_group_name", "/ecs/$(ecs_task_id)", "log_stream_prefix", "web/"))
			},
		},
		{
			name: "bad_stream_prefix",
			break_: func(_ *Object, cs []*Object) {
				cs[app].Object("logConfiguration").Set("options", obj("Name", "cloudwatch_logs", "log_group_name", "/ecs/app", "log_stream_prefix", "web:1/"))
			},
			want: []finding{{SeverityError, "log-stream-prefix", "containerDefinitions[0].logConfiguration.options.log_stream_prefix"}},
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
				cs[app].Object("logConfiguration").Set("options", obj("Name", "cloudwatch_logs", "log_group_name", "/ecs/app", "log_stream_prefix", "web/"))
			},
			want: []finding{{SeverityError, "task-role", "taskRoleArn"}},
		},
		{
			name: "awslogs_without_execution_role",
			break_: func(def *Object, cs []*Object) {
				def.Delete("executionRoleArn")
				cs[sidecar].Set("logConfiguration", obj("logDriver", "awslogs", "options", obj("awslogs-group", "g")))
			},
			want: []finding{{SeverityError, "execution-role", "executionRoleArn"}},
		},
		{
			name:   "depends_on_missing",
			break_: func(_ *Object, cs []*Object) { cs[router].Delete("dependsOn") },
			want:   []finding{{SeverityError, "depends-on", "containerDefinitions[2].dependsOn"}},
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
			// The former router is now an app container without a log driver.
			want: []finding{{SeverityWarning, "not-firelens", "containerDefinitions[2].logConfiguration.logDriver"}, {SeverityError, "router-missing", "containerDefinitions"}},
		},
		{
			name:   "no_sidecar",
			break_: func(_ *Object, cs []*Object) { cs[sidecar].Set("name", "agent") },
			want:   []finding{{SeverityError, "sidecar-missing", "containerDefinitions"}, {SeverityWarning, "not-firelens", "containerDefinitions[1].logConfiguration.logDriver"}},
		},
		{
			name:   "bridge",
			break_: func(def *Object, _ []*Object) { def.Set("networkMode", "bridge") },
			want:   []finding{{SeverityWarning, "network-mode", "networkMode"}},
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
		})
	}
}
