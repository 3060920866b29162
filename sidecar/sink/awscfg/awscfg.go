// Package awscfg builds the AWS SDK configuration that the AWS sinks share:
// credentials from the SDK's standard chain (in a task, the task role
// through the container credentials endpoint), the region from
// --aws-region, then the SDK's own sources (AWS_REGION, the shared config),
// then the task's region from its metadata, and no SDK retries: the sinks
// retry on their own, without the SDK's client-wide retry budget.
package awscfg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/sidewatch/sidewatch/sidecar/metadata"
)

// Config is the AWS part of the sidecar's configuration.
type Config struct {
	Region string `name:"aws-region" env:"SIDEWATCH_AWS_REGION" help:"Region of the AWS sinks; default AWS_REGION or AWS_DEFAULT_REGION, the shared config, else the task's region from its metadata."`
}

var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)

// Validate checks the region's form.
func (c Config) Validate() error {
	if c.Region != "" && !regionRE.MatchString(c.Region) {
		return fmt.Errorf("--aws-region (SIDEWATCH_AWS_REGION) %q is not a region name such as us-east-1", c.Region)
	}
	return nil
}

// Load reads the SDK configuration. task may be nil (no metadata).
func Load(ctx context.Context, c Config, task *metadata.Task) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
	}
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("AWS configuration: %w", err)
	}
	if cfg.Region == "" && task != nil {
		cfg.Region = TaskOf(task).Region
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("AWS sinks: no region: set --aws-region (SIDEWATCH_AWS_REGION) or AWS_REGION; task metadata gave none")
	}
	return cfg, nil
}

// Task names the task in stream names and object keys.
type Task struct {
	Cluster, ID, Region, Account string
}

// TaskOf reads the task's identity from its metadata (nil: unknown, and
// the ID falls back to the host name).
func TaskOf(t *metadata.Task) Task {
	var out Task
	if t != nil {
		out.Cluster = t.ClusterName()
		// arn:aws:ecs:us-east-1:123456789012:task/cluster/0123abcd (or task/0123abcd)
		parts := strings.SplitN(t.TaskARN, ":", 6)
		if len(parts) == 6 && parts[0] == "arn" {
			out.Region, out.Account = parts[3], parts[4]
			res := parts[5]
			out.ID = res[strings.LastIndexByte(res, '/')+1:]
		}
	}
	if out.ID == "" {
		out.ID, _ = os.Hostname()
	}
	if out.ID == "" {
		out.ID = "unknown"
	}
	if out.Cluster == "" {
		out.Cluster = "unknown"
	}
	return out
}
