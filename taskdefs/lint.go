package taskdefs

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"

	"github.com/sidewatch/sidewatch/firelens"
	"github.com/sidewatch/sidewatch/sidecar/sink/cloudwatch"
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
	// $(...) and ${...} templates, replaced before a log group name is
	// checked.
	templateRE = regexp.MustCompile(`\$\([^)]*\)|\$\{[^}]*\}`)
)

// linter is the state of one Lint call.
type linter struct {
	def        *Object
	opts       LintOptions
	cs         []*Object
	sidecarIdx int
	routerIdx  int
	fs         []Finding
}

func (l *linter) add(sev Severity, check, path, fix, format string, args ...any) {
	l.fs = append(l.fs, Finding{Severity: sev, Check: check, Path: path, Message: fmt.Sprintf(format, args...), Fix: fix})
}

func (l *linter) cp(i int, rest string) string {
	return fmt.Sprintf("containerDefinitions[%d]%s", i, rest)
}

// Lint checks that a task definition, hand-edited or injected, registers,
// copies every container's logs to the sidecar and keeps delivering them
// where they went before. Findings come in document order, roughly.
func Lint(def *Object, opts LintOptions) []Finding {
	if opts.SidecarName == "" {
		opts.SidecarName = DefaultSidecarName
	}
	l := &linter{def: def, opts: opts, cs: containers(def), sidecarIdx: -1, routerIdx: -1}
	for i, c := range l.cs {
		if c.String("name") == opts.SidecarName {
			l.sidecarIdx = i
		}
		if _, ok := c.Get("firelensConfiguration"); ok && l.routerIdx < 0 {
			l.routerIdx = i
		}
	}
	l.lintAPI()
	l.lintPlatform()
	l.lintDependsOn()
	l.lintSidecar()
	l.lintApps()
	l.lintSinks()
	if l.routerIdx < 0 {
		l.add(SeverityError, "router-missing", "containerDefinitions", "run `sidewatch taskdef inject`",
			"no FireLens log_router container (firelensConfiguration)")
	} else {
		l.lintRouter()
	}
	if rc := checkResources(def); !rc.ok() {
		fix := "raise the task-level size or lower the containers' reservations"
		if len(rc.fixes) > 0 {
			fix = strings.Join(rc.fixes, "; or ")
		}
		for _, p := range rc.problems {
			l.add(SeverityError, "resources", p.path, fix, "%s", p.msg)
		}
	}
	return l.fs
}

// lintAPI reports what RegisterTaskDefinition would reject.
func (l *linter) lintAPI() {
	for _, p := range APIProblems(l.def) {
		if p.Unknown {
			l.add(SeverityWarning, "unknown-field", p.Path, "remove it, or register with the AWS CLI if your ECS knows it", "%s", p.Msg)
			continue
		}
		fix := "fix the value's type as the ECS API reference gives it"
		switch {
		case strings.HasPrefix(p.Msg, "null"):
			fix = "remove the key"
		case p.Path == "(document)":
			fix = "shorten it: move long environment values to environmentFiles or secrets"
		case p.Path == "containerDefinitions":
			fix = "split the task, or merge containers"
		}
		l.add(SeverityError, "register-input", p.Path, fix, "%s", p.Msg)
	}
}

func (l *linter) lintPlatform() {
	if os := l.def.Object("runtimePlatform").String("operatingSystemFamily"); strings.HasPrefix(strings.ToUpper(os), "WINDOWS") {
		l.add(SeverityError, "windows", "runtimePlatform.operatingSystemFamily", "protect Linux tasks only",
			"%s: FireLens and the sidewatch sidecar run on Linux only", os)
	}
	mode := l.def.String("networkMode")
	switch {
	case mode == "awsvpc":
	case isFargate(l.def):
		l.add(SeverityError, "network-mode", "networkMode", "use awsvpc", "networkMode is %q; Fargate tasks need awsvpc", mode)
	case mode == "bridge" || mode == "":
		l.add(SeverityWarning, "network-mode", "networkMode", "use awsvpc to capture the task's traffic",
			"networkMode is bridge: every container has its own network namespace, so the sidecar captures only its own traffic, and the log_router reaches it over a link")
	case mode == "host":
		l.add(SeverityWarning, "network-mode", "networkMode", "use awsvpc, or run one such task per instance",
			"networkMode is host: the sidecar binds 127.0.0.1:1514 and %s on the instance (a second such task there cannot start its sidecar) and captures the whole instance's traffic", HealthAddr)
	default:
		l.add(SeverityError, "network-mode", "networkMode", "use awsvpc", "networkMode is %q: the log_router has no network to reach the sidecar", mode)
	}
}

// lintDependsOn finds dependsOn entries naming no container, and cycles
// (ECS would never start the containers in one).
func (l *linter) lintDependsOn() {
	index := map[string]int{}
	for i, c := range l.cs {
		index[c.String("name")] = i
	}
	edges := make([][]int, len(l.cs))
	for i, c := range l.cs {
		for k, e := range c.Array("dependsOn") {
			o, _ := e.(*Object)
			name := o.String("containerName")
			j, ok := index[name]
			if !ok {
				l.add(SeverityError, "depends-on-missing", l.cp(i, fmt.Sprintf(".dependsOn[%d].containerName", k)), "name an existing container, or remove the entry",
					"container %q depends on %q, which is not in the task", c.String("name"), name)
				continue
			}
			edges[i] = append(edges[i], j)
		}
	}
	// Depth-first search: 0 unseen, 1 on the stack, 2 done.
	state := make([]int, len(l.cs))
	var stack []int
	var visit func(int) bool
	visit = func(i int) bool {
		state[i] = 1
		stack = append(stack, i)
		for _, j := range edges[i] {
			if state[j] == 1 {
				cycle := stack[slices.Index(stack, j):]
				var names []string
				for _, k := range cycle {
					names = append(names, l.cs[k].String("name"))
				}
				names = append(names, l.cs[j].String("name"))
				l.add(SeverityError, "depends-on-cycle", l.cp(j, ".dependsOn"), "remove one dependsOn of the cycle (the sidecar depends on nothing)",
					"dependsOn cycle %s: ECS never starts these containers", strings.Join(names, " -> "))
				return true
			}
			if state[j] == 0 && visit(j) {
				return true
			}
		}
		stack = stack[:len(stack)-1]
		state[i] = 2
		return false
	}
	for i := range l.cs {
		if state[i] == 0 && visit(i) {
			return // one cycle is enough to report
		}
	}
}

func (l *linter) lintSidecar() {
	if l.sidecarIdx < 0 {
		l.add(SeverityError, "sidecar-missing", "containerDefinitions", "run `sidewatch taskdef inject`",
			"no container named %q", l.opts.SidecarName)
		return
	}
	si := l.sidecarIdx
	sc := l.cs[si]
	if ess, ok := sc.Bool("essential"); ok && !ess {
		l.add(SeverityWarning, "sidecar-not-essential", l.cp(si, ".essential"), "set essential to true once the task works",
			"the sidecar is not essential: the task keeps running unprotected if it stops (fine while testing, not in production)")
	}
	lc := sc.Object("logConfiguration")
	switch lc.String("logDriver") {
	case "awsfirelens":
		l.add(SeverityError, "sidecar-firelens", l.cp(si, ".logConfiguration.logDriver"), "use awslogs for the sidecar's own output",
			"the sidecar logs through FireLens, so its events are copied back to it in a loop")
	case "":
		l.add(SeverityWarning, "sidecar-logging", l.cp(si, ".logConfiguration"), "give it awslogs (`sidewatch taskdef inject --sidecar-log-group`)",
			"the sidecar has no logConfiguration: its events (stdout sink) and errors go nowhere")
	}
	l.lintInherited(si, lc)
	if _, ok := sc.Get("healthCheck"); ok && !hasEnv(sc, "SIDEWATCH_HEALTH_ADDR") {
		l.add(SeverityError, "health-addr", l.cp(si, ".environment"), "add SIDEWATCH_HEALTH_ADDR="+HealthAddr,
			"the sidecar has a healthCheck but no SIDEWATCH_HEALTH_ADDR, so `sidewatch health` may find no listener")
	}
}

// lintInherited finds an app's line options on the sidecar's or the
// router's own awslogs: their lines never match, so consecutive lines are
// glued into one event.
func (l *linter) lintInherited(i int, lc *Object) {
	if lc.String("logDriver") != "awslogs" {
		return
	}
	for _, k := range awslogsAppSpecific {
		if v := lc.Object("options").String(k); v != "" {
			l.add(SeverityError, "inherited-multiline", l.cp(i, ".logConfiguration.options."+k), "remove it",
				"%s %q is an app's line format; %s's own lines never match it, so awslogs glues them into few large events", k, v, l.cs[i].String("name"))
		}
	}
}

// lintApps checks every app container's log configuration.
func (l *linter) lintApps() {
	var cloudwatch, awslogs []string
	for i, c := range l.cs {
		for j, pm := range c.Array("portMappings") {
			if o, ok := pm.(*Object); ok {
				for _, k := range []string{"containerPort", "hostPort"} {
					if n, ok := o.Int(k); ok && n == int64(firelens.DefaultSyslogOutput().Port) {
						l.add(SeverityWarning, "syslog-port-exposed", l.cp(i, fmt.Sprintf(".portMappings[%d].%s", j, k)), "remove the port mapping, and block TCP/UDP 1514 in security groups",
							"port 1514 is sidewatch's syslog port; exposing it invites forged logs")
					}
				}
			}
		}
		lc := c.Object("logConfiguration")
		driver := lc.String("logDriver")
		if driver == "awslogs" {
			awslogs = append(awslogs, c.String("name"))
		}
		if i == l.sidecarIdx || i == l.routerIdx || ignored(c, l.opts.Ignore) {
			continue
		}
		if driver != "awsfirelens" {
			shown := driver
			if shown == "" {
				shown = "(none)"
			}
			l.add(SeverityWarning, "not-firelens", l.cp(i, ".logConfiguration.logDriver"), "run `sidewatch taskdef inject`, or opt out with dockerLabels "+IgnoreLabel+"=true",
				"container %q logs with %s, so sidewatch never sees its logs", c.String("name"), shown)
		}
		if driver == "awslogs" {
			o := lc.Object("options")
			l.checkNames(l.cp(i, ".logConfiguration.options"), o.String("awslogs-group"), "awslogs-group", o.String("awslogs-stream-prefix"), "awslogs-stream-prefix")
		}
		if driver != "awsfirelens" {
			continue
		}
		o := lc.Object("options")
		if o == nil {
			continue
		}
		path := l.cp(i, ".logConfiguration.options")
		plugin := strings.ToLower(o.String("Name"))
		if plugin == "" {
			l.add(SeverityError, "output-name", path+".Name", "add \"Name\" with the Fluent Bit output plugin",
				"awsfirelens options without Name: ECS rejects the task")
			continue
		}
		for _, m := range o.Members {
			if strings.HasPrefix(m.Key, "awslogs-") || m.Key == "mode" || m.Key == "max-buffer-size" {
				l.add(SeverityError, "firelens-option", path+"."+m.Key, "remove it; run `sidewatch taskdef inject` on the awslogs configuration to translate it",
					"%s is an awslogs option; FireLens passes it to the %s output, which refuses to start on an unknown property", m.Key, o.String("Name"))
			}
		}
		if isCloudWatchPlugin(plugin) {
			cloudwatch = append(cloudwatch, c.String("name"))
			stream, key := o.String("log_stream_prefix"), "log_stream_prefix"
			if v := o.String("log_stream_name"); v != "" {
				stream, key = v, "log_stream_name"
			}
			l.checkNames(path, o.String("log_group_name"), "log_group_name", stream, key)
			if o.String("region") == "" {
				l.add(SeverityError, "cloudwatch-region", path+".region", "set region (the task's region: ${AWS_REGION})",
					"the %s output has no region and refuses to start", o.String("Name"))
			}
		}
	}
	// On EC2 without an execution role the instance's role writes awslogs.
	if len(awslogs) > 0 && isFargate(l.def) && l.def.String("executionRoleArn") == "" {
		l.add(SeverityError, "execution-role", "executionRoleArn", "add an execution role allowing logs:CreateLogStream and logs:PutLogEvents",
			"%s log with awslogs, which on Fargate writes with the execution role, and there is none", strings.Join(awslogs, ", "))
	}
	if len(cloudwatch) == 0 {
		return
	}
	who := "container " + cloudwatch[0] + " sends"
	if len(cloudwatch) > 1 {
		who = "containers " + strings.Join(cloudwatch, ", ") + " send"
	}
	if l.def.String("taskRoleArn") == "" {
		l.add(SeverityError, "task-role", "taskRoleArn", "add a task role allowing logs:CreateLogStream, logs:DescribeLogStreams and logs:PutLogEvents (and logs:CreateLogGroup with auto_create_group) on the groups",
			"%s logs to CloudWatch through FireLens, which writes with the task role, and there is none", who)
	} else if l.def.String("taskRoleArn") != l.def.String("executionRoleArn") {
		n := newIAMNeeds(l.def, nil, nil, "")
		l.add(SeverityWarning, "task-role-logs", "taskRoleArn", "make sure the task role allows them (`sidewatch taskdef inject --iam-policy FILE` writes the policy)",
			"%s logs to CloudWatch through FireLens, written with the task role %s, not the execution role as with awslogs; it needs logs:CreateLogStream, logs:DescribeLogStreams and logs:PutLogEvents on %s", who, l.def.String("taskRoleArn"), strings.Join(n.Statements()[0].Resource, ", "))
	}
}

func (l *linter) checkNames(path, group, groupKey, stream, streamKey string) {
	if g := templateRE.ReplaceAllString(group, "x"); group != "" && !cloudwatch.ValidLogGroup(g) {
		l.add(SeverityError, "log-group-name", path+"."+groupKey, "use only letters, digits, _ - / . # (1 to 512 characters)",
			"CloudWatch rejects the log group name %q", group)
	}
	if s := templateRE.ReplaceAllString(stream, "x"); strings.ContainsAny(s, ":*") || len(s) > 512 {
		l.add(SeverityError, "log-stream-prefix", path+"."+streamKey, "remove ':' and '*'",
			"CloudWatch rejects stream names containing ':' or '*', and %q would make one", stream)
	}
}

// lintRouter checks that the log_router starts fluent-launch the way its
// image started Fluent Bit, copies to the sidecar and can reach it.
func (l *linter) lintRouter() {
	ri := l.routerIdx
	r := l.cs[ri]
	add := func(sev Severity, check, rest, fix, format string, args ...any) {
		l.add(sev, check, l.cp(ri, rest), fix, format, args...)
	}
	if t := r.Object("firelensConfiguration").String("type"); t != "fluentbit" {
		add(SeverityError, "router-type", ".firelensConfiguration.type", "use type fluentbit with a Fluent Bit image",
			"FireLens type is %q; sidewatch's recipe runs in Fluent Bit (fluent-launch, the copy to the sidecar)", t)
	}
	lc := r.Object("logConfiguration")
	if lc == nil {
		add(SeverityWarning, "router-logging", ".logConfiguration", "give it awslogs, as `sidewatch taskdef inject` does",
			"the log_router has no logConfiguration: its own errors (an output failing, the sidecar unreachable) go nowhere")
	}
	l.lintInherited(ri, lc)
	img := ClassifyImage(r.String("image"))
	if img.Windows {
		add(SeverityError, "windows", ".image", "use a Linux Fluent Bit image", "%s is a Windows image; FireLens runs on Linux only", r.String("image"))
	}
	if !runsLauncher(r) {
		add(SeverityError, "router-entrypoint", ".entryPoint", fmt.Sprintf("set entryPoint to [%q] (`sidewatch taskdef inject`)", firelens.LauncherPath),
			"the log_router does not start fluent-launch, so no log reaches the sidecar")
		l.lintDependencies()
		return
	}
	cmd := strList(r.Array("command"))
	sep := slices.Index(cmd, "--")
	if sep < 0 {
		add(SeverityError, "command-separator", ".command", "put \"--\" between fluent-launch's options and Fluent Bit's",
			"the log_router command has no \"--\", so fluent-launch refuses to start")
		l.lintDependencies()
		return
	}
	launcherOpts, fb := cmd[:sep], cmd[sep+1:]
	if !hasPair(fb, "-o", "syslog") && !hasPair(fb, "-o", "forward") {
		add(SeverityError, "syslog-output", ".command", "add the copy to the sidecar from `sidewatch taskdef inject`",
			"the log_router command has no output to the sidecar (-o syslog or -o forward), so no log reaches it")
	}
	awsInit := slices.Contains(launcherOpts, "--aws-init")
	// What the router's image (or its recorded start) loaded before
	// fluent-launch replaced its start. A start from the label was
	// described by the user: every plugin of it counts. The known
	// images' plugins matter where a config file (config-file-value)
	// may use them; outputs of apps are checked below either way.
	var start *Start
	recorded := false
	if label := r.Object("dockerLabels").String(StartLabel); label != "" {
		if s, err := parseStartLabel(label); err != nil {
			add(SeverityError, "router-start", ".dockerLabels."+StartLabel, "remove it and inject again with --router-start-command", "%q: %v", label, err)
		} else {
			start, recorded = &s, true
		}
	} else if img.Known {
		if s, err := interpretStart(img, slices.Concat(img.Entrypoint, img.Cmd)); err == nil {
			start = &s
		}
	}
	configFile := r.Object("firelensConfiguration").Object("options").String("config-file-value")
	switch {
	case start == nil && !img.Known:
		add(SeverityWarning, "router-start", ".image", "inject again with --router-start-command, --router-image-like or --router-plugins",
			"sidewatch does not know how %s starts Fluent Bit, so it cannot check that fluent-launch loads the same plugins", r.String("image"))
	case start != nil && start.AWSInit && !awsInit:
		add(SeverityError, "router-init", ".command", "add \"--aws-init\", \""+AWSInitProcess+"\" before \"--\" (`sidewatch taskdef inject`)",
			"%s is aws-for-fluent-bit's init image, and fluent-launch bypasses its init process: the aws_fluent_bit_init_* files and the variables it exports (AWS_REGION, ECS_CLUSTER, ECS_TASK_ID, ...) are lost", r.String("image"))
	case start != nil && !start.AWSInit && (recorded || configFile != ""):
		var missing []string
		for _, p := range start.Plugins() {
			if !hasPair(fb, "-e", p) {
				missing = append(missing, p)
			}
		}
		if len(missing) > 0 {
			why := "the start recorded in " + StartLabel
			if !recorded {
				why = "the image's start, which the config file " + configFile + " may need,"
			}
			add(SeverityError, "router-plugins", ".command", fmt.Sprintf("add %s after \"--\" (`sidewatch taskdef inject`)", strings.Join(prefixEach("-e ", missing), " ")),
				"%s loaded %s, which fluent-launch does not: outputs using them fail to start", why, strings.Join(missing, ", "))
		}
	}
	l.lintGoPlugins(img, fb, awsInit)
	l.lintECSEnv(launcherOpts, awsInit)
	l.lintReach(img, launcherOpts, fb)
	l.lintDependencies()
}

func prefixEach(p string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = p + s
	}
	return out
}

// lintGoPlugins checks that every Go plugin an app's output uses is
// loaded.
func (l *linter) lintGoPlugins(img RouterImage, fb []string, awsInit bool) {
	ri := l.routerIdx
	for i, c := range l.cs {
		if c.Object("logConfiguration").String("logDriver") != "awsfirelens" {
			continue
		}
		p := strings.ToLower(c.Object("logConfiguration").Object("options").String("Name"))
		if !slices.Contains(goPlugins, p) {
			continue
		}
		so := awsGoPluginDir + p + ".so"
		loaded := awsInit || slices.ContainsFunc(fb, func(a string) bool { return strings.HasSuffix(a, "/"+p+".so") })
		switch {
		case loaded:
		case img.Family == FamilyUpstream:
			l.add(SeverityError, "go-plugin-image", l.cp(ri, ".image"), "use the aws-for-fluent-bit image, or the core plugin (cloudwatch_logs, kinesis_firehose, kinesis_streams)",
				"container %q uses the Go plugin %q, which only the AWS for Fluent Bit image has", l.cs[i].String("name"), p)
		default:
			l.add(SeverityError, "go-plugin-missing", l.cp(ri, ".command"), fmt.Sprintf("add \"-e\", %q after \"--\"", so),
				"container %q uses the %q output, which Fluent Bit only loads with -e %s", l.cs[i].String("name"), p, so)
		}
	}
}

// lintECSEnv checks that variables the outputs refer to are set.
func (l *linter) lintECSEnv(launcherOpts []string, awsInit bool) {
	if awsInit || slices.Contains(launcherOpts, "--ecs-env") {
		return
	}
	for i, c := range l.cs {
		if c.Object("logConfiguration").String("logDriver") != "awsfirelens" {
			continue
		}
		for _, m := range c.Object("logConfiguration").Object("options").All() {
			v, _ := m.Value.(string)
			if !usesECSEnv(v) || isFargate(l.def) && onlyRegionVar(v) {
				continue
			}
			l.add(SeverityError, "ecs-env", l.cp(i, ".logConfiguration.options."+m.Key), fmt.Sprintf("add \"--ecs-env\" before \"--\" in %s's command", l.cs[l.routerIdx].String("name")),
				"%s %q refers to the task's metadata, which only fluent-launch --ecs-env (or the init image) sets; Fluent Bit expands it to nothing", m.Key, v)
		}
	}
}

// outputProps returns the -p properties of the first command-line
// output named plugin (keys lower-cased), and whether there is one.
func outputProps(fb []string, plugin string) (map[string]string, bool) {
	for i := 0; i+1 < len(fb); i++ {
		if fb[i] != "-o" || fb[i+1] != plugin {
			continue
		}
		props := map[string]string{}
		for j := i + 2; j+1 < len(fb); j += 2 {
			switch fb[j] {
			case "-p":
				k, v, _ := strings.Cut(fb[j+1], "=")
				props[strings.ToLower(k)] = v
			case "-m", "-t":
			default:
				return props, true
			}
		}
		return props, true
	}
	return nil, false
}

// lintReach checks that the log_router can reach the sidecar's receiver
// in the task's network mode, and that the forward copy can authenticate
// and have its acks matched.
func (l *linter) lintReach(img RouterImage, launcherOpts, fb []string) {
	if l.sidecarIdx < 0 {
		return
	}
	ri := l.routerIdx
	var host, addrEnv, defaultAddr string
	if p, ok := outputProps(fb, "syslog"); ok {
		host, addrEnv, defaultAddr = p["host"], "SIDEWATCH_SYSLOG_TCP_ADDR", "127.0.0.1:1514"
	}
	if p, ok := outputProps(fb, "forward"); ok {
		host, addrEnv, defaultAddr = p["host"], "SIDEWATCH_FORWARD_TCP_ADDR", firelens.DefaultForwardAddr
		switch {
		case p["unix_path"] != "":
			unixAcks, _ := ParseVersion(firelens.UnixAcksMinVersion)
			v := ClassifyImage(l.cs[ri].String("image")).FluentBit
			if label, err := parseStartLabel(l.cs[ri].Object("dockerLabels").String(StartLabel)); err == nil && v == "" {
				v = label.FluentBit
			}
			if v != "" && !fluentBitAtLeast(v, unixAcks) {
				l.add(SeverityError, "forward-unix-acks", l.cp(ri, ".command"), "use TCP with the shared key (`sidewatch taskdef inject` chooses it), or an image with Fluent Bit "+firelens.UnixAcksMinVersion+" or later",
					"Fluent Bit %s never matches forward acks over a unix socket, so it resends every chunk to the sidecar forever", v)
			} else if v == "" {
				l.add(SeverityWarning, "forward-unix-acks", l.cp(ri, ".image"), "pin a tag that tells the version, or pass --router-fluent-bit-version to inject",
					"the copy to the sidecar uses a unix socket, whose acks Fluent Bit matches only from %s; the version of %s is unknown", firelens.UnixAcksMinVersion, img.Ref)
			}
		case p["shared_key"] == "":
			l.add(SeverityError, "forward-key", l.cp(ri, ".command"), "inject again: the recipe sends the shared key the sidecar keeps in the shared volume",
				"the forward output to the sidecar has no Shared_Key, and the sidecar's TCP receiver accepts only senders that pass the shared-key handshake")
		case strings.HasPrefix(p["shared_key"], "${") && !slices.Contains(launcherOpts, "--key-file"):
			l.add(SeverityError, "forward-key", l.cp(ri, ".command"), "add \"--key-file\", \""+firelens.SharedKeyPath+"\" before \"--\"",
				"Shared_Key %s is set by fluent-launch --key-file, which the command lacks: Fluent Bit sends an empty key and the sidecar refuses it", p["shared_key"])
		}
	}
	mode := l.def.String("networkMode")
	if host == "" || mode != "bridge" && mode != "" {
		return
	}
	addr := envValue(l.cs[l.sidecarIdx], addrEnv)
	if addr == "" {
		addr = defaultAddr
	}
	switch {
	case strings.HasPrefix(host, "127.") || host == "localhost":
		l.add(SeverityError, "loopback-listener", l.cp(ri, ".command"), fmt.Sprintf("send to the sidecar by its link name (Host=%s), as `sidewatch taskdef inject --allow-bridge` does", l.opts.SidecarName),
			"in bridge mode the log_router's loopback is its own, so Host=%s never reaches the sidecar", host)
	case strings.HasPrefix(addr, "127.") || strings.HasPrefix(addr, "localhost:"):
		_, port, _ := net.SplitHostPort(addr)
		l.add(SeverityError, "loopback-listener", l.cp(l.sidecarIdx, ".environment"), fmt.Sprintf("set %s=0.0.0.0:%s", addrEnv, port),
			"in bridge mode the sidecar's receiver listens on %s, its own loopback, which the log_router cannot reach", addr)
	}
	if !strings.HasPrefix(host, "127.") && !slices.Contains(l.cs[ri].Array("links"), any(host)) {
		l.add(SeverityError, "link-missing", l.cp(ri, ".links"), fmt.Sprintf("add %q to links", host),
			"in bridge mode the log_router reaches %q only through a link", host)
	}
}

// lintDependencies checks how the log_router reaches the sidecar's volume.
func (l *linter) lintDependencies() {
	if l.sidecarIdx < 0 {
		return
	}
	ri, r := l.routerIdx, l.cs[l.routerIdx]
	name := l.opts.SidecarName
	add := func(sev Severity, check, rest, fix, format string, args ...any) {
		l.add(sev, check, l.cp(ri, rest), fix, format, args...)
	}
	var dep *Object
	for _, e := range r.Array("dependsOn") {
		if o, ok := e.(*Object); ok && o.String("containerName") == name {
			dep = o
		}
	}
	_, sidecarHealth := l.cs[l.sidecarIdx].Get("healthCheck")
	switch {
	case dep == nil:
		add(SeverityError, "depends-on", ".dependsOn", fmt.Sprintf("add {\"containerName\": %q, \"condition\": \"HEALTHY\"} (START without a healthCheck)", name),
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
		if o, ok := e.(*Object); ok && o.String("sourceContainer") == name {
			vf = o
		}
	}
	if vf == nil {
		add(SeverityError, "volumes-from", ".volumesFrom", fmt.Sprintf("add {\"sourceContainer\": %q, \"readOnly\": false}", name),
			"the log_router does not mount the sidecar's volume, so fluent-launch is missing")
	} else if ro, _ := vf.Bool("readOnly"); ro {
		add(SeverityError, "volumes-from", ".volumesFrom", "set readOnly to false",
			"the sidecar's volume is read-only, but fluent-launch writes the patched config there")
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

func envValue(c *Object, name string) string {
	for _, e := range c.Array("environment") {
		if o, ok := e.(*Object); ok && o.String("name") == name {
			return o.String("value")
		}
	}
	return ""
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
