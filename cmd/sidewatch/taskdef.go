//go:build !sidecaronly

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/sidewatch/sidewatch/taskdefs"
)

// TaskdefCommands adds `sidewatch taskdef` to the CLI. The sidecar image
// is built with -tags sidecaronly and leaves it out: operators run it from
// their own machines, and the AWS SDK's ECS client would add 4 MB to an
// image with a 20 MiB budget.
type TaskdefCommands struct {
	Taskdef TaskdefCmd `cmd:"" help:"Protect, check, register and deploy ECS task definitions."`
}

// TaskdefCmd groups the task definition commands.
type TaskdefCmd struct {
	Inject   InjectCmd   `cmd:"" help:"Add the sidewatch sidecar and a FireLens log_router to a task definition."`
	Lint     LintCmd     `cmd:"" help:"Check that a task definition runs sidewatch correctly (exit 1 on error findings, 3 when the file cannot be read)."`
	Register RegisterCmd `cmd:"" help:"Register a task definition (tags included) and print its ARN."`
	Deploy   DeployCmd   `cmd:"" help:"Inject the sidecar into a service's task definition, register it and update the service."`
}

// injectFlags are the options of inject and deploy.
type injectFlags struct {
	SidecarImage       string   `name:"sidecar-image" env:"SIDEWATCH_TASKDEF_SIDECAR_IMAGE" help:"Sidecar image (default public.ecr.aws/sidewatch/sidewatch:latest for a new sidecar; an existing one keeps its image)."`
	SidecarEssential   bool     `name:"sidecar-essential" env:"SIDEWATCH_TASKDEF_SIDECAR_ESSENTIAL" default:"true" negatable:"" help:"Mark the sidecar essential, so the task stops if it does (--no-sidecar-essential while testing)."`
	SidecarEnv         []string `name:"sidecar-env" env:"SIDEWATCH_TASKDEF_SIDECAR_ENV" sep:"none" placeholder:"NAME=VALUE" help:"Environment of the sidecar, e.g. SIDEWATCH_SINK=stdout (repeatable)."`
	RouterImage        string   `name:"router-image" env:"SIDEWATCH_TASKDEF_ROUTER_IMAGE" help:"log_router image (default public.ecr.aws/aws-observability/aws-for-fluent-bit:stable for a new log_router, or e.g. fluent/fluent-bit:5.1.1; an existing one keeps its image)."`
	RouterImageLike    string   `name:"router-image-like" env:"SIDEWATCH_TASKDEF_ROUTER_IMAGE_LIKE" placeholder:"IMAGE" help:"The log_router's image is built FROM this known image (aws-for-fluent-bit or fluent/fluent-bit, with its tag) and keeps its CMD."`
	RouterStartCommand string   `name:"router-start-command" env:"SIDEWATCH_TASKDEF_ROUTER_START_COMMAND" placeholder:"COMMAND" help:"What the log_router's image runs (its ENTRYPOINT and CMD, as words or a JSON array), for an image sidewatch does not know."`
	RouterPlugins      []string `name:"router-plugins" env:"SIDEWATCH_TASKDEF_ROUTER_PLUGINS" placeholder:"PATH" help:"Fluent Bit plugins (-e shared objects) the log_router must load besides those its image loads."`
	RouterFluentBit    string   `name:"router-fluent-bit-version" env:"SIDEWATCH_TASKDEF_ROUTER_FLUENT_BIT_VERSION" placeholder:"VERSION" help:"Fluent Bit version of the log_router's image, when its tag does not tell (e.g. 5.1.1)."`
	RouterName         string   `name:"router-name" env:"SIDEWATCH_TASKDEF_ROUTER_NAME" default:"log_router" help:"Name of a new log_router (an existing FireLens container is reused)."`
	SidecarName        string   `name:"sidecar-name" env:"SIDEWATCH_TASKDEF_SIDECAR_NAME" default:"sidewatch" help:"Name of the sidecar container."`
	Ignore             []string `name:"ignore" env:"SIDEWATCH_TASKDEF_IGNORE" placeholder:"CONTAINER" help:"Leave these app containers alone (also: dockerLabels sidewatch.ignore=true)."`
	SidecarLogGroup    string   `name:"sidecar-log-group" env:"SIDEWATCH_TASKDEF_SIDECAR_LOG_GROUP" placeholder:"GROUP" help:"CloudWatch log group (awslogs) for the sidecar's and log_router's own output, e.g. the sidecar's events (default: an existing destination of theirs, else the first app's CloudWatch group)."`
	SidecarLogRegion   string   `name:"sidecar-log-region" env:"SIDEWATCH_TASKDEF_SIDECAR_LOG_REGION" placeholder:"REGION" help:"Region of --sidecar-log-group."`
	CloudWatchPlugin   string   `name:"cloudwatch-plugin" env:"SIDEWATCH_TASKDEF_CLOUDWATCH_PLUGIN" default:"auto" enum:"auto,cloudwatch,cloudwatch_logs" help:"Fluent Bit output for CloudWatch Logs: cloudwatch (the AWS image's Go plugin), cloudwatch_logs (core plugin, any image) or auto (cloudwatch where the log_router has it). An explicit value converts existing CloudWatch outputs too."`
	AllowBridge        bool     `name:"allow-bridge" env:"SIDEWATCH_TASKDEF_ALLOW_BRIDGE" help:"Accept networkMode bridge (EC2 only; the sidecar then sees only its own traffic, the log_router reaches it over a link)."`
	AllowHostNetwork   bool     `name:"allow-host-network" env:"SIDEWATCH_TASKDEF_ALLOW_HOST_NETWORK" help:"Accept networkMode host (EC2 only; one such task per instance, capture sees the whole instance)."`
	Recipe             string   `name:"recipe" env:"SIDEWATCH_TASKDEF_RECIPE" default:"forward" enum:"forward,syslog" help:"How the log_router copies records to the sidecar: forward (acknowledged, on its own disk buffer, never stalls your other outputs) or syslog (the Alert Logic-compatible recipe)."`
	IAMPolicy          string   `name:"iam-policy" env:"SIDEWATCH_TASKDEF_IAM_POLICY" placeholder:"FILE" help:"Write the IAM policy the task role needs for the log_router's CloudWatch Logs outputs and the sidecar's AWS sinks to FILE (JSON, for infrastructure code)."`
	sinkFlags          `embed:"" group:"Sidecar sinks (given --sink, they describe the sidecar's whole sink configuration; without --sink it is kept)"`
}

// sinkFlags configure the sidecar's sinks in its environment. Each flag
// is the sidecar's own (docs/sinks.md) and sets its variable: the flag's
// variable without TASKDEF_ (SIDEWATCH_TASKDEF_S3_BUCKET sets
// SIDEWATCH_S3_BUCKET). Values are checked as the sidecar checks them,
// by taskdefs.Inject.
type sinkFlags struct {
	Sink []string `name:"sink" env:"SIDEWATCH_TASKDEF_SINK" placeholder:"SINK" help:"The sidecar's sinks (SIDEWATCH_SINK), comma-separated: stdout, file, s3, cloudwatch, firehose. Sets the AWS sinks' variables from the flags below and removes the others."`

	S3Bucket          string   `name:"s3-bucket" env:"SIDEWATCH_TASKDEF_S3_BUCKET" placeholder:"BUCKET" help:"Bucket of the s3 sink (SIDEWATCH_S3_BUCKET)."`
	S3Prefix          string   `name:"s3-prefix" env:"SIDEWATCH_TASKDEF_S3_PREFIX" placeholder:"PREFIX" help:"Key prefix of its objects (default sidewatch)."`
	S3PartitionByType bool     `name:"s3-partition-by-type" env:"SIDEWATCH_TASKDEF_S3_PARTITION_BY_TYPE" help:"Add event_type=TYPE/ to the keys."`
	S3MaxObjectBytes  string   `name:"s3-max-object-bytes" env:"SIDEWATCH_TASKDEF_S3_MAX_OBJECT_BYTES" placeholder:"BYTES" help:"Uncompressed size that rolls an object (default 16777216)."`
	S3MaxObjectAge    string   `name:"s3-max-object-age" env:"SIDEWATCH_TASKDEF_S3_MAX_OBJECT_AGE" placeholder:"DURATION" help:"Age that rolls an object (default 5m)."`
	S3KMSKeyID        string   `name:"s3-kms-key-id" env:"SIDEWATCH_TASKDEF_S3_KMS_KEY_ID" placeholder:"KEY" help:"SSE-KMS key id, alias or ARN (adds kms:GenerateDataKey to the IAM statements)."`
	S3BucketOwner     string   `name:"s3-expected-bucket-owner" env:"SIDEWATCH_TASKDEF_S3_EXPECTED_BUCKET_OWNER" placeholder:"ACCOUNT" help:"Account id the bucket must belong to."`
	S3EventTypes      []string `name:"s3-event-types" env:"SIDEWATCH_TASKDEF_S3_EVENT_TYPES" placeholder:"TYPE" help:"Event types the s3 sink takes (default all)."`
	S3EndpointURL     string   `name:"s3-endpoint-url" env:"SIDEWATCH_TASKDEF_S3_ENDPOINT_URL" placeholder:"URL" help:"S3 endpoint of the sidecar (VPC endpoints, emulators)."`
	S3Region          string   `name:"s3-region" env:"SIDEWATCH_TASKDEF_S3_REGION" placeholder:"REGION" help:"The bucket's region when not the sinks'."`

	CloudWatchLogGroup    string   `name:"cloudwatch-log-group" env:"SIDEWATCH_TASKDEF_CLOUDWATCH_LOG_GROUP" placeholder:"GROUP" help:"Log group of the cloudwatch sink (SIDEWATCH_CLOUDWATCH_LOG_GROUP)."`
	CloudWatchLogStream   string   `name:"cloudwatch-log-stream" env:"SIDEWATCH_TASKDEF_CLOUDWATCH_LOG_STREAM" placeholder:"STREAM" help:"Its log stream (default sidewatch/<task id>)."`
	CloudWatchCreateGroup bool     `name:"cloudwatch-create-group" env:"SIDEWATCH_TASKDEF_CLOUDWATCH_CREATE_GROUP" help:"Let the sink create the group (adds logs:CreateLogGroup)."`
	CloudWatchEventTypes  []string `name:"cloudwatch-event-types" env:"SIDEWATCH_TASKDEF_CLOUDWATCH_EVENT_TYPES" placeholder:"TYPE" help:"Event types the cloudwatch sink takes, e.g. alert (default all)."`
	CloudWatchEndpointURL string   `name:"cloudwatch-endpoint-url" env:"SIDEWATCH_TASKDEF_CLOUDWATCH_ENDPOINT_URL" placeholder:"URL" help:"CloudWatch Logs endpoint of the sidecar."`
	CloudWatchBatchDelay  string   `name:"cloudwatch-batch-delay" env:"SIDEWATCH_TASKDEF_CLOUDWATCH_BATCH_DELAY" placeholder:"DURATION" help:"Longest wait to share a PutLogEvents call (default 1s)."`

	FirehoseDeliveryStream string   `name:"firehose-delivery-stream" env:"SIDEWATCH_TASKDEF_FIREHOSE_DELIVERY_STREAM" placeholder:"STREAM" help:"Delivery stream of the firehose sink (SIDEWATCH_FIREHOSE_DELIVERY_STREAM)."`
	FirehoseEventTypes     []string `name:"firehose-event-types" env:"SIDEWATCH_TASKDEF_FIREHOSE_EVENT_TYPES" placeholder:"TYPE" help:"Event types the firehose sink takes (default all)."`
	FirehoseEndpointURL    string   `name:"firehose-endpoint-url" env:"SIDEWATCH_TASKDEF_FIREHOSE_ENDPOINT_URL" placeholder:"URL" help:"Firehose endpoint of the sidecar."`
	FirehoseBatchDelay     string   `name:"firehose-batch-delay" env:"SIDEWATCH_TASKDEF_FIREHOSE_BATCH_DELAY" placeholder:"DURATION" help:"Longest wait to share a PutRecordBatch call (default 1s)."`

	AWSRegion           string `name:"aws-region" env:"SIDEWATCH_TASKDEF_SINK_AWS_REGION" placeholder:"REGION" help:"Region of the sidecar's AWS sinks (SIDEWATCH_AWS_REGION; default the task's). Not --region, which is the ECS API's."`
	AWSAttemptTimeout   string `name:"aws-attempt-timeout" env:"SIDEWATCH_TASKDEF_AWS_ATTEMPT_TIMEOUT" placeholder:"DURATION" help:"Bound of one request of an AWS sink (default 30s)."`
	AWSMaxBackoff       string `name:"aws-max-backoff" env:"SIDEWATCH_TASKDEF_AWS_MAX_BACKOFF" placeholder:"DURATION" help:"Longest wait between retries (default 30s)."`
	AWSFailingAfter     string `name:"aws-failing-after" env:"SIDEWATCH_TASKDEF_AWS_FAILING_AFTER" placeholder:"DURATION" help:"Failing sends for this long make /healthz 503 (default 60s)."`
	AWSErrorLogInterval string `name:"aws-error-log-interval" env:"SIDEWATCH_TASKDEF_AWS_ERROR_LOG_INTERVAL" placeholder:"DURATION" help:"At most one error line per class per interval (default 60s)."`
	SpoolDir            string `name:"spool-dir" env:"SIDEWATCH_TASKDEF_SPOOL_DIR" placeholder:"DIR" help:"The AWS sinks' spool directory (default /var/sidewatch/spool, the image's volume)."`
	SpoolMaxBytes       string `name:"spool-max-bytes" env:"SIDEWATCH_TASKDEF_SPOOL_MAX_BYTES" placeholder:"BYTES" help:"Bound of each AWS sink's spool (default 268435456)."`
}

// sinkFlagEnv maps a sink flag's variable to the sidecar's.
func sinkFlagEnv(taskdefEnv string) string {
	if taskdefEnv == "SIDEWATCH_TASKDEF_SINK_AWS_REGION" {
		return "SIDEWATCH_AWS_REGION" // SIDEWATCH_TASKDEF_AWS_REGION is --region's
	}
	return strings.Replace(taskdefEnv, "SIDEWATCH_TASKDEF_", "SIDEWATCH_", 1)
}

// options returns the sink options the flags give, nil without --sink.
func (f sinkFlags) options() *taskdefs.SinkOptions {
	if len(f.Sink) == 0 {
		return nil
	}
	so := &taskdefs.SinkOptions{Sinks: f.Sink, Env: map[string]string{}}
	f.each(func(_, env, value string) { so.Env[env] = value })
	return so
}

// each calls fn with the flag, the sidecar variable it sets and the value
// of every sink option flag given (not --sink).
func (f sinkFlags) each(fn func(flag, env, value string)) {
	v := reflect.ValueOf(f)
	for i := range v.NumField() {
		field := v.Type().Field(i)
		if field.Name == "Sink" {
			continue
		}
		var value string
		switch x := v.Field(i).Interface().(type) {
		case string:
			value = x
		case bool:
			if x {
				value = "true"
			}
		case []string:
			value = strings.Join(x, ",")
		}
		if value != "" {
			fn("--"+field.Tag.Get("name"), sinkFlagEnv(field.Tag.Get("env")), value)
		}
	}
}

// Validate refuses sink options without --sink: the sinks they belong to
// must be said.
func (f sinkFlags) Validate() error {
	if len(f.Sink) > 0 {
		return nil
	}
	var given []string
	f.each(func(flag, _, _ string) { given = append(given, flag) })
	if len(given) > 0 {
		return fmt.Errorf("%s given without --sink: name the sinks wanted too (e.g. --sink stdout,s3)", strings.Join(given, ", "))
	}
	return nil
}

// Validate checks flags that only make sense together.
func (f injectFlags) Validate() error {
	if f.SidecarLogGroup != "" && f.SidecarLogRegion == "" {
		return errors.New("--sidecar-log-group (SIDEWATCH_TASKDEF_SIDECAR_LOG_GROUP) needs --sidecar-log-region (SIDEWATCH_TASKDEF_SIDECAR_LOG_REGION)")
	}
	if f.RouterStartCommand != "" {
		if _, err := taskdefs.ParseStartCommand(f.RouterStartCommand); err != nil {
			return fmt.Errorf("--router-start-command (SIDEWATCH_TASKDEF_ROUTER_START_COMMAND): %w", err)
		}
	}
	if f.RouterFluentBit != "" {
		if _, err := taskdefs.ParseVersion(f.RouterFluentBit); err != nil {
			return fmt.Errorf("--router-fluent-bit-version (SIDEWATCH_TASKDEF_ROUTER_FLUENT_BIT_VERSION): %w", err)
		}
	}
	return f.sinkFlags.Validate()
}

func (f injectFlags) options() taskdefs.Options {
	var start []string
	if f.RouterStartCommand != "" {
		start, _ = taskdefs.ParseStartCommand(f.RouterStartCommand) // Validate checked it
	}
	return taskdefs.Options{
		SidecarName:        f.SidecarName,
		SidecarImage:       f.SidecarImage,
		SidecarEssential:   f.SidecarEssential,
		SidecarEnv:         f.SidecarEnv,
		RouterName:         f.RouterName,
		RouterImage:        f.RouterImage,
		RouterImageLike:    f.RouterImageLike,
		RouterStartCommand: start,
		RouterPlugins:      f.RouterPlugins,
		RouterFluentBit:    f.RouterFluentBit,
		Ignore:             f.Ignore,
		AllowBridge:        f.AllowBridge,
		AllowHostNetwork:   f.AllowHostNetwork,
		CloudWatchPlugin:   f.CloudWatchPlugin,
		Recipe:             f.Recipe,
		LogGroup:           f.SidecarLogGroup,
		LogRegion:          f.SidecarLogRegion,
		Sinks:              f.sinkFlags.options(),
	}
}

// report tells the user what inject changed beyond the document: its
// warnings, and who now writes to CloudWatch Logs with what permissions.
// It writes the IAM policy to --iam-policy.
func (f injectFlags) report(e *env, res taskdefs.Result) error {
	warn(e, res.Warnings)
	if res.IAM == nil {
		if f.IAMPolicy != "" {
			e.log.Warn("neither the log_router (no FireLens CloudWatch Logs output) nor the sidecar (no AWS sink) writes to AWS, so the task role needs no permission for them; --iam-policy file not written", "file", f.IAMPolicy)
		}
		return nil
	}
	if len(res.IAM.Migrated) > 0 || res.IAM.TaskRole == "" || res.IAM.SinksChanged {
		e.log.Warn(res.IAM.Summary())
	} else {
		e.log.Info(res.IAM.Summary())
	}
	if f.IAMPolicy != "" {
		if err := writeOutput(e.stdout, f.IAMPolicy, res.IAM.PolicyJSON()); err != nil {
			return err
		}
	}
	return nil
}

// awsFlags select the account, region and endpoint on top of the standard
// AWS configuration.
type awsFlags struct {
	Region      string `name:"region" env:"SIDEWATCH_TASKDEF_AWS_REGION" help:"AWS region (default: AWS_REGION or the profile's)."`
	Profile     string `name:"profile" env:"SIDEWATCH_TASKDEF_AWS_PROFILE" help:"Shared config profile (default: AWS_PROFILE or default)."`
	EndpointURL string `name:"endpoint-url" env:"SIDEWATCH_TASKDEF_AWS_ENDPOINT_URL" help:"ECS endpoint, for private endpoints and emulators."`
}

func (f awsFlags) config() taskdefs.AWSConfig {
	return taskdefs.AWSConfig{Region: f.Region, Profile: f.Profile, EndpointURL: f.EndpointURL}
}

// InjectCmd is `sidewatch taskdef inject`.
type InjectCmd struct {
	In     string `arg:"" name:"file" help:"Task definition JSON (register-task-definition --cli-input-json or describe-task-definition output); - reads stdin."`
	Output string `short:"o" name:"output" env:"SIDEWATCH_TASKDEF_OUTPUT" placeholder:"FILE" help:"Write the result to FILE instead of stdout."`
	DryRun bool   `name:"dry-run" env:"SIDEWATCH_TASKDEF_DRY_RUN" help:"Print a unified diff of the changes instead of the result."`
	injectFlags
}

// Run injects and writes the result.
func (c *InjectCmd) Run(e *env) error {
	in, region, err := readTaskdefRegion(c.In)
	if err != nil {
		return err
	}
	opts := c.options()
	opts.TaskRegion = region
	res, err := taskdefs.Inject(in, opts)
	if err != nil {
		return fmt.Errorf("inject %s: %w", c.In, err)
	}
	if err := c.report(e, res); err != nil {
		return err
	}
	out, err := taskdefs.Encode(res.Def)
	if err != nil {
		return err
	}
	if c.DryRun {
		// Diff against the normalised input, so only inject's changes show.
		before, err := taskdefs.Encode(in)
		if err != nil {
			return err
		}
		_, err = io.WriteString(e.stdout, taskdefs.Diff(c.In, c.In+" (injected)", before, out))
		return err
	}
	return writeOutput(e.stdout, c.Output, out)
}

// LintCmd is `sidewatch taskdef lint`.
type LintCmd struct {
	In          string   `arg:"" name:"file" help:"Task definition JSON (register or describe shape); - reads stdin."`
	Format      string   `name:"format" env:"SIDEWATCH_TASKDEF_LINT_FORMAT" default:"text" enum:"text,json" help:"Output format: text or json."`
	SidecarName string   `name:"sidecar-name" env:"SIDEWATCH_TASKDEF_SIDECAR_NAME" default:"sidewatch" help:"Name of the sidecar container."`
	Ignore      []string `name:"ignore" env:"SIDEWATCH_TASKDEF_IGNORE" placeholder:"CONTAINER" help:"App containers deliberately not on FireLens."`
}

// errFindings makes the exit status 1 when lint found errors.
var errFindings = errors.New("error-level findings")

// exitUnreadable is the exit status when the task definition file could
// not be read or parsed, so that scripts can tell it from 1 (lint found
// errors, inject refused, an AWS call failed) and 2 (bad usage).
const exitUnreadable = 3

// unreadableError is a task definition that could not be read.
type unreadableError struct{ err error }

func (e *unreadableError) Error() string { return e.err.Error() }
func (e *unreadableError) Unwrap() error { return e.err }
func (e *unreadableError) ExitCode() int { return exitUnreadable }

// Run lints and prints the findings.
func (c *LintCmd) Run(e *env) error {
	def, err := readTaskdef(c.In)
	if err != nil {
		return err
	}
	fs := taskdefs.Lint(def, taskdefs.LintOptions{SidecarName: c.SidecarName, Ignore: c.Ignore})
	if c.Format == "json" {
		if fs == nil {
			fs = []taskdefs.Finding{}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(fs); err != nil {
			return err
		}
	} else if _, err := io.WriteString(e.stdout, taskdefs.FormatFindings(fs)); err != nil {
		return err
	}
	if taskdefs.HasErrors(fs) {
		return fmt.Errorf("lint %s: %w", c.In, errFindings)
	}
	return nil
}

// RegisterCmd is `sidewatch taskdef register`.
type RegisterCmd struct {
	In    string `arg:"" name:"file" help:"Task definition JSON (register or describe shape, tags included); - reads stdin."`
	Force bool   `name:"force" env:"SIDEWATCH_TASKDEF_FORCE" help:"Register even if lint reports errors."`
	awsFlags
}

// Run lints, registers and prints the new ARN.
func (c *RegisterCmd) Run(e *env) error {
	def, err := readTaskdef(c.In)
	if err != nil {
		return err
	}
	if err := lintBeforeRegister(e, def, c.Force); err != nil {
		return err
	}
	client, err := taskdefs.NewECS(e.ctx, c.config())
	if err != nil {
		return err
	}
	arn, err := taskdefs.Register(e.ctx, client, def)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(e.stdout, arn)
	return err
}

// DeployCmd is `sidewatch taskdef deploy`.
type DeployCmd struct {
	Cluster      string        `name:"cluster" required:"" env:"SIDEWATCH_TASKDEF_CLUSTER" help:"ECS cluster name or ARN."`
	Service      string        `name:"service" required:"" env:"SIDEWATCH_TASKDEF_SERVICE" help:"ECS service name or ARN."`
	DryRun       bool          `name:"dry-run" env:"SIDEWATCH_TASKDEF_DRY_RUN" help:"Print the diff of the service's task definition and stop."`
	Wait         bool          `name:"wait" env:"SIDEWATCH_TASKDEF_WAIT" help:"Wait until the deployment is stable, printing progress to stderr."`
	WaitTimeout  time.Duration `name:"wait-timeout" env:"SIDEWATCH_TASKDEF_WAIT_TIMEOUT" default:"15m" help:"Give up waiting after this long."`
	WaitInterval time.Duration `name:"wait-interval" env:"SIDEWATCH_TASKDEF_WAIT_INTERVAL" default:"15s" help:"Time between polls of the service while waiting."`
	Force        bool          `name:"force" env:"SIDEWATCH_TASKDEF_FORCE" help:"Register even if lint reports errors."`
	injectFlags
	awsFlags
}

// Validate checks the flags before anything is called.
func (c *DeployCmd) Validate() error {
	if c.WaitInterval <= 0 || c.WaitTimeout <= 0 {
		return errors.New("--wait-interval (SIDEWATCH_TASKDEF_WAIT_INTERVAL) and --wait-timeout (SIDEWATCH_TASKDEF_WAIT_TIMEOUT) must be > 0")
	}
	return c.injectFlags.Validate()
}

// Run reads the service's task definition, injects, registers the new
// revision and points the service at it.
func (c *DeployCmd) Run(e *env) error {
	client, err := taskdefs.NewECS(e.ctx, c.config())
	if err != nil {
		return err
	}
	current, currentARN, err := taskdefs.Current(e.ctx, client, c.Cluster, c.Service)
	if err != nil {
		return err
	}
	opts := c.options()
	opts.TaskRegion = taskdefs.ARNRegion(currentARN)
	res, err := taskdefs.Inject(current, opts)
	if err != nil {
		return fmt.Errorf("inject into the task definition of service %s: %w", c.Service, err)
	}
	// Said before anything is registered or rolled out.
	if err := c.report(e, res); err != nil {
		return err
	}
	before, err := taskdefs.Encode(current)
	if err != nil {
		return err
	}
	after, err := taskdefs.Encode(res.Def)
	if err != nil {
		return err
	}
	if c.DryRun {
		if string(before) == string(after) {
			e.log.Info("service already runs a protected task definition; nothing would change", "service", c.Service, "taskDefinition", currentARN)
			return nil
		}
		name := current.String("family") + " (" + c.Service + ")"
		_, err = io.WriteString(e.stdout, taskdefs.Diff(name, name+" (injected)", before, after))
		return err
	}
	if string(before) == string(after) {
		// Registering an identical revision would only restart the tasks.
		e.log.Info("service already runs a protected task definition; nothing to do", "service", c.Service, "taskDefinition", currentARN)
		_, err := fmt.Fprintln(e.stdout, currentARN)
		return err
	}
	if err := lintBeforeRegister(e, res.Def, c.Force); err != nil {
		return err
	}
	arn, err := taskdefs.Register(e.ctx, client, res.Def)
	if err != nil {
		return err
	}
	if err := taskdefs.UpdateService(e.ctx, client, c.Cluster, c.Service, arn); err != nil {
		return fmt.Errorf("%w (registered %s)", err, arn)
	}
	fmt.Fprintln(e.stdout, arn)
	if !c.Wait {
		return nil
	}
	ctx, cancel := context.WithTimeout(e.ctx, c.WaitTimeout)
	defer cancel()
	return taskdefs.WaitStable(ctx, client, c.Cluster, c.Service, arn, c.WaitInterval, e.stderr)
}

// lintBeforeRegister refuses to register a definition with lint errors.
func lintBeforeRegister(e *env, def *taskdefs.Object, force bool) error {
	fs := taskdefs.Lint(def, taskdefs.LintOptions{})
	if !taskdefs.HasErrors(fs) {
		return nil
	}
	io.WriteString(e.stderr, taskdefs.FormatFindings(fs))
	if force {
		return nil
	}
	return fmt.Errorf("task definition %s has lint errors (shown above); fix them or pass --force", def.String("family"))
}

func warn(e *env, warnings []string) {
	for _, w := range warnings {
		e.log.Warn(w)
	}
}

// readTaskdef reads and parses a file, or stdin for "-".
func readTaskdef(path string) (*taskdefs.Object, error) {
	def, _, err := readTaskdefRegion(path)
	return def, err
}

// readTaskdefRegion reads and parses a file, or stdin for "-", and
// returns the region of its task definition ARN, "" when it has none.
func readTaskdefRegion(path string) (*taskdefs.Object, string, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, "", &unreadableError{fmt.Errorf("read task definition: %w", err)}
	}
	def, err := taskdefs.Read(data)
	if err != nil {
		return nil, "", &unreadableError{fmt.Errorf("%s: %w", path, err)}
	}
	return def, taskdefs.TaskRegion(data), nil
}

// writeOutput writes to path atomically, or to stdout when path is empty
// or "-".
func writeOutput(stdout io.Writer, path string, data []byte) error {
	if path == "" || path == "-" {
		_, err := stdout.Write(data)
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
