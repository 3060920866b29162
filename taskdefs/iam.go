package taskdefs

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/sidewatch/sidewatch/sidecar/sink/awscfg"
	"github.com/sidewatch/sidewatch/sidecar/sink/cloudwatch"
	"github.com/sidewatch/sidewatch/sidecar/sink/firehose"
	"github.com/sidewatch/sidewatch/sidecar/sink/s3"
)

// With awslogs, the container runtime writes to CloudWatch Logs with the
// task's execution role (on EC2 without one, the instance's role). With
// FireLens, the log_router's Fluent Bit writes, with the task role. After
// inject moves a container from awslogs to FireLens, the task role must
// allow what the execution role allowed, or the logs stop silently.

// LogGroup is a CloudWatch Logs group the log_router writes to.
type LogGroup struct {
	Name       string   // with templates replaced by *
	Region     string   // "*" when the router resolves it at run time
	Create     bool     // auto_create_group
	Containers []string // whose logs go there
}

// IAMNeeds is what the task role needs for the log_router's CloudWatch
// Logs outputs and the sidecar's AWS sinks.
type IAMNeeds struct {
	TaskRole      string // taskRoleArn; "" when the task has none
	ExecutionRole string
	Groups        []LogGroup
	// Migrated are the containers this inject moved from awslogs: their
	// logs were written with the execution role until now.
	Migrated []string
	// SinksChanged says that inject changed the sidecar's sink
	// configuration, so the task role may need new permissions.
	SinksChanged bool
	// TaskRegion is the task's region, "" when unknown.
	TaskRegion string

	sinks *sinkConfig // the sidecar's AWS sinks; nil for none
}

// templatePartRE-style placeholders become wildcards in ARNs.
func arnPart(s string) string {
	out := templateRE.ReplaceAllString(s, "*")
	if out == "" {
		return "*"
	}
	return out
}

// cloudWatchGroups lists the FireLens CloudWatch Logs groups of a task.
func cloudWatchGroups(def *Object, taskRegion string) []LogGroup {
	var gs []LogGroup
	for _, c := range containers(def) {
		lc := c.Object("logConfiguration")
		if lc.String("logDriver") != "awsfirelens" {
			continue
		}
		o := lc.Object("options")
		if !isCloudWatchPlugin(o.String("Name")) {
			continue
		}
		name := o.String("log_group_name")
		if t := o.String("log_group_template"); t != "" {
			name = "*"
		}
		region := o.String("region")
		if region == "${AWS_REGION}" && taskRegion != "" {
			region = taskRegion // what Fargate (or fluent-launch --ecs-env) sets
		}
		g := LogGroup{Name: arnPart(name), Region: arnPart(region), Create: strings.EqualFold(o.String("auto_create_group"), "true") || o.String("auto_create_group") == "On"}
		i := slices.IndexFunc(gs, func(x LogGroup) bool { return x.Name == g.Name && x.Region == g.Region })
		if i < 0 {
			gs = append(gs, g)
			i = len(gs) - 1
		}
		gs[i].Create = gs[i].Create || g.Create
		gs[i].Containers = append(gs[i].Containers, c.String("name"))
	}
	return gs
}

// newIAMNeeds returns what the task role needs, nil for nothing. sinks
// are the sidecar's AWS sinks (nil: none).
func newIAMNeeds(def *Object, migrated []string, sinks *sinkConfig, taskRegion string) *IAMNeeds {
	gs := cloudWatchGroups(def, taskRegion)
	if len(gs) == 0 && sinks == nil {
		return nil
	}
	return &IAMNeeds{TaskRole: def.String("taskRoleArn"), ExecutionRole: def.String("executionRoleArn"), Groups: gs, Migrated: migrated, TaskRegion: taskRegion, sinks: sinks}
}

// arnAccount returns the partition and account of a role ARN, or "aws"
// and "*". The role is in the task's account, where its logs, streams
// and keys are.
func arnAccount(role string) (partition, account string) {
	p := strings.Split(role, ":")
	if len(p) >= 5 && p[0] == "arn" && p[1] != "" && p[4] != "" {
		return p[1], p[4]
	}
	return "aws", "*"
}

// regionPartition is the partition of a region, for ARNs when no role
// tells it.
func regionPartition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// policyStatement is one IAM statement.
type policyStatement struct {
	Sid       string                       `json:"Sid"`
	Effect    string                       `json:"Effect"`
	Action    []string                     `json:"Action"`
	Resource  []string                     `json:"Resource"`
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

// role is the role whose partition and account the ARNs use.
func (n *IAMNeeds) role() string {
	if n.TaskRole != "" {
		return n.TaskRole
	}
	return n.ExecutionRole
}

// Statements are what the task role needs: for the log_router, writing
// streams in every group and creating the groups that auto_create_group
// creates; for the sidecar's sinks, what sinkStatements says.
func (n *IAMNeeds) Statements() []policyStatement {
	partition, account := arnAccount(n.role())
	if n.role() == "" {
		partition = regionPartition(n.TaskRegion)
	}
	var write, create []string
	for _, g := range n.Groups {
		base := fmt.Sprintf("arn:%s:logs:%s:%s:log-group:%s", partition, g.Region, account, g.Name)
		write = append(write, base, base+":*")
		if g.Create {
			create = append(create, base, base+":*")
		}
	}
	var st []policyStatement
	if len(write) > 0 {
		st = append(st, policyStatement{
			Sid: "SidewatchFireLensWriteLogs", Effect: "Allow",
			Action:   []string{"logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"},
			Resource: write,
		})
	}
	if len(create) > 0 {
		st = append(st, policyStatement{
			Sid: "SidewatchFireLensCreateLogGroups", Effect: "Allow",
			Action: []string{"logs:CreateLogGroup"}, Resource: create,
		})
	}
	return append(st, n.sinkStatements(partition, account)...)
}

// sinkRegion is the region of the sidecar's AWS sinks as the task
// definition tells it: SIDEWATCH_AWS_REGION, else the task's; "*" when
// neither is known (the sidecar then takes the task's region at start).
func (n *IAMNeeds) sinkRegion() string {
	switch {
	case n.sinks.unknown["SIDEWATCH_AWS_REGION"]:
		return "*"
	case n.sinks.AWS.Region != "":
		return n.sinks.AWS.Region
	case n.TaskRegion != "":
		return n.TaskRegion
	}
	return "*"
}

// sinkName is the value of a sink variable for an ARN: * when the task
// definition does not show it (secrets).
func (n *IAMNeeds) sinkName(env, value string) string {
	if n.sinks.unknown[env] {
		return "*"
	}
	return value
}

// sinkStatements are what the sidecar's AWS sinks call, exactly: the s3
// sink one PutObject per object (with SSE-KMS, S3 asks KMS for a data key
// with the task role's credentials); the cloudwatch sink CreateLogStream
// for its one stream, PutLogEvents, and CreateLogGroup only with
// --cloudwatch-create-group; the firehose sink PutRecordBatch.
func (n *IAMNeeds) sinkStatements(partition, account string) []policyStatement {
	c := n.sinks
	if c == nil {
		return nil
	}
	region := n.sinkRegion()
	var st []policyStatement
	if c.has(s3.Name) {
		object := "arn:" + partition + ":s3:::" + n.sinkName("SIDEWATCH_S3_BUCKET", c.S3.Bucket) + "/"
		if p := strings.Trim(n.sinkName("SIDEWATCH_S3_PREFIX", c.S3.Prefix), "/"); p != "" {
			object += p + "/"
		}
		st = append(st, policyStatement{Sid: "SidewatchSinkS3PutObject", Effect: "Allow", Action: []string{"s3:PutObject"}, Resource: []string{object + "*"}})
		if c.S3.KMSKeyID != "" || c.unknown["SIDEWATCH_S3_KMS_KEY_ID"] {
			keyRegion := region
			if c.S3.Region != "" && !c.unknown["SIDEWATCH_S3_REGION"] {
				keyRegion = c.S3.Region // the key is in the bucket's region
			}
			st = append(st, kmsStatement(partition, keyRegion, account, n.sinkName("SIDEWATCH_S3_KMS_KEY_ID", c.S3.KMSKeyID)))
		}
	}
	if c.has(cloudwatch.Name) {
		group := fmt.Sprintf("arn:%s:logs:%s:%s:log-group:%s", partition, region, account, n.sinkName("SIDEWATCH_CLOUDWATCH_LOG_GROUP", c.CloudWatch.LogGroup))
		stream := n.sinkName("SIDEWATCH_CLOUDWATCH_LOG_STREAM", c.CloudWatch.LogStream)
		if stream == "" {
			stream = c.CloudWatch.Stream(awscfg.Task{ID: "*"}) // one per task
		}
		// Both calls are authorised on the stream's ARN.
		st = append(st, policyStatement{Sid: "SidewatchSinkCloudWatchWrite", Effect: "Allow",
			Action: []string{"logs:CreateLogStream", "logs:PutLogEvents"}, Resource: []string{group + ":log-stream:" + stream}})
		if c.CloudWatch.CreateGroup || c.unknown["SIDEWATCH_CLOUDWATCH_CREATE_GROUP"] {
			// Authorised on GROUP:log-stream: (as AccessDenied messages
			// name it), which GROUP:* matches.
			st = append(st, policyStatement{Sid: "SidewatchSinkCloudWatchCreateGroup", Effect: "Allow",
				Action: []string{"logs:CreateLogGroup"}, Resource: []string{group, group + ":*"}})
		}
	}
	if c.has(firehose.Name) {
		st = append(st, policyStatement{Sid: "SidewatchSinkFirehosePut", Effect: "Allow", Action: []string{"firehose:PutRecordBatch"},
			Resource: []string{fmt.Sprintf("arn:%s:firehose:%s:%s:deliverystream/%s", partition, region, account, n.sinkName("SIDEWATCH_FIREHOSE_DELIVERY_STREAM", c.Firehose.DeliveryStream))}})
	}
	return st
}

// kmsStatement lets S3 generate data keys under key (an id, an alias, or
// the ARN of either) for the task role. KMS authorises a request on the
// key's ARN even when it names an alias, so an alias becomes every key
// of the account and region with that alias (kms:ResourceAliases).
func kmsStatement(partition, region, account, key string) policyStatement {
	st := policyStatement{Sid: "SidewatchSinkS3KMS", Effect: "Allow", Action: []string{"kms:GenerateDataKey"}}
	alias := ""
	if p := strings.SplitN(key, ":", 6); len(p) == 6 && p[0] == "arn" {
		partition, region, account = p[1], p[3], p[4]
		key = p[5] // key/ID or alias/NAME
	}
	switch {
	case strings.HasPrefix(key, "alias/"):
		alias, key = key, "*"
	default:
		key = strings.TrimPrefix(key, "key/")
	}
	st.Resource = []string{fmt.Sprintf("arn:%s:kms:%s:%s:key/%s", partition, region, account, key)}
	if alias != "" {
		st.Condition = map[string]map[string]string{"ForAnyValue:StringEquals": {"kms:ResourceAliases": alias}}
	}
	return st
}

// PolicyJSON is an IAM policy document for the task role, for
// infrastructure code.
func (n *IAMNeeds) PolicyJSON() []byte {
	doc := struct {
		Version   string            `json:"Version"`
		Statement []policyStatement `json:"Statement"`
	}{"2012-10-17", n.Statements()}
	b, _ := json.MarshalIndent(doc, "", "  ") // strings only: always encodes
	return append(b, '\n')
}

// Summary is one line for the user: who writes where now, and what the
// role needs.
func (n *IAMNeeds) Summary() string {
	var who []string
	if len(n.Groups) > 0 {
		var groups []string
		for _, g := range n.Groups {
			groups = append(groups, g.Name)
		}
		w := "the log_router writes CloudWatch Logs"
		if len(n.Migrated) > 0 {
			w = fmt.Sprintf("%s moved from awslogs (written with the execution role) to FireLens: the log_router now writes their logs", strings.Join(n.Migrated, ", "))
		}
		who = append(who, w+" to "+strings.Join(groups, ", "))
	}
	if n.sinks != nil {
		who = append(who, "the sidecar's "+n.sinkSummary())
	}
	role := n.TaskRole
	if role == "" {
		role = "(none: add taskRoleArn)"
	}
	st, _ := json.Marshal(n.Statements())
	s := fmt.Sprintf("%s with the task role %s, which must allow: %s", strings.Join(who, ", and "), role, st)
	if n.sinks != nil && n.sinkRegion() == "*" {
		s += "; the sinks' ARNs say region * because the task definition does not tell the task's region: pass --aws-region (SIDEWATCH_AWS_REGION), or inject describe-task-definition's output, to name it"
	}
	return s
}

// sinkSummary says where the sidecar's AWS sinks write.
func (n *IAMNeeds) sinkSummary() string {
	c := n.sinks
	var where []string
	for _, s := range c.awsSinks() {
		switch s {
		case s3.Name:
			prefix := strings.Trim(n.sinkName("SIDEWATCH_S3_PREFIX", c.S3.Prefix), "/")
			if prefix != "" {
				prefix += "/"
			}
			where = append(where, fmt.Sprintf("s3 sink writes to s3://%s/%s", n.sinkName("SIDEWATCH_S3_BUCKET", c.S3.Bucket), prefix))
		case cloudwatch.Name:
			where = append(where, fmt.Sprintf("cloudwatch sink to the log group %s", n.sinkName("SIDEWATCH_CLOUDWATCH_LOG_GROUP", c.CloudWatch.LogGroup)))
		case firehose.Name:
			where = append(where, fmt.Sprintf("firehose sink to the delivery stream %s", n.sinkName("SIDEWATCH_FIREHOSE_DELIVERY_STREAM", c.Firehose.DeliveryStream)))
		}
	}
	return strings.Join(where, ", ")
}
