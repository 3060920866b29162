package taskdefs

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sidewatch/sidewatch/firelens"
)

// Defaults for the containers Inject adds.
const (
	DefaultSidecarName  = "sidewatch"
	DefaultSidecarImage = "public.ecr.aws/sidewatch/sidewatch:latest"
	DefaultRouterName   = "log_router"
	DefaultRouterImage  = "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable"

	// HealthAddr is the sidecar's health listener that its healthCheck
	// queries with `sidewatch health`.
	HealthAddr = "127.0.0.1:9901"
	// IgnoreLabel in an app container's dockerLabels, set to "true", opts
	// it out.
	IgnoreLabel = "sidewatch.ignore"

	// Reservations: see docs/taskdef.md for how they were sized.
	SidecarCPU               = 64
	SidecarMemoryReservation = 64
	RouterMemoryReservation  = 50
	// Hard limits, set only where ECS demands one: EC2 tasks without
	// task-level memory.
	SidecarMemoryLimit = 256
	RouterMemoryLimit  = 256
)

// healthCommand is the sidecar's ECS healthCheck.
var healthCommand = []string{"CMD", "/usr/local/bin/sidewatch", "health"}

// goPlugins are the AWS for Fluent Bit image's Go output plugins, which
// Fluent Bit only knows after `-e /fluent-bit/<name>.so`.
var goPlugins = []string{"cloudwatch", "firehose", "kinesis"}

// Options says what Inject adds. The zero value is not useful; start from
// DefaultOptions.
type Options struct {
	SidecarName string
	// SidecarImage is the image of a new sidecar; empty keeps an existing
	// sidecar's image (and means DefaultSidecarImage for a new one).
	SidecarImage     string
	SidecarEssential bool
	// SidecarEnv is added to (or replaced in) the sidecar's environment,
	// as NAME=VALUE.
	SidecarEnv []string
	// RouterName names a new log_router; an existing FireLens container is
	// reused whatever its name.
	RouterName string
	// RouterImage is the image of a new log_router; empty keeps an
	// existing one's (and means DefaultRouterImage for a new one).
	RouterImage string
	// Ignore lists app containers to leave alone.
	Ignore []string
	// AllowBridge permits networkMode bridge and host (EC2 only).
	AllowBridge bool
	// CloudWatchPlugin is the Fluent Bit output that replaces awslogs:
	// "cloudwatch" (the AWS image's Go plugin), "cloudwatch_logs" (the
	// core plugin, in every image) or "auto"/"" (cloudwatch with the AWS
	// image, else cloudwatch_logs).
	CloudWatchPlugin string
	// LogGroup and LogRegion send the new sidecar's and log_router's own
	// output (the sidecar's events, with the stdout sink) to CloudWatch
	// with awslogs. Empty: reuse the first app container's awslogs
	// options, if any.
	LogGroup, LogRegion string
}

// DefaultOptions returns the options of `sidewatch taskdef inject` with no
// flags.
func DefaultOptions() Options {
	return Options{SidecarName: DefaultSidecarName, SidecarEssential: true, RouterName: DefaultRouterName}
}

// Result is a patched task definition and what the user must know about it.
type Result struct {
	Def *Object
	// Warnings are things inject did or could not do that change how the
	// task behaves (a role it now needs, an option it dropped).
	Warnings []string
}

// Inject adds the sidewatch sidecar and a FireLens log_router that copies
// every container's logs to it, and switches every app container to the
// awsfirelens log driver. The input is not modified. Inject is idempotent:
// injecting its own output returns an equal document.
func Inject(in *Object, opts Options) (Result, error) {
	if opts.SidecarName == "" || opts.RouterName == "" {
		return Result{}, errors.New("sidecar and log_router names must not be empty")
	}
	if opts.LogGroup != "" && opts.LogRegion == "" {
		return Result{}, errors.New("a log group for the sidecar needs its region too")
	}
	j := &injection{def: clone(in).(*Object), opts: opts, usedPlugins: map[string]bool{}}
	steps := []func() error{j.checkNetworkMode, j.findContainers, j.migrateApps, j.addSidecar, j.addRouter}
	for _, step := range steps {
		if err := step(); err != nil {
			return Result{}, err
		}
	}
	j.def.Set("containerDefinitions", objs(j.cs))
	if err := checkResources(j.def); err != nil {
		return Result{}, err
	}
	return Result{Def: j.def, Warnings: j.warnings}, nil
}

// injection is the state of one Inject call.
type injection struct {
	def      *Object
	opts     Options
	warnings []string

	mode                  string
	cs                    []*Object
	sidecarIdx, routerIdx int    // -1: to be added
	routerImage           string // the image the log_router will have
	// ownLogs is the awslogs configuration for the new containers' own
	// output, nil for none.
	ownLogs     *Object
	usedPlugins map[string]bool // output plugins of app containers, lower case
	cloudwatch  bool            // an app container sends to CloudWatch
}

func (j *injection) warn(format string, args ...any) {
	j.warnings = append(j.warnings, fmt.Sprintf(format, args...))
}

func (j *injection) checkNetworkMode() error {
	j.mode = j.def.String("networkMode")
	switch j.mode {
	case "awsvpc":
		return nil
	case "bridge", "host", "":
		if j.opts.AllowBridge {
			return nil
		}
		shown := fmt.Sprintf("%q", j.mode)
		if j.mode == "" {
			shown = "missing (bridge on EC2)"
		}
		return fmt.Errorf("networkMode: is %s, want \"awsvpc\": Fargate needs it, and only in awsvpc do the sidecar and the log_router share the task's network namespace (pass --allow-bridge for an EC2 task)", shown)
	}
	return fmt.Errorf("networkMode: %q leaves the log_router no network to reach the sidecar", j.mode)
}

// findContainers locates an existing sidecar and FireLens container and
// settles the log_router's image.
func (j *injection) findContainers() error {
	j.cs = containers(j.def)
	j.sidecarIdx = slices.IndexFunc(j.cs, func(c *Object) bool { return c.String("name") == j.opts.SidecarName })
	j.routerIdx = -1
	for i, c := range j.cs {
		if _, ok := c.Get("firelensConfiguration"); !ok {
			continue
		}
		if j.routerIdx >= 0 {
			return fmt.Errorf("containerDefinitions[%d].firelensConfiguration: a second FireLens container (%q and %q); ECS allows one", i, j.cs[j.routerIdx].String("name"), c.String("name"))
		}
		j.routerIdx = i
	}
	if j.sidecarIdx >= 0 && j.sidecarIdx == j.routerIdx {
		return fmt.Errorf("containerDefinitions[%d]: %q is the FireLens container; the sidecar needs its own", j.sidecarIdx, j.opts.SidecarName)
	}
	if j.routerIdx < 0 && slices.ContainsFunc(j.cs, func(c *Object) bool { return c.String("name") == j.opts.RouterName }) {
		return fmt.Errorf("containerDefinitions: a container is already named %q but has no firelensConfiguration; rename it or pass another --router-name", j.opts.RouterName)
	}
	j.routerImage = j.opts.RouterImage
	if j.routerIdx >= 0 && j.routerImage == "" {
		j.routerImage = j.cs[j.routerIdx].String("image")
	}
	if j.routerImage == "" {
		j.routerImage = DefaultRouterImage
	}
	return nil
}

// migrateApps switches every app container (all but the sidecar, the
// router and opt-outs) to awsfirelens.
func (j *injection) migrateApps() error {
	awsImage := isAWSImage(j.routerImage)
	cwPlugin := j.opts.CloudWatchPlugin
	switch cwPlugin {
	case "", "auto":
		cwPlugin = "cloudwatch_logs"
		if awsImage {
			cwPlugin = "cloudwatch"
		}
	case "cloudwatch":
		if !awsImage {
			return fmt.Errorf("CloudWatch plugin cloudwatch: a Go plugin of the AWS for Fluent Bit image, absent from %s; use cloudwatch_logs", j.routerImage)
		}
	case "cloudwatch_logs":
	default:
		return fmt.Errorf("CloudWatch plugin %q: want auto, cloudwatch or cloudwatch_logs", cwPlugin)
	}
	for i, c := range j.cs {
		if i == j.sidecarIdx || i == j.routerIdx || ignored(c, j.opts.Ignore) {
			continue
		}
		name := c.String("name")
		path := fmt.Sprintf("containerDefinitions[%d]", i)
		lc := c.Object("logConfiguration")
		if lc == nil {
			c.Set("logConfiguration", obj("logDriver", "awsfirelens"))
			continue
		}
		switch driver := lc.String("logDriver"); driver {
		case "awsfirelens":
			o := lc.Object("options")
			if o == nil {
				continue
			}
			if err := checkOutput(path, o, awsImage, j.routerImage); err != nil {
				return err
			}
			plugin := strings.ToLower(o.String("Name"))
			j.usedPlugins[plugin] = true
			j.cloudwatch = j.cloudwatch || plugin == "cloudwatch" || plugin == "cloudwatch_logs"
		case "awslogs":
			if j.ownLogs == nil {
				j.ownLogs = clone(lc).(*Object)
			}
			out, dropped := translateAwslogs(lc.Object("options"), cwPlugin)
			for _, d := range dropped {
				j.warn("%s.logConfiguration.options.%s (container %q): no FireLens equivalent, dropped", path, d, name)
			}
			if out.String("log_group_name") == "" {
				return fmt.Errorf("%s.logConfiguration.options.awslogs-group: missing, so its CloudWatch group is unknown", path)
			}
			lc.Set("logDriver", "awsfirelens")
			lc.Set("options", out)
			j.usedPlugins[out.String("Name")] = true
			j.cloudwatch = true
		default:
			return fmt.Errorf("%s.logConfiguration.logDriver: container %q logs with %q, which inject cannot translate to FireLens; switch it to awsfirelens yourself or opt it out (--ignore %s or dockerLabels %s=true)", path, name, driver, name, IgnoreLabel)
		}
	}
	if j.opts.LogGroup != "" {
		j.ownLogs = obj("logDriver", "awslogs", "options", obj(
			"awslogs-group", j.opts.LogGroup,
			"awslogs-region", j.opts.LogRegion,
			"awslogs-stream-prefix", "sidewatch",
			"awslogs-create-group", "true",
		))
	}
	if j.ownLogs != nil && j.def.String("executionRoleArn") == "" {
		j.warn("executionRoleArn: missing; the sidecar's and log_router's awslogs output needs an execution role allowing logs:CreateLogStream and logs:PutLogEvents (and logs:CreateLogGroup)")
	}
	if j.cloudwatch && j.def.String("taskRoleArn") == "" {
		j.warn("taskRoleArn: missing; CloudWatch delivery now comes from the log_router and needs a task role allowing logs:CreateLogGroup, logs:CreateLogStream, logs:DescribeLogStreams and logs:PutLogEvents")
	}
	return nil
}

// addSidecar adds the sidecar, or patches the existing one.
func (j *injection) addSidecar() error {
	if j.sidecarIdx < 0 {
		image := j.opts.SidecarImage
		if image == "" {
			image = DefaultSidecarImage
		}
		sc := obj(
			"name", j.opts.SidecarName,
			"image", image,
			"essential", j.opts.SidecarEssential,
			"cpu", num(SidecarCPU),
			"memoryReservation", num(SidecarMemoryReservation),
			"environment", []any{},
			// Docker runs the first check one interval after start, and
			// the log_router (so every app container) waits for it: use
			// ECS's minimum interval. The timeout exceeds `sidewatch
			// health`'s own 3s.
			"healthCheck", obj(
				"command", strs(healthCommand),
				"interval", num(5),
				"timeout", num(4),
				"retries", num(3),
				"startPeriod", num(10),
			),
		)
		if needsHardLimit(j.def) {
			sc.Set("memory", num(SidecarMemoryLimit))
		}
		if j.ownLogs != nil {
			sc.Set("logConfiguration", clone(j.ownLogs))
		} else {
			j.warn("containerDefinitions[%d]: the new sidecar has no logConfiguration, so its events on stdout are lost; pass a log group for it, or configure another sink", len(j.cs))
		}
		j.cs = append(j.cs, sc)
		j.sidecarIdx = len(j.cs) - 1
	} else if j.opts.SidecarImage != "" {
		j.cs[j.sidecarIdx].Set("image", j.opts.SidecarImage)
	}
	sc := j.cs[j.sidecarIdx]
	if sc.Object("logConfiguration").String("logDriver") == "awsfirelens" {
		return fmt.Errorf("containerDefinitions[%d].logConfiguration.logDriver: the sidecar must not log through FireLens: its events would be copied back to it", j.sidecarIdx)
	}
	sc.Set("essential", j.opts.SidecarEssential)
	if _, ok := sc.Get("healthCheck"); ok {
		setEnv(sc, "SIDEWATCH_HEALTH_ADDR", HealthAddr)
	}
	for _, kv := range j.opts.SidecarEnv {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("sidecar environment %q: want NAME=VALUE", kv)
		}
		setEnv(sc, k, v)
	}
	return nil
}

// addRouter adds the log_router, or takes over the existing FireLens
// container, and points it at fluent-launch and the sidecar.
func (j *injection) addRouter() error {
	var router *Object
	if j.routerIdx >= 0 {
		router = j.cs[j.routerIdx]
		if err := j.checkRouter(router); err != nil {
			return err
		}
		if j.opts.RouterImage != "" {
			router.Set("image", j.opts.RouterImage)
		}
	} else {
		router = obj(
			"name", j.opts.RouterName,
			"image", j.routerImage,
			"essential", true,
			"memoryReservation", num(RouterMemoryReservation),
			"firelensConfiguration", obj("type", "fluentbit"),
		)
		if needsHardLimit(j.def) {
			router.Set("memory", num(RouterMemoryLimit))
		}
		if j.ownLogs != nil {
			router.Set("logConfiguration", clone(j.ownLogs))
		}
		j.cs = append(j.cs, router)
	}
	if _, ok := router.Get("memoryReservation"); !ok {
		if _, ok := router.Get("memory"); !ok {
			router.Set("memoryReservation", num(RouterMemoryReservation))
		}
	}
	syslog := firelens.DefaultSyslogOutput()
	if j.mode == "bridge" || j.mode == "" {
		// Containers do not share a loopback: reach the sidecar by link.
		syslog.Host = j.opts.SidecarName
		addUnique(router, "links", j.opts.SidecarName)
		j.warn("networkMode: bridge; the log_router reaches the sidecar at %s:%d through links, so the sidecar's syslog receiver must listen beyond 127.0.0.1, and capture sees only the sidecar's own interface", j.opts.SidecarName, syslog.Port)
	}
	var plugins []string
	if isAWSImage(j.routerImage) {
		for _, p := range goPlugins {
			if j.usedPlugins[p] {
				plugins = append(plugins, "/fluent-bit/"+p+".so")
			}
		}
	}
	router.Set("entryPoint", strs([]string{firelens.LauncherPath}))
	router.Set("command", strs(firelens.LauncherCommand(syslog, plugins...)))
	setVolumesFrom(router, j.opts.SidecarName)
	condition := "START"
	if _, ok := j.cs[j.sidecarIdx].Get("healthCheck"); ok {
		condition = "HEALTHY"
	}
	setDependsOn(router, j.opts.SidecarName, condition)
	return nil
}

// checkRouter refuses an existing FireLens container whose setup inject
// would have to throw away.
func (j *injection) checkRouter(router *Object) error {
	path := fmt.Sprintf("containerDefinitions[%d]", j.routerIdx)
	if t := router.Object("firelensConfiguration").String("type"); t != "fluentbit" {
		return fmt.Errorf("%s.firelensConfiguration.type: is %q, want \"fluentbit\": fluent-launch patches Fluent Bit configs only", path, t)
	}
	ep := router.Array("entryPoint")
	ours := len(ep) == 1 && ep[0] == firelens.LauncherPath
	if len(ep) > 0 && !ours {
		return fmt.Errorf("%s.entryPoint: is %v; inject must replace it with %s, which would drop what it does (remove it to accept)", path, ep, firelens.LauncherPath)
	}
	if cmd := router.Array("command"); len(cmd) > 0 && !ours {
		return fmt.Errorf("%s.command: is %v; inject must replace it with fluent-launch's arguments, which would drop what it does (remove it to accept)", path, cmd)
	}
	if strings.Contains(j.routerImage, ":init") {
		j.warn("%s.image: the init image's entrypoint is replaced by fluent-launch, so its aws_fluent_bit_init_* files are not loaded; use the config-file-type option instead", path)
	}
	return nil
}

// needsHardLimit reports whether new containers need a hard memory limit:
// ECS requires one per container for EC2 tasks without task-level memory.
func needsHardLimit(def *Object) bool {
	if def.String("memory") != "" {
		return false
	}
	return slices.Contains(def.Array("requiresCompatibilities"), any("EC2")) || def.String("networkMode") != "awsvpc"
}

func isAWSImage(image string) bool { return strings.Contains(image, "aws-for-fluent-bit") }

// ignored reports whether an app container opted out.
func ignored(c *Object, ignore []string) bool {
	if slices.Contains(ignore, c.String("name")) {
		return true
	}
	return strings.EqualFold(c.Object("dockerLabels").String(IgnoreLabel), "true")
}

// checkOutput refuses an awsfirelens output the router image can't run.
func checkOutput(path string, o *Object, awsImage bool, image string) error {
	name := o.String("Name")
	if name == "" {
		for _, m := range o.Members {
			if strings.EqualFold(m.Key, "name") {
				return fmt.Errorf("%s.logConfiguration.options.%s: FireLens needs the key spelled \"Name\"", path, m.Key)
			}
		}
		return fmt.Errorf("%s.logConfiguration.options.Name: missing; FireLens rejects options without an output plugin name", path)
	}
	if !awsImage && slices.Contains(goPlugins, strings.ToLower(name)) {
		return fmt.Errorf("%s.logConfiguration.options.Name: %q is a Go plugin of the AWS for Fluent Bit image, absent from %s; use the core plugin (cloudwatch_logs, kinesis_firehose, kinesis_streams) or the AWS image", path, name, image)
	}
	return nil
}

// awslogsOptions maps awslogs options to Fluent Bit CloudWatch ones
// (fargate.md §7).
var awslogsOptions = map[string]string{
	"awslogs-group":         "log_group_name",
	"awslogs-region":        "region",
	"awslogs-stream-prefix": "log_stream_prefix",
	"awslogs-create-group":  "auto_create_group",
	"awslogs-endpoint":      "endpoint",
}

// translateAwslogs returns the FireLens CloudWatch output replacing awslogs
// options, and the options it could not carry over.
func translateAwslogs(in *Object, plugin string) (*Object, []string) {
	out := obj("Name", plugin)
	var dropped []string
	order := []string{"awslogs-region", "awslogs-group", "awslogs-stream-prefix", "awslogs-create-group", "awslogs-endpoint"}
	if in != nil {
		for _, m := range in.Members {
			if _, ok := awslogsOptions[m.Key]; !ok {
				dropped = append(dropped, m.Key)
			}
		}
	}
	for _, k := range order {
		v := in.String(k)
		if v == "" {
			continue
		}
		if k == "awslogs-stream-prefix" && !strings.HasSuffix(v, "/") {
			v += "/" // keeps awslogs' prefix/... hierarchy
		}
		out.Set(awslogsOptions[k], v)
	}
	if out.String("log_stream_prefix") == "" {
		out.Set("log_stream_prefix", "firelens/")
	}
	out.Set("log_key", "log")
	return out, dropped
}

// setEntry finds the object in c[list] whose idKey is id and sets key to
// value in it, or appends {idKey: id, key: value}: one entry per id, so
// injecting twice changes nothing.
func setEntry(c *Object, list, idKey, id, key string, value any) {
	entries := c.Array(list)
	for _, e := range entries {
		if o, ok := e.(*Object); ok && o.String(idKey) == id {
			o.Set(key, value)
			return
		}
	}
	c.Set(list, append(entries, obj(idKey, id, key, value)))
}

func setEnv(c *Object, name, value string) { setEntry(c, "environment", "name", name, "value", value) }

func addUnique(c *Object, key, value string) {
	list := c.Array(key)
	if !slices.Contains(list, any(value)) {
		c.Set(key, append(list, value))
	}
}

// setVolumesFrom mounts the sidecar's volumes read-write: fluent-launch
// writes the patched config beside itself.
func setVolumesFrom(c *Object, source string) {
	setEntry(c, "volumesFrom", "sourceContainer", source, "readOnly", false)
}

func setDependsOn(c *Object, container, condition string) {
	setEntry(c, "dependsOn", "containerName", container, "condition", condition)
}

func objs(cs []*Object) []any {
	a := make([]any, len(cs))
	for i, c := range cs {
		a[i] = c
	}
	return a
}

// reservation is what ECS counts against task memory for a container.
func reservation(c *Object) int64 {
	if n, ok := c.Int("memoryReservation"); ok {
		return n
	}
	n, _ := c.Int("memory")
	return n
}

// checkResources refuses a task whose memory or cpu can't hold its
// containers, showing the sum.
func checkResources(def *Object) error {
	cs := containers(def)
	if s := def.String("memory"); s != "" {
		total, err := parseMemory(s)
		if err != nil {
			return fmt.Errorf("memory: %w", err)
		}
		var sum int64
		var terms []string
		for _, c := range cs {
			n := reservation(c)
			sum += n
			terms = append(terms, fmt.Sprintf("%d (%s)", n, c.String("name")))
		}
		if sum > total {
			return fmt.Errorf("memory: task memory %d MiB is below the containers' reservations %s = %d MiB; raise memory to a valid size of at least %d MiB", total, strings.Join(terms, " + "), sum, sum)
		}
	}
	if s := def.String("cpu"); s != "" {
		total, err := parseCPU(s)
		if err != nil {
			return fmt.Errorf("cpu: %w", err)
		}
		var sum int64
		var terms []string
		for _, c := range cs {
			n, _ := c.Int("cpu")
			sum += n
			terms = append(terms, fmt.Sprintf("%d (%s)", n, c.String("name")))
		}
		if sum > total {
			return fmt.Errorf("cpu: task cpu %d units is below the containers' cpu %s = %d units; raise cpu", total, strings.Join(terms, " + "), sum)
		}
	}
	return nil
}
