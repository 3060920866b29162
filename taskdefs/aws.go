package taskdefs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// AWSConfig selects the account, region and endpoint, on top of the
// standard AWS configuration (environment, shared config, container and
// instance credentials).
type AWSConfig struct {
	Region      string
	Profile     string
	EndpointURL string
}

// NewECS returns an ECS client for cfg.
func NewECS(ctx context.Context, cfg AWSConfig) (*ecs.Client, error) {
	var loads []func(*config.LoadOptions) error
	if cfg.Region != "" {
		loads = append(loads, config.WithRegion(cfg.Region))
	}
	if cfg.Profile != "" {
		loads = append(loads, config.WithSharedConfigProfile(cfg.Profile))
	}
	ac, err := config.LoadDefaultConfig(ctx, loads...)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	if ac.Region == "" {
		return nil, errors.New("no AWS region: set --region, AWS_REGION or a profile's region")
	}
	return ecs.NewFromConfig(ac, func(o *ecs.Options) {
		if cfg.EndpointURL != "" {
			o.BaseEndpoint = aws.String(cfg.EndpointURL)
		}
	}), nil
}

// Register registers def (tags included) as a new revision of its family
// and returns the new task definition ARN.
func Register(ctx context.Context, client *ecs.Client, def *Object) (string, error) {
	in, err := registerInput(def)
	if err != nil {
		return "", err
	}
	out, err := client.RegisterTaskDefinition(ctx, in)
	if err != nil {
		return "", fmt.Errorf("register task definition %s: %w", def.String("family"), err)
	}
	if out.TaskDefinition == nil || out.TaskDefinition.TaskDefinitionArn == nil {
		return "", fmt.Errorf("register task definition %s: response has no ARN", def.String("family"))
	}
	return *out.TaskDefinition.TaskDefinitionArn, nil
}

// registerInput converts the document into the SDK's input. The SDK types
// carry no JSON tags, and encoding/json matches field names without regard
// to case, which is exactly the API's camelCase. Unknown fields are an
// error rather than silently not registered.
func registerInput(def *Object) (*ecs.RegisterTaskDefinitionInput, error) {
	b, err := Encode(def)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var in ecs.RegisterTaskDefinitionInput
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("convert task definition %s for the ECS API (a field this sidewatch's AWS SDK does not know?): %w", def.String("family"), err)
	}
	return &in, nil
}

// Current returns the task definition a service runs, in the register
// shape, tags included, with fields and key order exactly as ECS sent them,
// and its ARN.
func Current(ctx context.Context, client *ecs.Client, cluster, service string) (*Object, string, error) {
	ds, err := client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{service}})
	if err != nil {
		return nil, "", fmt.Errorf("describe service %s in cluster %s: %w", service, cluster, err)
	}
	if len(ds.Services) == 0 {
		reason := "no reason given"
		if len(ds.Failures) > 0 && ds.Failures[0].Reason != nil {
			reason = *ds.Failures[0].Reason
		}
		return nil, "", fmt.Errorf("describe service %s in cluster %s: not found (%s)", service, cluster, reason)
	}
	arn := aws.ToString(ds.Services[0].TaskDefinition)
	if arn == "" {
		return nil, "", fmt.Errorf("service %s in cluster %s has no task definition", service, cluster)
	}
	def, err := Describe(ctx, client, arn)
	return def, arn, err
}

// Describe returns a task definition in the register shape, tags
// included, with fields and key order exactly as ECS sent them.
func Describe(ctx context.Context, client *ecs.Client, taskDefinition string) (*Object, error) {
	// Keep the raw response: the SDK's structs would lose key order and
	// any field newer than the SDK.
	raw := &recordingClient{}
	_, err := client.DescribeTaskDefinition(ctx,
		&ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(taskDefinition), Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags}},
		func(o *ecs.Options) { raw.next = o.HTTPClient; o.HTTPClient = raw })
	if err != nil {
		return nil, fmt.Errorf("describe task definition %s: %w", taskDefinition, err)
	}
	def, err := Read(raw.body)
	if err != nil {
		return nil, fmt.Errorf("task definition %s: %w", taskDefinition, err)
	}
	return def, nil
}

// recordingClient keeps the body of the last response it passed on.
type recordingClient struct {
	next ecs.HTTPClient
	body []byte
}

func (c *recordingClient) Do(req *http.Request) (*http.Response, error) {
	resp, err := c.next.Do(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	c.body = body
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// UpdateService points the service at a task definition.
func UpdateService(ctx context.Context, client *ecs.Client, cluster, service, taskDefinitionARN string) error {
	_, err := client.UpdateService(ctx, &ecs.UpdateServiceInput{
		Cluster: aws.String(cluster), Service: aws.String(service), TaskDefinition: aws.String(taskDefinitionARN),
	})
	if err != nil {
		return fmt.Errorf("update service %s in cluster %s: %w", service, cluster, err)
	}
	return nil
}

// WaitStable polls the service every interval until its only deployment
// is the one running taskDefinitionARN with every task running, writing
// each change of state to progress.
func WaitStable(ctx context.Context, client *ecs.Client, cluster, service, taskDefinitionARN string, interval time.Duration, progress io.Writer) error {
	last := ""
	for {
		ds, err := client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{service}})
		if err != nil {
			return fmt.Errorf("describe service %s in cluster %s: %w", service, cluster, err)
		}
		if len(ds.Services) == 0 {
			return fmt.Errorf("service %s in cluster %s disappeared", service, cluster)
		}
		s := ds.Services[0]
		var primary *types.Deployment
		for i := range s.Deployments {
			if aws.ToString(s.Deployments[i].Status) == "PRIMARY" {
				primary = &s.Deployments[i]
			}
		}
		state := "no primary deployment yet"
		if primary != nil {
			state = fmt.Sprintf("deployment %s: %d/%d running, %d pending, %d deployments, rollout %s",
				aws.ToString(primary.Id), primary.RunningCount, primary.DesiredCount, primary.PendingCount, len(s.Deployments), orNone(string(primary.RolloutState)))
		}
		if state != last {
			fmt.Fprintln(progress, state)
			last = state
		}
		if primary != nil {
			if primary.RolloutState == types.DeploymentRolloutStateFailed {
				return fmt.Errorf("deployment %s failed: %s", aws.ToString(primary.Id), aws.ToString(primary.RolloutStateReason))
			}
			if td := aws.ToString(s.TaskDefinition); td != taskDefinitionARN {
				return fmt.Errorf("service %s now runs %s, not %s: another deployment started", service, td, taskDefinitionARN)
			}
			if len(s.Deployments) == 1 && primary.RunningCount == primary.DesiredCount && primary.PendingCount == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for service %s: %w", service, ctx.Err())
		case <-time.After(interval):
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
