package taskdefs

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/sidewatch/sidewatch/firelens"
)

// Severity ranks a lint finding.
type Severity string

// Severities. An Error means the task will not work as intended.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Finding is one lint result.
type Finding struct {
	Severity Severity `json:"severity"`
	Check    string   `json:"check"`
	Path     string   `json:"path"` // JSON path in the register shape
	Message  string   `json:"message"`
	Fix      string   `json:"fix"`
}

// LintOptions tunes Lint.
type LintOptions struct {
	SidecarName string
	Ignore      []string
}

// HasErrors reports whether any finding is an error.
func HasErrors(fs []Finding) bool {
	return slices.ContainsFunc(fs, func(f Finding) bool { return f.Severity == SeverityError })
}

var (
	// CloudWatch log group names; $(...) templates are removed first.
	logGroupRE = regexp.MustCompile(`^[A-Za-z0-9_\-/.#]{1,512}$`)
	templateRE = regexp.MustCompile(`\$\([^)]*\)|\$\{[^}]*\}`)
)

// Lint checks that a task definition, hand-edited or injected, will copy
// every container's logs to the sidecar and keep delivering them where
// they went before. Findings come in container order.
func Lint(def *Object, opts LintOptions) []Finding {
	if opts.SidecarName == "" {
		opts.SidecarName = DefaultSidecarName
	}
	var fs []Finding
	add := func(sev Severity, check, path, fix, format string, args ...any) {
		fs = append(fs, Finding{Severity: sev, Check: check, Path: path, Message: fmt.Sprintf(format, args...), Fix: fix})
	}
	cs := containers(def)
	sidecarIdx, routerIdx := -1, -1
	for i, c := range cs {
		if c.String("name") == opts.SidecarName {
			sidecarIdx = i
		}
		if _, ok := c.Get("firelensConfiguration"); ok && routerIdx < 0 {
			routerIdx = i
		}
	}
	cp := func(i int, rest string) string { return fmt.Sprintf("containerDefinitions[%d]%s", i, rest) }

	if mode := def.String("networkMode"); mode != "awsvpc" {
		add(SeverityWarning, "network-mode", "networkMode", "use awsvpc (required on Fargate)",
			"networkMode is %q: the sidecar sees only its own traffic and reaches the log_router only through links", mode)
	}
	if sidecarIdx < 0 {
		add(SeverityError, "sidecar-missing", "containerDefinitions", "run `sidewatch taskdef inject`",
			"no container named %q", opts.SidecarName)
	} else {
		sc := cs[sidecarIdx]
		if ess, ok := sc.Bool("essential"); ok && !ess {
			add(SeverityWarning, "sidecar-not-essential", cp(sidecarIdx, ".essential"), "set essential to true once the task works",
				"the sidecar is not essential: the task keeps running unprotected if it stops (fine while testing, not in production)")
		}
		if sc.Object("logConfiguration").String("logDriver") == "awsfirelens" {
			add(SeverityError, "sidecar-firelens", cp(sidecarIdx, ".logConfiguration.logDriver"), "use awslogs for the sidecar's own output",
				"the sidecar logs through FireLens, so its events are copied back to it in a loop")
		}
		if _, ok := sc.Get("healthCheck"); ok && !hasEnv(sc, "SIDEWATCH_HEALTH_ADDR") {
			add(SeverityError, "health-addr", cp(sidecarIdx, ".environment"), "add SIDEWATCH_HEALTH_ADDR="+HealthAddr,
				"the sidecar has a healthCheck but no SIDEWATCH_HEALTH_ADDR, so `sidewatch health` may find no listener")
		}
	}

	usedPlugins := map[string]int{} // plugin name -> first container using it
	cloudwatchAt := -1
	for i, c := range cs {
		for j, pm := range c.Array("portMappings") {
			if o, ok := pm.(*Object); ok {
				for _, k := range []string{"containerPort", "hostPort"} {
					if n, ok := o.Int(k); ok && n == int64(firelens.DefaultSyslogOutput().Port) {
						add(SeverityWarning, "syslog-port-exposed", cp(i, fmt.Sprintf(".portMappings[%d].%s", j, k)), "remove the port mapping, and block TCP/UDP 1514 in security groups",
							"port 1514 is sidewatch's syslog port; exposing it invites forged logs")
					}
				}
			}
		}
		if i == sidecarIdx || i == routerIdx {
			continue
		}
		lc := c.Object("logConfiguration")
		driver := lc.String("logDriver")
		if ignored(c, opts.Ignore) {
			continue
		}
		if driver != "awsfirelens" {
			shown := driver
			if shown == "" {
				shown = "(none)"
			}
			add(SeverityWarning, "not-firelens", cp(i, ".logConfiguration.logDriver"), "run `sidewatch taskdef inject`, or opt out with dockerLabels "+IgnoreLabel+"=true",
				"container %q logs with %s, so sidewatch never sees its logs", c.String("name"), shown)
		}
		if driver == "awslogs" {
			o := lc.Object("options")
			checkNames(add, cp(i, ".logConfiguration.options"), o.String("awslogs-group"), "awslogs-group", o.String("awslogs-stream-prefix"), "awslogs-stream-prefix")
		}
		if driver != "awsfirelens" {
			continue
		}
		o := lc.Object("options")
		if o == nil {
			continue
		}
		plugin := strings.ToLower(o.String("Name"))
		if plugin == "" {
			add(SeverityError, "output-name", cp(i, ".logConfiguration.options.Name"), "add \"Name\" with the Fluent Bit output plugin",
				"awsfirelens options without Name: ECS rejects the task")
			continue
		}
		if _, ok := usedPlugins[plugin]; !ok {
			usedPlugins[plugin] = i
		}
		if plugin == "cloudwatch" || plugin == "cloudwatch_logs" {
			if cloudwatchAt < 0 {
				cloudwatchAt = i
			}
			checkNames(add, cp(i, ".logConfiguration.options"), o.String("log_group_name"), "log_group_name", o.String("log_stream_prefix"), "log_stream_prefix")
		}
	}
	for _, c := range cs {
		if c.Object("logConfiguration").String("logDriver") == "awslogs" && def.String("executionRoleArn") == "" {
			add(SeverityError, "execution-role", "executionRoleArn", "add an execution role allowing logs:CreateLogStream and logs:PutLogEvents",
				"container %q logs with awslogs, which uses the execution role, and there is none", c.String("name"))
			break
		}
	}
	if cloudwatchAt >= 0 && def.String("taskRoleArn") == "" {
		add(SeverityError, "task-role", "taskRoleArn", "add a task role allowing logs:CreateLogGroup, logs:CreateLogStream, logs:DescribeLogStreams and logs:PutLogEvents",
			"container %q sends logs to CloudWatch through FireLens, which uses the task role, and there is none", cs[cloudwatchAt].String("name"))
	}

	if routerIdx < 0 {
		add(SeverityError, "router-missing", "containerDefinitions", "run `sidewatch taskdef inject`",
			"no FireLens log_router container (firelensConfiguration)")
	} else {
		fs = append(fs, lintRouter(cs, routerIdx, sidecarIdx, opts.SidecarName, usedPlugins)...)
	}
	if err := checkResources(def); err != nil {
		path, msg, _ := strings.Cut(err.Error(), ": ")
		add(SeverityError, "resources", path, "raise the task-level "+path+" or lower the containers' reservations", "%s", msg)
	}
	return fs
}

func lintRouter(cs []*Object, ri, si int, sidecarName string, usedPlugins map[string]int) []Finding {
	var fs []Finding
	add := func(sev Severity, check, rest, fix, format string, args ...any) {
		fs = append(fs, Finding{Severity: sev, Check: check, Path: fmt.Sprintf("containerDefinitions[%d]%s", ri, rest), Message: fmt.Sprintf(format, args...), Fix: fix})
	}
	r := cs[ri]
	if t := r.Object("firelensConfiguration").String("type"); t != "fluentbit" {
		add(SeverityError, "router-type", ".firelensConfiguration.type", "use type fluentbit", "FireLens type is %q; fluent-launch needs fluentbit", t)
	}
	ep := r.Array("entryPoint")
	if len(ep) != 1 || ep[0] != firelens.LauncherPath {
		add(SeverityError, "router-entrypoint", ".entryPoint", fmt.Sprintf("set entryPoint to [%q]", firelens.LauncherPath),
			"the log_router does not start fluent-launch, so no log reaches the sidecar")
		// The command belongs to another entrypoint (the AWS image's
		// loads every -e plugin itself): checking it would only add noise.
		return append(fs, lintDependencies(r, ri, cs, si, sidecarName)...)
	}
	var cmd []string
	for _, e := range r.Array("command") {
		s, _ := e.(string)
		cmd = append(cmd, s)
	}
	sep := slices.Index(cmd, "--")
	if sep < 0 {
		add(SeverityError, "command-separator", ".command", "put \"--\" between fluent-launch's options and Fluent Bit's",
			"the log_router command has no \"--\", so fluent-launch refuses to start")
	}
	fb := cmd[sep+1:]
	if !hasPair(fb, "-o", "syslog") {
		add(SeverityError, "syslog-output", ".command", "add the syslog output from `sidewatch taskdef inject`",
			"the log_router command has no `-o syslog` output, so no log reaches the sidecar")
	}
	awsImage := isAWSImage(r.String("image"))
	for _, p := range goPlugins {
		at, used := usedPlugins[p]
		if !used {
			continue
		}
		so := "/fluent-bit/" + p + ".so"
		switch {
		case !awsImage:
			add(SeverityError, "go-plugin-image", ".image", "use the aws-for-fluent-bit image, or the core plugin (cloudwatch_logs, kinesis_firehose, kinesis_streams)",
				"container %q uses the Go plugin %q, which only the AWS for Fluent Bit image has", cs[at].String("name"), p)
		case !hasPair(fb, "-e", so):
			add(SeverityError, "go-plugin-missing", ".command", fmt.Sprintf("add \"-e\", %q after \"--\"", so),
				"container %q uses the %q output, which Fluent Bit only loads with -e %s", cs[at].String("name"), p, so)
		}
	}
	return append(fs, lintDependencies(r, ri, cs, si, sidecarName)...)
}

// lintDependencies checks how the log_router reaches the sidecar's volume.
func lintDependencies(r *Object, ri int, cs []*Object, si int, sidecarName string) []Finding {
	var fs []Finding
	add := func(sev Severity, check, rest, fix, format string, args ...any) {
		fs = append(fs, Finding{Severity: sev, Check: check, Path: fmt.Sprintf("containerDefinitions[%d]%s", ri, rest), Message: fmt.Sprintf(format, args...), Fix: fix})
	}
	if si < 0 {
		return nil
	}
	var dep *Object
	for _, e := range r.Array("dependsOn") {
		if o, ok := e.(*Object); ok && o.String("containerName") == sidecarName {
			dep = o
		}
	}
	_, sidecarHealth := cs[si].Get("healthCheck")
	switch {
	case dep == nil:
		add(SeverityError, "depends-on", ".dependsOn", fmt.Sprintf("add {\"containerName\": %q, \"condition\": \"HEALTHY\"} (START without a healthCheck)", sidecarName),
			"the log_router may start before the sidecar has put fluent-launch in the shared volume")
	case dep.String("condition") == "HEALTHY" && !sidecarHealth:
		add(SeverityError, "depends-on", ".dependsOn", "give the sidecar a healthCheck or use condition START",
			"the log_router waits for the sidecar to be HEALTHY, but it has no healthCheck")
	case dep.String("condition") != "HEALTHY" && dep.String("condition") != "START":
		add(SeverityError, "depends-on", ".dependsOn", "use condition HEALTHY (START without a healthCheck)",
			"the log_router waits for the sidecar to %s, but the sidecar keeps running", dep.String("condition"))
	}
	var vf *Object
	for _, e := range r.Array("volumesFrom") {
		if o, ok := e.(*Object); ok && o.String("sourceContainer") == sidecarName {
			vf = o
		}
	}
	if vf == nil {
		add(SeverityError, "volumes-from", ".volumesFrom", fmt.Sprintf("add {\"sourceContainer\": %q, \"readOnly\": false}", sidecarName),
			"the log_router does not mount the sidecar's volume, so fluent-launch is missing")
	} else if ro, _ := vf.Bool("readOnly"); ro {
		add(SeverityError, "volumes-from", ".volumesFrom", "set readOnly to false",
			"the sidecar's volume is read-only, but fluent-launch writes the patched config there")
	}
	return fs
}

func checkNames(add func(Severity, string, string, string, string, ...any), path, group, groupKey, prefix, prefixKey string) {
	if g := templateRE.ReplaceAllString(group, "x"); group != "" && !logGroupRE.MatchString(g) {
		add(SeverityError, "log-group-name", path+"."+groupKey, "use only letters, digits, _ - / . # (1 to 512 characters)",
			"CloudWatch rejects the log group name %q", group)
	}
	if strings.ContainsAny(prefix, ":*") || len(prefix) > 512 {
		add(SeverityError, "log-stream-prefix", path+"."+prefixKey, "remove ':' and '*'",
			"CloudWatch rejects stream names containing ':' or '*', and %q would make one", prefix)
	}
}

func hasPair(args []string, flag, value string) bool {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag && args[i+1] == value {
			return true
		}
	}
	return false
}

func hasEnv(c *Object, name string) bool {
	for _, e := range c.Array("environment") {
		if o, ok := e.(*Object); ok && o.String("name") == name {
			return true
		}
	}
	return false
}

// FormatFindings renders findings one per line, then a summary line.
func FormatFindings(fs []Finding) string {
	var b strings.Builder
	errs := 0
	for _, f := range fs {
		if f.Severity == SeverityError {
			errs++
		}
		fmt.Fprintf(&b, "%s: %s [%s]: %s\n    fix: %s\n", f.Severity, f.Path, f.Check, f.Message, f.Fix)
	}
	fmt.Fprintf(&b, "%d findings, %d errors\n", len(fs), errs)
	return b.String()
}
