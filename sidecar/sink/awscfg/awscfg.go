// Package awscfg builds the AWS SDK configuration that the AWS sinks share:
// credentials from the standard chain's sources that exist in a container
// (environment keys, then the container credentials endpoint, which is the
// task role on ECS and Fargate, then EC2 instance metadata), the region
// from --aws-region, AWS_REGION or AWS_DEFAULT_REGION, else the task's
// region from its metadata, and no SDK retries: the sinks retry on their
// own, without the SDK's client-wide retry budget.
//
// It does not use the SDK's config package: shared config files, SSO and
// assume-role profiles have no use in a task, and that package's STS, SSO
// and sign-in clients cost the sidecar binary about 1 MB (measured), which
// the image's 20 MiB budget does not have.
package awscfg

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"

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

// Load builds the SDK configuration. task may be nil (no metadata).
func Load(c Config, task *metadata.Task) (aws.Config, error) {
	region := c.Region
	for _, env := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if region == "" {
			region = os.Getenv(env)
		}
	}
	if region == "" && task != nil {
		region = TaskOf(task).Region
	}
	if region == "" {
		return aws.Config{}, errors.New("AWS sinks: no region: set --aws-region (SIDEWATCH_AWS_REGION) or AWS_REGION; task metadata gave none")
	}
	httpClient := awshttp.NewBuildableClient()
	creds, err := chain(httpClient)
	if err != nil {
		return aws.Config{}, err
	}
	return aws.Config{
		Region:      region,
		Credentials: aws.NewCredentialsCache(creds),
		HTTPClient:  httpClient,
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}, nil
}

// containerHost is where ECS and Fargate serve AWS_CONTAINER_CREDENTIALS_RELATIVE_URI.
const containerHost = "http://169.254.170.2"

// chain picks the credentials source as the SDK's default chain would
// among those a container can have.
func chain(client aws.HTTPClient) (aws.CredentialsProvider, error) {
	if id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
		return credentials.NewStaticCredentialsProvider(id, secret, os.Getenv("AWS_SESSION_TOKEN")), nil
	}
	if rel := os.Getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"); rel != "" {
		return endpointcreds.New(containerHost+rel, func(o *endpointcreds.Options) { o.HTTPClient = client }), nil
	}
	if full := os.Getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI"); full != "" {
		u, err := url.Parse(full)
		if err != nil || !allowedFullURIHost(u) {
			return nil, fmt.Errorf("AWS_CONTAINER_CREDENTIALS_FULL_URI %q: only loopback, 169.254.170.2 and 169.254.170.23 are accepted, as by the AWS SDKs", full)
		}
		return endpointcreds.New(full, func(o *endpointcreds.Options) {
			o.HTTPClient = client
			if f := os.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"); f != "" {
				o.AuthorizationTokenProvider = endpointcreds.TokenProviderFunc(func() (string, error) {
					b, err := os.ReadFile(f)
					return strings.TrimSpace(string(b)), err
				})
			} else {
				o.AuthorizationToken = os.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN")
			}
		}), nil
	}
	return ec2rolecreds.New(), nil
}

func allowedFullURIHost(u *url.URL) bool {
	if u.Scheme == "https" {
		return true
	}
	switch h := u.Hostname(); h {
	case "localhost", "169.254.170.2", "169.254.170.23", "fd00:ec2::23":
		return true
	default:
		ip := net.ParseIP(h)
		return ip != nil && ip.IsLoopback()
	}
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
