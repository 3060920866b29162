package taskdefs

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"github.com/sidewatch/sidewatch/sidecar/sink"
	"github.com/sidewatch/sidewatch/sidecar/sink/awscfg"
	"github.com/sidewatch/sidewatch/sidecar/sink/cloudwatch"
	"github.com/sidewatch/sidewatch/sidecar/sink/delivery"
	"github.com/sidewatch/sidewatch/sidecar/sink/firehose"
	"github.com/sidewatch/sidewatch/sidecar/sink/s3"
	"github.com/sidewatch/sidewatch/sidecar/spool"
)

// The sidecar's sinks are configured by its environment (docs/sinks.md):
// SIDEWATCH_SINK and each sink's SIDEWATCH_* variables. This file reads
// that configuration from a task definition the way `sidewatch run` reads
// its environment, from the sidecar's own configuration structs (their
// flag names, variables and defaults) and their own Validate methods, so
// that inject and lint accept exactly what the sidecar accepts.

// SinkVar is the variable that lists the sidecar's sinks.
const SinkVar = "SIDEWATCH_SINK"

// fileSink is the file sink's name in SIDEWATCH_SINK.
const fileSink = "file"

// sinkNames are the sinks SIDEWATCH_SINK may name (the enum of the
// sidecar's --sink).
var sinkNames = []string{"stdout", fileSink, s3.Name, cloudwatch.Name, firehose.Name}

func isAWSSink(s string) bool { return s == s3.Name || s == cloudwatch.Name || s == firehose.Name }

// SinkOptions describe the sidecar's sinks as wanted: inject sets
// SIDEWATCH_SINK and the AWS sinks' variables from them, and removes
// every other AWS sink variable (ManagedSinkVariables).
type SinkOptions struct {
	// Sinks is SIDEWATCH_SINK, in order.
	Sinks []string
	// Env holds the values given, by variable name (SIDEWATCH_S3_BUCKET).
	// Empty values count as not given.
	Env map[string]string
}

// SinkVariable is one variable of the sidecar's AWS sinks.
type SinkVariable struct {
	Name string // SIDEWATCH_S3_BUCKET
	Flag string // s3-bucket: the sidecar's flag, which inject mirrors
	Sink string // s3, cloudwatch or firehose; "" for what the AWS sinks share (region, spool, retries)
}

// ManagedSinkVariables are the AWS sinks' variables, in the order inject
// writes them: what SinkOptions set or remove.
func ManagedSinkVariables() []SinkVariable {
	var c sinkConfig
	var vs []SinkVariable
	for _, f := range c.fields() {
		if f.sink != fileSink {
			vs = append(vs, SinkVariable{Name: f.env, Flag: f.flag, Sink: f.sink})
		}
	}
	return vs
}

// sinkConfig is the sidecar's sink configuration as `sidewatch run`
// parses it from its environment.
type sinkConfig struct {
	Sinks      []string
	AWS        awscfg.Config
	Delivery   delivery.Options
	Spool      spool.Config
	S3         s3.Config
	CloudWatch cloudwatch.Config
	Firehose   firehose.Config
	File       sink.FileConfig
	// unknown are the variables the task definition sets without saying
	// their value (secrets): their fields keep the defaults.
	unknown map[string]bool
}

// sinkField is one variable of sinkConfig, with the field it sets.
type sinkField struct {
	env, flag, def string
	sep            rune
	sink           string // "" for the options the AWS sinks share
	v              reflect.Value
}

// fields lists c's variables from the sidecar's struct tags.
func (c *sinkConfig) fields() []sinkField {
	groups := []struct {
		sink string
		cfg  any
	}{
		{"", &c.AWS}, {"", &c.Delivery}, {"", &c.Spool},
		{s3.Name, &c.S3}, {cloudwatch.Name, &c.CloudWatch}, {firehose.Name, &c.Firehose},
		{fileSink, &c.File},
	}
	var fs []sinkField
	for _, g := range groups {
		v := reflect.ValueOf(g.cfg).Elem()
		for i := range v.NumField() {
			f := v.Type().Field(i)
			env := f.Tag.Get("env")
			if env == "" {
				continue
			}
			sep := ','
			switch s := f.Tag.Get("sep"); s {
			case "":
			case "none":
				sep = -1
			default:
				sep = []rune(s)[0]
			}
			fs = append(fs, sinkField{env: env, flag: f.Tag.Get("name"), def: f.Tag.Get("default"), sep: sep, sink: g.sink, v: v.Field(i)})
		}
	}
	return fs
}

// has reports whether SIDEWATCH_SINK names sink.
func (c *sinkConfig) has(sink string) bool { return slices.Contains(c.Sinks, sink) }

// awsSinks are the AWS sinks configured, in SIDEWATCH_SINK order, each
// once.
func (c *sinkConfig) awsSinks() []string {
	var out []string
	for _, s := range c.Sinks {
		if isAWSSink(s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

var durationType = reflect.TypeFor[time.Duration]()

// parseValue sets v from s as kong (the sidecar's flag parser) parses a
// variable's value: durations with time.ParseDuration, integers in any
// base Go knows, kong's boolean words, lists split on unescaped sep.
func parseValue(v reflect.Value, s string, sep rune) error {
	switch {
	case v.Type() == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return errors.New("want a duration such as 30s or 5m")
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(s)
	case v.Kind() == reflect.Bool:
		switch strings.ToLower(s) {
		case "true", "1", "yes":
			v.SetBool(true)
		case "false", "0", "no":
			v.SetBool(false)
		default:
			return errors.New("want true, 1, yes, false, 0 or no")
		}
	case v.Kind() == reflect.Int || v.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(s, 0, v.Type().Bits())
		if err != nil {
			return errors.New("want a whole number")
		}
		v.SetInt(n)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		v.Set(reflect.ValueOf(kong.SplitEscaped(s, sep)))
	default:
		// A new kind of option in the sidecar: TestSinkFieldsParse fails.
		return fmt.Errorf("sidewatch taskdef cannot read a %s", v.Type())
	}
	return nil
}

// envVar is a variable as a container definition sets it.
type envVar struct {
	value string
	known bool // false: from secrets, the value is not in the task definition
	index int  // in environment; -1 for secrets
}

// containerEnv returns what a container's environment and secrets set.
// A name given twice keeps its first entry, as lint's other checks read
// it.
func containerEnv(c *Object) map[string]envVar {
	env := map[string]envVar{}
	for i, e := range c.Array("environment") {
		if o, ok := e.(*Object); ok {
			if _, dup := env[o.String("name")]; !dup {
				env[o.String("name")] = envVar{value: o.String("value"), known: true, index: i}
			}
		}
	}
	for _, e := range c.Array("secrets") {
		if o, ok := e.(*Object); ok {
			env[o.String("name")] = envVar{index: -1}
		}
	}
	return env
}

// sinkProblem is a sink variable the sidecar would refuse, or a required
// one that is missing.
type sinkProblem struct {
	Var     string // the variable it is about; "" when none is named
	Index   int    // Var's entry in environment; -1 when it has none
	Missing bool   // Var is required and not set
	Msg     string // the sidecar's message, naming its flag and variable
}

// varRE finds the variables a sidecar message names.
var varRE = regexp.MustCompile(`\((SIDEWATCH_[A-Z0-9_]+)\)`)

// readSinkConfig parses the sink configuration from a container's
// environment and checks it as `sidewatch run` does at start (its
// Config.Validate and the sinks' Open). Problems about variables whose
// value the task definition does not show are left out.
func readSinkConfig(env map[string]envVar) (sinkConfig, []sinkProblem) {
	c := sinkConfig{Sinks: []string{"stdout"}, unknown: map[string]bool{}}
	var errs []error
	if e, ok := env[SinkVar]; ok && !e.known {
		c.unknown[SinkVar] = true
		c.Sinks = nil
	} else if ok {
		c.Sinks = kong.SplitEscaped(e.value, ',')
		if len(c.Sinks) == 0 {
			errs = append(errs, errors.New("--sink (SIDEWATCH_SINK) names no sink"))
		}
		for _, s := range c.Sinks {
			if !slices.Contains(sinkNames, s) {
				errs = append(errs, fmt.Errorf("--sink (SIDEWATCH_SINK) %q: %q is not a sink; want stdout, file, s3, cloudwatch or firehose, comma-separated without spaces", e.value, s))
			}
		}
	}
	defaults := map[string]string{}
	failed := map[string]bool{} // not parsed: the sidecar stops there, checks nothing more of it
	for _, f := range c.fields() {
		defaults[f.env] = f.def
		s := f.def
		e, ok := env[f.env]
		if ok && e.known {
			s = e.value
		} else if ok {
			c.unknown[f.env] = true
		}
		if s == "" && !(ok && e.known) {
			continue // kong leaves the zero value
		}
		if err := parseValue(f.v, s, f.sep); err != nil {
			errs = append(errs, fmt.Errorf("--%s (%s) %q: %w", f.flag, f.env, s, err))
			failed[f.env] = true
		}
	}
	parsed := len(errs)
	if len(c.awsSinks()) > 0 {
		errs = append(errs, c.AWS.Validate(), c.Delivery.Validate(), c.Spool.Validate())
	}
	if c.has(s3.Name) {
		errs = append(errs, c.S3.Validate(true), c.S3.ValidateSpool(c.Spool))
	}
	if c.has(cloudwatch.Name) {
		errs = append(errs, c.CloudWatch.Validate(true))
	}
	if c.has(firehose.Name) {
		errs = append(errs, c.Firehose.Validate(true))
	}
	if c.has(fileSink) {
		if c.File.Path == "" {
			errs = append(errs, errors.New("--file-path (SIDEWATCH_FILE_PATH) is required with --sink file"))
		}
		errs = append(errs, c.File.Validate())
	}
	var probs []sinkProblem
	for n, err := range flatten(errs) {
		msg := err.Error()
		p := sinkProblem{Msg: msg, Index: -1}
		hidden := false
		for i, m := range varRE.FindAllStringSubmatch(msg, -1) {
			hidden = hidden || c.unknown[m[1]] || n >= parsed && failed[m[1]]
			if i == 0 {
				p.Var = m[1]
				e, set := env[m[1]]
				if set {
					p.Index = e.index
				}
				// Required variables are those without a default.
				def, isField := defaults[m[1]]
				p.Missing = !set && isField && def == ""
			}
		}
		if !hidden {
			probs = append(probs, p)
		}
	}
	return c, probs
}

// flatten lists the errors errors.Join joined, dropping nils.
func flatten(errs []error) []error {
	var out []error
	for _, err := range errs {
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			out = append(out, flatten(joined.Unwrap())...)
		} else if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// applySinks writes the sink options into the sidecar's environment:
// SIDEWATCH_SINK, each AWS sink variable given, and no other AWS sink
// variable, so that a sink or an option dropped from the flags is gone.
func (j *injection) applySinks(sc *Object) error {
	so := j.opts.Sinks
	if so == nil {
		return nil
	}
	vars := ManagedSinkVariables()
	aws := slices.ContainsFunc(so.Sinks, isAWSSink)
	for _, v := range vars {
		if so.Env[v.Name] == "" {
			continue
		}
		switch {
		case v.Sink == "" && !aws:
			return fmt.Errorf("--%s: configures the AWS sinks, and --sink (%s) names none of s3, cloudwatch, firehose", v.Flag, strings.Join(so.Sinks, ","))
		case v.Sink != "" && !slices.Contains(so.Sinks, v.Sink):
			return fmt.Errorf("--%s: configures the %s sink, which --sink (%s) does not name; add it or drop the flag", v.Flag, v.Sink, strings.Join(so.Sinks, ","))
		}
	}
	for name := range so.Env {
		if !slices.ContainsFunc(vars, func(v SinkVariable) bool { return v.Name == name }) {
			return fmt.Errorf("sink option %s: not a variable of the sidecar's AWS sinks", name)
		}
	}
	for _, kv := range j.opts.SidecarEnv {
		k, _, _ := strings.Cut(kv, "=")
		if k == SinkVar {
			return fmt.Errorf("--sidecar-env %s: --sink sets it; drop one of them", k)
		}
		if i := slices.IndexFunc(vars, func(v SinkVariable) bool { return v.Name == k }); i >= 0 {
			return fmt.Errorf("--sidecar-env %s: with --sink, the sink flags describe the AWS sinks' whole configuration (a variable without its flag is removed); use --%s", k, vars[i].Flag)
		}
	}
	setOnlyEnv(sc, SinkVar, strings.Join(so.Sinks, ","))
	for _, v := range vars {
		if value := so.Env[v.Name]; value != "" {
			setOnlyEnv(sc, v.Name, value)
		} else {
			deleteEnvName(sc, v.Name)
		}
	}
	return nil
}

// checkSinks refuses a sidecar whose sink configuration the sidecar would
// refuse at start, and reads what its AWS sinks write to.
func (j *injection) checkSinks() error {
	cfg, probs := readSinkConfig(containerEnv(j.cs[j.sidecarIdx]))
	if len(probs) > 0 {
		msgs := make([]string, len(probs))
		for i, p := range probs {
			msgs[i] = p.Msg
		}
		return fmt.Errorf("%s: the sidecar would refuse to start with this sink configuration: %s", j.path(j.sidecarIdx, ".environment"), strings.Join(msgs, "; "))
	}
	if len(cfg.awsSinks()) > 0 {
		j.sinks = &cfg
	}
	return nil
}

// sinkEnv is the sidecar's SIDEWATCH_SINK and AWS sink variables as
// NAME=VALUE, to tell whether inject changed them.
func sinkEnv(c *Object) []string {
	if c == nil {
		return nil
	}
	names := []string{SinkVar}
	for _, v := range ManagedSinkVariables() {
		names = append(names, v.Name)
	}
	var out []string
	for _, e := range c.Array("environment") {
		if o, ok := e.(*Object); ok && slices.Contains(names, o.String("name")) {
			out = append(out, o.String("name")+"="+o.String("value"))
		}
	}
	return out
}

// setOnlyEnv sets name to value and removes any further entry of name.
func setOnlyEnv(c *Object, name, value string) {
	setEnv(c, name, value)
	env := c.Array("environment")
	first := true
	c.Set("environment", slices.DeleteFunc(env, func(e any) bool {
		o, ok := e.(*Object)
		if !ok || o.String("name") != name {
			return false
		}
		dup := !first
		first = false
		return dup
	}))
}

// deleteEnvName removes every entry of name.
func deleteEnvName(c *Object, name string) {
	env := c.Array("environment")
	if env == nil {
		return
	}
	c.Set("environment", slices.DeleteFunc(env, func(e any) bool {
		o, ok := e.(*Object)
		return ok && o.String("name") == name
	}))
}

// lintSinks checks the sidecar's sink configuration as the sidecar reads
// it, that its AWS sinks have credentials (the task role), and that their
// spool is writable.
func (l *linter) lintSinks() {
	if l.sidecarIdx < 0 {
		return
	}
	si, sc := l.sidecarIdx, l.cs[l.sidecarIdx]
	env := containerEnv(sc)
	cfg, probs := readSinkConfig(env)
	_, envFiles := sc.Get("environmentFiles")
	for _, p := range probs {
		switch {
		case p.Missing && envFiles:
			l.add(SeverityWarning, "sink-required", l.cp(si, ".environment"), "set "+p.Var+" in environment, where lint can check it",
				"%s, unless one of the sidecar's environmentFiles sets it (lint cannot read them)", p.Msg)
		case p.Missing:
			l.add(SeverityError, "sink-required", l.cp(si, ".environment"), fmt.Sprintf("add %s (%s sets it)", p.Var, injectSetting(p.Var)),
				"%s: the sidecar refuses to start", p.Msg)
		case p.Index >= 0:
			l.add(SeverityError, "sink-config", l.cp(si, fmt.Sprintf(".environment[%d].value", p.Index)), "set a value the sidecar accepts (`sidewatch taskdef inject` checks the sink flags)",
				"%s: the sidecar refuses to start", p.Msg)
		default:
			l.add(SeverityError, "sink-config", l.cp(si, ".environment"), "set values the sidecar accepts (`sidewatch taskdef inject` checks the sink flags)",
				"%s: the sidecar refuses to start", p.Msg)
		}
	}
	aws := cfg.awsSinks()
	if len(aws) == 0 {
		return
	}
	_, keyID := env["AWS_ACCESS_KEY_ID"]
	_, secret := env["AWS_SECRET_ACCESS_KEY"]
	if l.def.String("taskRoleArn") == "" && !(keyID && secret) {
		n := newIAMNeeds(&Object{}, nil, &cfg, "")
		st, _ := json.Marshal(n.sinkStatements(arnAccount(l.def.String("executionRoleArn"))))
		l.add(SeverityError, "sink-task-role", "taskRoleArn", "add a task role that allows what `sidewatch taskdef inject --iam-policy FILE` writes: "+string(st),
			"the sidecar's %s to AWS with the task role's credentials, and the task has no task role (on EC2 the sidecar would fall back to the instance's role, if it can reach instance metadata)", sinkList(aws, "writes", "write"))
	}
	l.lintSpool(si, sc, env, cfg)
}

// lintSpool checks that the AWS sinks' spool directory is writable: on a
// read-only root file system it must be on a volume. The image declares
// VOLUMEs at /var/sidewatch/spool (the default --spool-dir) and
// /var/sidewatch/lib/fluent-bit (docs/image.md), so the default needs no
// mount.
func (l *linter) lintSpool(si int, sc *Object, env map[string]envVar, cfg sinkConfig) {
	dir := path.Clean(cfg.Spool.Dir)
	if cfg.unknown["SIDEWATCH_SPOOL_DIR"] || !path.IsAbs(dir) {
		return
	}
	at := l.cp(si, ".environment")
	if e, ok := env["SIDEWATCH_SPOOL_DIR"]; ok {
		at = l.cp(si, fmt.Sprintf(".environment[%d].value", e.index))
	}
	// The deepest mount holding the directory is the one it is on.
	best, bestLen := -1, -1
	for i, m := range sc.Array("mountPoints") {
		o, _ := m.(*Object)
		mount := o.String("containerPath")
		if mount == "" {
			continue
		}
		if cp := path.Clean(mount); (dir == cp || strings.HasPrefix(dir, cp+"/") || cp == "/") && len(cp) > bestLen {
			best, bestLen = i, len(cp)
		}
	}
	if best >= 0 {
		if ro, _ := sc.Array("mountPoints")[best].(*Object).Bool("readOnly"); ro {
			l.add(SeverityError, "spool-volume", l.cp(si, fmt.Sprintf(".mountPoints[%d].readOnly", best)), "set readOnly to false, or point SIDEWATCH_SPOOL_DIR at a writable volume",
				"the AWS sinks' spool %s is on a read-only mount: the sidecar cannot start its sinks", dir)
		}
		return
	}
	for _, v := range imageVolumes {
		if dir == v || strings.HasPrefix(dir, v+"/") {
			return
		}
	}
	if ro, _ := sc.Bool("readonlyRootFilesystem"); ro {
		l.add(SeverityError, "spool-volume", at, fmt.Sprintf("leave SIDEWATCH_SPOOL_DIR unset (the image's %s volume), or mount a volume there", imageVolumes[0]),
			"the AWS sinks' spool %s is on the read-only root file system, not on a volume: the sidecar cannot start its sinks", dir)
	}
}

// imageVolumes are the sidecar image's VOLUMEs (docs/image.md): writable
// under a read-only root file system, and kept across a restart of the
// sidecar container within the task.
var imageVolumes = []string{"/var/sidewatch/spool", "/var/sidewatch/lib/fluent-bit"}

// injectSetting says how inject sets a sink variable: its flag for the
// AWS sinks', else --sidecar-env.
func injectSetting(env string) string {
	for _, v := range ManagedSinkVariables() {
		if v.Name == env {
			return "`sidewatch taskdef inject --sink ... --" + v.Flag + " VALUE`"
		}
	}
	return "`sidewatch taskdef inject --sidecar-env " + env + "=VALUE`"
}

// sinkList names sinks with the verb that follows: "s3 sink writes",
// "s3 and cloudwatch sinks write".
func sinkList(sinks []string, one, many string) string {
	switch len(sinks) {
	case 1:
		return sinks[0] + " sink " + one
	case 2:
		return sinks[0] + " and " + sinks[1] + " sinks " + many
	}
	return strings.Join(sinks[:len(sinks)-1], ", ") + " and " + sinks[len(sinks)-1] + " sinks " + many
}

// SinkNames are the sinks SIDEWATCH_SINK may name.
func SinkNames() []string { return slices.Clone(sinkNames) }
