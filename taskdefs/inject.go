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

	// bridgeSyslogAddr is the sidecar's syslog listener in bridge mode,
	// where the log_router reaches it over a link, not loopback.
	bridgeSyslogAddr = "0.0.0.0:1514"
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
	// RouterImageLike names a known image that the router's image starts
	// like (a custom build FROM it that keeps its CMD).
	RouterImageLike string
	// RouterStartCommand is what the router's image runs (its ENTRYPOINT
	// and CMD), for an image sidewatch does not know.
	RouterStartCommand []string
	// RouterPlugins are -e shared objects the router must load besides
	// what its start loads.
	RouterPlugins []string
	// RouterFluentBit is the Fluent Bit version of the router's image,
	// when sidewatch cannot tell it from the tag.
	RouterFluentBit string
	// Ignore lists app containers to leave alone.
	Ignore []string
	// AllowBridge permits networkMode bridge (EC2 only).
	AllowBridge bool
	// AllowHostNetwork permits networkMode host (EC2 only), with its
	// consequences: one such task per instance, capture of the whole
	// instance.
	AllowHostNetwork bool
	// CloudWatchPlugin is the Fluent Bit output for CloudWatch Logs:
	// "cloudwatch" (the AWS image's Go plugin), "cloudwatch_logs" (the
	// core plugin, in every image) or "auto"/"" (cloudwatch where the
	// router loads it, else cloudwatch_logs). An explicit value converts
	// existing CloudWatch outputs too.
	CloudWatchPlugin string
	// Recipe is how the log_router copies records to the sidecar:
	// RecipeForward ("" means it) or RecipeSyslog.
	Recipe string
	// LogGroup and LogRegion send the sidecar's and the log_router's own
	// output (the sidecar's events, with the stdout sink) to CloudWatch
	// with awslogs. Empty: reuse an existing destination.
	LogGroup, LogRegion string
	// Sinks configure the sidecar's sinks (SIDEWATCH_SINK and the AWS
	// sinks' variables); nil keeps the sidecar's sink configuration.
	Sinks *SinkOptions
	// TaskRegion is the task's region when known (from its task
	// definition's ARN): the IAM statements' ARNs use it where the
	// region is the task's. Empty: * in the ARNs.
	TaskRegion string
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
	// task behaves (an option it mapped approximately, a network mode's
	// consequences).
	Warnings []string
	// IAM is what the task role needs for the log_router's CloudWatch
	// Logs outputs and the sidecar's AWS sinks; nil when neither writes
	// to AWS.
	IAM *IAMNeeds
	// Router describes the log_router inject configured.
	Router RouterInfo
}

// RouterInfo is what inject decided about the log_router.
type RouterInfo struct {
	Image     RouterImage
	Start     Start
	FluentBit string // "" when unknown
	Recipe    string // RecipeForward or RecipeSyslog
}

// Inject adds the sidewatch sidecar and a FireLens log_router that copies
// every container's logs to it, and switches every app container to the
// awsfirelens log driver, keeping each existing log destination working.
// It refuses, with what to do, rather than write a task definition that
// registers but breaks logging. The input is not modified. Inject is
// idempotent: injecting its own output returns an equal document.
func Inject(in *Object, opts Options) (Result, error) {
	if opts.SidecarName == "" || opts.RouterName == "" {
		return Result{}, errors.New("sidecar and log_router names must not be empty")
	}
	if opts.LogGroup != "" && opts.LogRegion == "" {
		return Result{}, errors.New("a log group for the sidecar needs its region too")
	}
	switch opts.CloudWatchPlugin {
	case "", "auto", PluginGoCloudWatch, PluginCloudWatchLogs:
	default:
		return Result{}, fmt.Errorf("CloudWatch plugin %q: want auto, cloudwatch or cloudwatch_logs", opts.CloudWatchPlugin)
	}
	j := &injection{def: clone(in).(*Object), opts: opts, multiline: map[string]string{}}
	steps := []func() error{
		j.checkInput, j.checkPlatform, j.checkNetworkMode, j.findContainers, j.resolveRouter,
		j.chooseRecipe, j.migrateApps, j.resolveOwnLogs, j.addSidecar, j.addRouter, j.checkOutput,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return Result{}, err
		}
	}
	iam := newIAMNeeds(j.def, j.migrated, j.sinks, opts.TaskRegion)
	if iam != nil {
		iam.SinksChanged = !slices.Equal(sinkEnv(j.sidecarBefore), sinkEnv(j.cs[j.sidecarIdx]))
	}
	return Result{Def: j.def, Warnings: j.warnings, IAM: iam, Router: RouterInfo{Image: j.image, Start: j.start, FluentBit: j.fluentBit, Recipe: j.recipe.name}}, nil
}

// injection is the state of one Inject call.
type injection struct {
	def      *Object
	opts     Options
	warnings []string

	mode                  string
	cs                    []*Object
	sidecarIdx, routerIdx int // -1: to be added
	image                 RouterImage
	start                 Start
	startLabel            bool   // record start in the router's StartLabel
	fluentBit             string // the router's Fluent Bit version, "" unknown
	cwPlugin              string // plugin for migrated containers
	// ownLogs is the awslogs configuration of the sidecar's and the
	// log_router's own output, nil for none.
	ownLogs   *Object
	multiline map[string]string // container -> Onigmo start regex
	migrated  []string
	ecsEnv    bool // an output needs fluent-launch --ecs-env
	recipe    copyRecipe
	// sidecarBefore is the sidecar as given (nil: added), sinks its AWS
	// sinks' configuration after inject (nil: none).
	sidecarBefore *Object
	sinks         *sinkConfig
}

func (j *injection) warn(format string, args ...any) {
	j.warnings = append(j.warnings, fmt.Sprintf(format, args...))
}

func (j *injection) path(i int, rest string) string {
	return fmt.Sprintf("containerDefinitions[%d]%s", i, rest)
}

// checkInput refuses what RegisterTaskDefinition would refuse anyway.
func (j *injection) checkInput() error {
	var errs []string
	for _, p := range APIProblems(j.def) {
		if p.Unknown {
			j.warn("%s", p)
			continue
		}
		errs = append(errs, p.String())
	}
	if len(errs) > 0 {
		return fmt.Errorf("ECS would not register this task definition: %s", strings.Join(errs, "; "))
	}
	return nil
}

// checkPlatform refuses Windows tasks: FireLens is Linux-only.
func (j *injection) checkPlatform() error {
	if os := j.def.Object("runtimePlatform").String("operatingSystemFamily"); strings.HasPrefix(strings.ToUpper(os), "WINDOWS") {
		return fmt.Errorf("runtimePlatform.operatingSystemFamily: %s: FireLens (the log_router) and the sidewatch sidecar run on Linux only; sidewatch cannot protect a Windows task", os)
	}
	return nil
}

func (j *injection) checkNetworkMode() error {
	j.mode = j.def.String("networkMode")
	switch j.mode {
	case "awsvpc":
		return nil
	case "bridge", "":
		if isFargate(j.def) {
			return fmt.Errorf("networkMode: Fargate tasks need awsvpc")
		}
		if !j.opts.AllowBridge {
			shown := fmt.Sprintf("%q", j.mode)
			if j.mode == "" {
				shown = "missing (bridge on EC2)"
			}
			return fmt.Errorf("networkMode: is %s; in bridge mode every container has its own network namespace, so the sidecar captures only its own traffic and the log_router reaches it over a link. Use awsvpc, or pass --allow-bridge to accept that", shown)
		}
		return nil
	case "host":
		if !j.opts.AllowHostNetwork {
			return fmt.Errorf("networkMode: is \"host\": the sidecar would bind %s on the instance itself, so a second such task on the same instance cannot start its sidecar (and stops, the sidecar being essential), and capture would record every task's and the instance's traffic. Use awsvpc, or pass --allow-host-network to accept that (one task per instance)", hostPorts)
		}
		return nil
	}
	return fmt.Errorf("networkMode: %q leaves the log_router no network to reach the sidecar", j.mode)
}

// findContainers locates an existing sidecar and FireLens container.
func (j *injection) findContainers() error {
	j.cs = containers(j.def)
	j.sidecarIdx = slices.IndexFunc(j.cs, func(c *Object) bool { return c.String("name") == j.opts.SidecarName })
	j.routerIdx = -1
	for i, c := range j.cs {
		if _, ok := c.Get("firelensConfiguration"); !ok {
			continue
		}
		if j.routerIdx >= 0 {
			return fmt.Errorf("%s: a second FireLens container (%q and %q); ECS allows one", j.path(i, ".firelensConfiguration"), j.cs[j.routerIdx].String("name"), c.String("name"))
		}
		j.routerIdx = i
	}
	if j.sidecarIdx >= 0 && j.sidecarIdx == j.routerIdx {
		return fmt.Errorf("%s: %q is the FireLens container; the sidecar needs its own", j.path(j.sidecarIdx, ""), j.opts.SidecarName)
	}
	if j.routerIdx < 0 && slices.ContainsFunc(j.cs, func(c *Object) bool { return c.String("name") == j.opts.RouterName }) {
		return fmt.Errorf("containerDefinitions: a container is already named %q but has no firelensConfiguration; rename it or pass another --router-name", j.opts.RouterName)
	}
	if j.routerIdx >= 0 {
		if t := j.cs[j.routerIdx].Object("firelensConfiguration").String("type"); t != "fluentbit" {
			return fmt.Errorf("%s: is %q; sidewatch's log_router recipe runs in Fluent Bit (fluent-launch patches Fluent Bit's config and the copy to the sidecar is a Fluent Bit output), so this %s router cannot carry it: switch it to type fluentbit with a Fluent Bit image, translating your awsfirelens options from Fluentd's (@type) to Fluent Bit's (Name)", j.path(j.routerIdx, ".firelensConfiguration.type"), t, t)
		}
	}
	added := 0
	if j.sidecarIdx < 0 {
		added++
	}
	if j.routerIdx < 0 {
		added++
	}
	if n := len(j.cs) + added; n > MaxContainers {
		return fmt.Errorf("containerDefinitions: the task would have %d containers with the sidecar and the log_router; ECS allows %d", n, MaxContainers)
	}
	return nil
}

// runsLauncher reports whether a router's entryPoint is fluent-launch.
func runsLauncher(c *Object) bool {
	ep := c.Array("entryPoint")
	return len(ep) == 1 && ep[0] == firelens.LauncherPath
}

func strList(a []any) []string {
	var out []string
	for _, e := range a {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

// resolveRouter settles the log_router's image, how it starts Fluent Bit
// (which fluent-launch must reproduce) and its Fluent Bit version.
func (j *injection) resolveRouter() error {
	var router *Object
	at := "the new log_router's image"
	ref := j.opts.RouterImage
	if j.routerIdx >= 0 {
		router = j.cs[j.routerIdx]
		at = j.path(j.routerIdx, ".image")
		if ref == "" {
			ref = router.String("image")
		}
	}
	if ref == "" {
		ref = DefaultRouterImage
	}
	img := ClassifyImage(ref)
	if img.Windows {
		return fmt.Errorf("%s: %s is a Windows image; FireLens runs on Linux only", at, ref)
	}
	if like := j.opts.RouterImageLike; like != "" {
		l := ClassifyImage(like)
		if l.Family == FamilyUnknown || l.Windows {
			return fmt.Errorf("--router-image-like %s: not an image sidewatch knows (aws-for-fluent-bit or fluent/fluent-bit, Linux)", like)
		}
		l.Ref = ref
		img = l
		j.startLabel = true // the image itself stays unknown
	}
	j.image = img

	var err error
	switch {
	case len(j.opts.RouterStartCommand) > 0:
		j.start, err = interpretStart(img, j.opts.RouterStartCommand)
		if err != nil {
			return fmt.Errorf("--router-start-command %s: %w", shellQuoteArgv(j.opts.RouterStartCommand), err)
		}
		j.start.Source, j.startLabel = "--router-start-command", true
	case router != nil && !runsLauncher(router) && (len(router.Array("entryPoint")) > 0 || len(router.Array("command")) > 0):
		argv, known := effectiveArgv(img, strList(router.Array("entryPoint")), strList(router.Array("command")))
		if !known {
			return j.unknownStart(at, ref, &errUnknownStart{"its command runs under the image's ENTRYPOINT, which sidewatch does not know"})
		}
		if j.start, err = interpretStart(img, argv); err != nil {
			field := ".command"
			if len(router.Array("entryPoint")) > 0 {
				field = ".entryPoint"
			}
			return j.unknownStart(j.path(j.routerIdx, field), ref, err)
		}
		j.start.Source, j.startLabel = "its entryPoint and command", true
	case router != nil && runsLauncher(router) && router.Object("dockerLabels").String(StartLabel) != "" && j.opts.RouterImage == "" && j.opts.RouterImageLike == "":
		label := router.Object("dockerLabels").String(StartLabel)
		if j.start, err = parseStartLabel(label); err != nil {
			return fmt.Errorf("%s: %q: %v (remove the label and describe the start with --router-start-command)", j.path(j.routerIdx, ".dockerLabels."+StartLabel), label, err)
		}
		j.start.Source, j.startLabel = "the label "+StartLabel, true
		if img.FluentBit == "" {
			img.FluentBit = j.start.FluentBit
		}
	case !img.Known && len(j.opts.RouterPlugins) > 0:
		// Plain Fluent Bit on the FireLens config with the plugins given.
		j.start = Start{Run: FluentBitPath, Source: "--router-plugins"}
		j.startLabel = true
	default:
		if !img.Known {
			return j.unknownStart(at, ref, &errUnknownStart{"it is not an image sidewatch knows"})
		}
		if j.start, err = interpretStart(img, slices.Concat(img.Entrypoint, img.Cmd)); err != nil {
			return fmt.Errorf("%s: %w", at, err) // the model's own starts always parse
		}
		j.start.Source = "the image " + ref
	}
	if len(j.opts.RouterPlugins) > 0 {
		if j.start.AWSInit {
			return errors.New("--router-plugins: the aws-for-fluent-bit init image chooses Fluent Bit's plugins itself")
		}
		before := len(j.start.Args)
		j.start.addPlugins(j.opts.RouterPlugins)
		j.startLabel = j.startLabel || len(j.start.Args) != before
	}
	if router != nil && runsLauncher(router) {
		// Multiline parsers of containers an earlier inject migrated.
		cmd := strList(router.Array("command"))
		for i := 0; i+2 < len(cmd) && cmd[i] != "--"; i++ {
			if cmd[i] == "--multiline-parser" {
				if c, ok := strings.CutPrefix(cmd[i+1], multilineParserName("")); ok {
					j.multiline[c] = cmd[i+2]
				}
				i += 2
			}
		}
	}
	j.image = img
	j.fluentBit = img.FluentBit
	if v := j.opts.RouterFluentBit; v != "" {
		if _, err := ParseVersion(v); err != nil {
			return fmt.Errorf("--router-fluent-bit-version: %w", err)
		}
		j.fluentBit = v
	}
	j.start.FluentBit = ""
	if j.startLabel && !ClassifyImage(ref).Known {
		// Remember what flags said of an unknown image.
		j.start.FluentBit = j.fluentBit
	}
	return nil
}

// unknownStart is the refusal for a start inject cannot see, saying
// exactly what to pass.
func (j *injection) unknownStart(at, ref string, why error) error {
	return fmt.Errorf("%s: sidewatch cannot tell how %s starts Fluent Bit (%v). fluent-launch replaces that start, so whatever it loads (-e plugins, -R parsers, an init process) would be lost. Describe it with one of:\n"+
		"  --router-start-command '<its ENTRYPOINT and CMD>'  (docker inspect -f '{{json .Config.Entrypoint}} {{json .Config.Cmd}}' %s), e.g. --router-start-command '/fluent-bit/bin/fluent-bit -e /fluent-bit/bin/out_newrelic.so -c /fluent-bit/etc/fluent-bit.conf'\n"+
		"  --router-image-like public.ecr.aws/aws-observability/aws-for-fluent-bit:<tag>  if it is built FROM that image (or fluent/fluent-bit) and keeps its CMD\n"+
		"  --router-plugins /path/to/plugin.so,...  if it runs %s -c %s with these -e plugins and nothing else\n"+
		"then check the result with `sidewatch taskdef lint`", at, ref, why, ref, FluentBitPath, FireLensConfig)
}

// routerLoads reports whether the router will load a Go plugin: its start
// loads it, or its image has it (then fluent-launch loads it).
func (j *injection) routerLoads(plugin string) bool {
	for _, p := range j.start.Plugins() {
		if strings.TrimSuffix(pathBase(p), ".so") == plugin {
			return true
		}
	}
	return j.image.HasAWSGoPlugins()
}

func pathBase(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }

// migrateApps switches every app container (all but the sidecar, the
// router and opt-outs) to awsfirelens.
func (j *injection) migrateApps() error {
	j.cwPlugin = j.opts.CloudWatchPlugin
	explicit := j.cwPlugin == PluginGoCloudWatch || j.cwPlugin == PluginCloudWatchLogs
	switch {
	case j.cwPlugin == PluginGoCloudWatch && !j.routerLoads(PluginGoCloudWatch):
		return fmt.Errorf("--cloudwatch-plugin cloudwatch: a Go plugin of the AWS for Fluent Bit image, absent from %s; use cloudwatch_logs (or --router-plugins if the image has it)", j.image.Ref)
	case !explicit && j.routerLoads(PluginGoCloudWatch):
		j.cwPlugin = PluginGoCloudWatch
	case !explicit:
		j.cwPlugin = PluginCloudWatchLogs
	}
	for i, c := range j.cs {
		if i == j.sidecarIdx || i == j.routerIdx || ignored(c, j.opts.Ignore) {
			continue
		}
		name := c.String("name")
		lc := c.Object("logConfiguration")
		if lc == nil {
			c.Set("logConfiguration", obj("logDriver", "awsfirelens"))
			continue
		}
		switch driver := lc.String("logDriver"); driver {
		case "awsfirelens":
			if err := j.checkFireLensOutput(i, lc, explicit); err != nil {
				return err
			}
		case "awslogs":
			tr, err := translateAwslogs(name, lc.Object("options"), j.cwPlugin)
			if err != nil {
				return fmt.Errorf("%s (container %q): %w", j.path(i, ".logConfiguration.options"), name, err)
			}
			for _, n := range tr.notes {
				j.warn("%s (container %q): %s", j.path(i, ".logConfiguration.options"), name, n)
			}
			if tr.multiline != "" {
				j.multiline[name] = tr.multiline
			}
			lc.Set("logDriver", "awsfirelens")
			lc.Set("options", tr.options)
			j.migrated = append(j.migrated, name)
		default:
			return fmt.Errorf("%s: container %q logs with %q, which inject cannot translate to FireLens; switch it to awsfirelens yourself or opt it out (--ignore %s or dockerLabels %s=true)", j.path(i, ".logConfiguration.logDriver"), name, driver, name, IgnoreLabel)
		}
	}
	// Outputs that refer to the task's metadata need it in the router's
	// environment.
	for i, c := range j.cs {
		if i == j.sidecarIdx || i == j.routerIdx {
			continue
		}
		lc := c.Object("logConfiguration")
		if lc.String("logDriver") != "awsfirelens" {
			continue
		}
		for _, m := range lc.Object("options").All() {
			if v, _ := m.Value.(string); usesECSEnv(v) && !(isFargate(j.def) && onlyRegionVar(v)) {
				j.ecsEnv = true
			}
		}
	}
	return nil
}

// checkFireLensOutput refuses an awsfirelens output the router cannot run,
// converts CloudWatch outputs to the plugin wanted, and finds the
// multiline filter an earlier inject added for it.
func (j *injection) checkFireLensOutput(i int, lc *Object, explicit bool) error {
	o := lc.Object("options")
	if o == nil {
		return nil
	}
	path := j.path(i, ".logConfiguration.options")
	name := o.String("Name")
	if name == "" {
		for _, m := range o.Members {
			if strings.EqualFold(m.Key, "name") {
				return fmt.Errorf("%s.%s: FireLens needs the key spelled \"Name\"", path, m.Key)
			}
		}
		return fmt.Errorf("%s.Name: missing; FireLens rejects options without an output plugin name", path)
	}
	if isCloudWatchPlugin(name) {
		target := strings.ToLower(name)
		switch {
		case explicit:
			target = j.cwPlugin
		case target == PluginGoCloudWatch && !j.routerLoads(PluginGoCloudWatch):
			target = PluginCloudWatchLogs
		}
		if target != strings.ToLower(name) {
			if err := convertCloudWatch(o, target); err != nil {
				return fmt.Errorf("%s: converting %s to %s: %w; convert it yourself or pass --cloudwatch-plugin %s", path, name, target, err, strings.ToLower(name))
			}
		}
		return nil
	}
	if p := strings.ToLower(name); slices.Contains(goPlugins, p) && !j.routerLoads(p) {
		return fmt.Errorf("%s.Name: %q is a Go plugin of the AWS for Fluent Bit image, absent from %s; use the core plugin (cloudwatch_logs, kinesis_firehose, kinesis_streams) or the AWS image, or pass --router-plugins if the image has it", path, name, j.image.Ref)
	}
	return nil
}

// resolveOwnLogs settles where the sidecar's and the log_router's own
// output goes: the flags, else an existing destination of the sidecar or
// the router, else the first app's CloudWatch group with its own stream
// prefix. It is never nothing: the sidecar's events and errors would be
// lost.
func (j *injection) resolveOwnLogs() error {
	if j.opts.LogGroup != "" {
		j.ownLogs = ownLogConfiguration(j.opts.LogGroup, j.opts.LogRegion, "true", "")
		return nil
	}
	for _, idx := range []int{j.sidecarIdx, j.routerIdx} {
		if idx < 0 {
			continue
		}
		if lc := j.cs[idx].Object("logConfiguration"); lc.String("logDriver") == "awslogs" {
			j.ownLogs = clone(lc).(*Object)
			sanitizeOwnLogs(j.ownLogs)
			return nil
		}
	}
	// The first app's CloudWatch group, as its FireLens output (migrated
	// from awslogs or not) names it.
	for i, c := range j.cs {
		if i == j.sidecarIdx || i == j.routerIdx {
			continue
		}
		o := c.Object("logConfiguration").Object("options")
		if c.Object("logConfiguration").String("logDriver") != "awsfirelens" || !isCloudWatchPlugin(o.String("Name")) {
			continue
		}
		group, region := o.String("log_group_name"), o.String("region")
		if group == "" || templateRE.MatchString(group) || templateRE.MatchString(region) && isFargate(j.def) {
			continue
		}
		if templateRE.MatchString(region) {
			region = "" // EC2: the awslogs driver finds the instance's region
		}
		j.ownLogs = ownLogConfiguration(group, region, o.String("auto_create_group"), o.String("endpoint"))
		return nil
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
		j.cs = append(j.cs, sc)
		j.sidecarIdx = len(j.cs) - 1
	} else {
		j.sidecarBefore = clone(j.cs[j.sidecarIdx]).(*Object)
		if j.opts.SidecarImage != "" {
			j.cs[j.sidecarIdx].Set("image", j.opts.SidecarImage)
		}
	}
	sc := j.cs[j.sidecarIdx]
	if err := j.setOwnLogs(j.sidecarIdx, true); err != nil {
		return err
	}
	if sc.Object("logConfiguration").String("logDriver") == "awsfirelens" {
		return fmt.Errorf("%s: the sidecar must not log through FireLens: its events would be copied back to it", j.path(j.sidecarIdx, ".logConfiguration.logDriver"))
	}
	sc.Set("essential", j.opts.SidecarEssential)
	if _, ok := sc.Get("healthCheck"); ok {
		setEnv(sc, "SIDEWATCH_HEALTH_ADDR", HealthAddr)
	}
	for _, kv := range j.recipe.stale {
		deleteEnv(sc, kv[0], kv[1])
	}
	for _, kv := range j.recipe.sidecarEnv {
		// The router is another network namespace: listen beyond loopback.
		setEnv(sc, kv[0], kv[1])
	}
	if err := j.applySinks(sc); err != nil {
		return err
	}
	for _, kv := range j.opts.SidecarEnv {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("sidecar environment %q: want NAME=VALUE", kv)
		}
		setEnv(sc, k, v)
	}
	return j.checkSinks()
}

// setOwnLogs gives the sidecar or the router its own logging: the flags
// replace it, an existing configuration is kept without app-specific
// options, a missing or null one gets the resolved destination. The
// sidecar must have one.
func (j *injection) setOwnLogs(idx int, required bool) error {
	c := j.cs[idx]
	lc := c.Object("logConfiguration")
	switch {
	case j.opts.LogGroup != "", lc == nil && j.ownLogs != nil:
		c.Set("logConfiguration", clone(j.ownLogs))
	case lc != nil:
		if removed := sanitizeOwnLogs(lc); len(removed) > 0 {
			j.warn("%s: removed %s: an app's line format, which %s's own lines never match, so awslogs glued them into few large events", j.path(idx, ".logConfiguration.options"), strings.Join(removed, " and "), c.String("name"))
		}
	}
	if c.Object("logConfiguration") == nil && required {
		return fmt.Errorf("%s: the sidecar's own output (its events with the stdout sink, its errors) would go nowhere, and no container has a CloudWatch destination to reuse; pass --sidecar-log-group GROUP --sidecar-log-region REGION", j.path(idx, ".logConfiguration"))
	}
	if c.Object("logConfiguration") == nil {
		j.warn("%s: the log_router has no logConfiguration, so its own errors (an output failing, the sidecar unreachable) go nowhere; pass --sidecar-log-group", j.path(idx, ".logConfiguration"))
	}
	if c.Object("logConfiguration").String("logDriver") == "awslogs" && j.def.String("executionRoleArn") == "" && isFargate(j.def) {
		j.warn("executionRoleArn: missing; on Fargate %s's awslogs output needs an execution role allowing logs:CreateLogStream and logs:PutLogEvents (and logs:CreateLogGroup)", c.String("name"))
	}
	return nil
}

// addRouter adds the log_router, or takes over the existing FireLens
// container, and points it at fluent-launch and the sidecar.
func (j *injection) addRouter() error {
	if j.routerIdx >= 0 {
		if j.opts.RouterImage != "" {
			j.cs[j.routerIdx].Set("image", j.opts.RouterImage)
		}
	} else {
		router := obj(
			"name", j.opts.RouterName,
			"image", j.image.Ref,
			"essential", true,
			"memoryReservation", num(RouterMemoryReservation),
			"firelensConfiguration", obj("type", "fluentbit"),
		)
		if needsHardLimit(j.def) {
			router.Set("memory", num(RouterMemoryLimit))
		}
		j.cs = append(j.cs, router)
		j.routerIdx = len(j.cs) - 1
	}
	router := j.cs[j.routerIdx]
	// Parsers recovered from an earlier inject whose container no longer
	// logs through FireLens here go.
	for c := range j.multiline {
		i := slices.IndexFunc(j.cs, func(x *Object) bool { return x.String("name") == c })
		if i < 0 || j.cs[i].Object("logConfiguration").String("logDriver") != "awsfirelens" || ignored(j.cs[i], j.opts.Ignore) {
			delete(j.multiline, c)
		}
	}
	if err := j.setOwnLogs(j.routerIdx, false); err != nil {
		return err
	}
	if _, ok := router.Get("memoryReservation"); !ok {
		if _, ok := router.Get("memory"); !ok {
			router.Set("memoryReservation", num(RouterMemoryReservation))
		}
	}
	if len(j.multiline) > 0 && j.fluentBit != "" && !fluentBitAtLeast(j.fluentBit, versionMultilineFilter) {
		return fmt.Errorf("%s: Fluent Bit %s has no multiline filter (1.8.2 and later), needed for the awslogs multiline options of %s; use a newer image", j.path(j.routerIdx, ".image"), j.fluentBit, strings.Join(mapKeys(j.multiline), ", "))
	}
	cmd, err := j.routerCommand()
	if err != nil {
		return err
	}
	router.Set("entryPoint", strs([]string{firelens.LauncherPath}))
	router.Set("command", strs(cmd))
	if j.startLabel {
		labels := router.Object("dockerLabels")
		if labels == nil {
			labels = &Object{}
			router.Set("dockerLabels", labels)
		}
		labels.Set(StartLabel, j.start.label())
	} else if labels := router.Object("dockerLabels"); labels != nil {
		labels.Delete(StartLabel)
	}
	if j.recipe.link {
		addUnique(router, "links", j.opts.SidecarName)
	}
	switch j.mode {
	case "bridge", "":
		j.warn("networkMode: bridge; the sidecar captures only its own interface, and the log_router reaches %s", j.recipe.reach)
	case "host":
		j.warn("networkMode: host; the sidecar binds %s on the instance (one such task per instance) and captures the whole instance's traffic", hostPorts)
	}
	setVolumesFrom(router, j.opts.SidecarName)
	condition := "START"
	if _, ok := j.cs[j.sidecarIdx].Get("healthCheck"); ok {
		condition = "HEALTHY"
	}
	setDependsOn(router, j.opts.SidecarName, condition)
	return nil
}

// syslogOutput is the syslog recipe for this router: across a link in
// bridge mode, and without the record_modifier that added "pid" to every
// record sent anywhere: Fluent Bit 2.0 and later set the PROCID with
// Syslog_Procid_Preset, older ones send no PROCID (the receiver accepts
// "APP: " as well as "APP[PROCID]: ").
func (j *injection) syslogOutput() firelens.SyslogOutput {
	o := firelens.DefaultSyslogOutput()
	if j.mode == "bridge" || j.mode == "" {
		o.Host = j.opts.SidecarName
	}
	if fluentBitAtLeast(j.fluentBit, versionSyslogPresets) {
		o.ProcidPreset = "1"
	} else {
		o.ProcidKey = ""
	}
	return o
}

// routerCommand is fluent-launch's command line: its options (how to
// start this router's Fluent Bit, the task's metadata, multiline
// parsers, the recipe's patches), "--", then Fluent Bit's arguments (the
// start's own, the multiline filters, the recipe's copy to the sidecar).
func (j *injection) routerCommand() ([]string, error) {
	var opts, fb []string
	switch {
	case j.start.AWSInit:
		opts = append(opts, "--aws-init", AWSInitProcess)
	case j.start.Run != FluentBitPath:
		opts = append(opts, "-r", j.start.Run)
	}
	if j.ecsEnv && !j.start.AWSInit {
		opts = append(opts, "--ecs-env")
	}
	names := mapKeys(j.multiline)
	for _, c := range names {
		opts = append(opts, "--multiline-parser", multilineParserName(c), j.multiline[c])
	}
	opts = append(opts, j.recipe.launcherArgs...)
	if !j.start.AWSInit {
		fb = append(fb, j.start.Args...)
		// A Go plugin an app's output needs, which the image has but the
		// start did not load.
		for _, c := range j.cs {
			p := strings.ToLower(c.Object("logConfiguration").Object("options").String("Name"))
			if slices.Contains(goPlugins, p) && c.Object("logConfiguration").String("logDriver") == "awsfirelens" && j.image.HasAWSGoPlugins() {
				s := Start{Args: fb}
				s.addPlugins([]string{awsGoPluginDir + p + ".so"})
				fb = s.Args
			}
		}
	}
	for _, c := range names {
		fb = append(fb, "-F", "multiline", "-m", c+"-firelens*",
			"-p", "multiline.key_content=log", "-p", "multiline.parser="+multilineParserName(c))
	}
	fb = append(fb, j.recipe.fluentBit...)
	return slices.Concat(opts, []string{"--"}, fb), nil
}

func mapKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// checkOutput refuses a result ECS would not register or that cannot
// hold its containers.
func (j *injection) checkOutput() error {
	j.def.Set("containerDefinitions", objs(j.cs))
	if rc := checkResources(j.def); !rc.ok() {
		return rc
	}
	for _, p := range APIProblems(j.def) {
		if !p.Unknown {
			return fmt.Errorf("the injected task definition would not register: %s", p)
		}
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

// ignored reports whether an app container opted out.
func ignored(c *Object, ignore []string) bool {
	if slices.Contains(ignore, c.String("name")) {
		return true
	}
	return strings.EqualFold(c.Object("dockerLabels").String(IgnoreLabel), "true")
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

// deleteEnv removes name from the environment if it has exactly value.
func deleteEnv(c *Object, name, value string) {
	env := c.Array("environment")
	i := slices.IndexFunc(env, func(e any) bool {
		o, ok := e.(*Object)
		return ok && o.String("name") == name && o.String("value") == value
	})
	if i >= 0 {
		c.Set("environment", slices.Delete(env, i, i+1))
	}
}

// hostPorts are what the sidecar binds: its syslog and forward receivers
// and its health listener.
const hostPorts = "127.0.0.1:1514, " + firelens.DefaultForwardAddr + " and " + HealthAddr

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
