package taskdefs

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
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
// Logs outputs.
type IAMNeeds struct {
	TaskRole      string // taskRoleArn; "" when the task has none
	ExecutionRole string
	Groups        []LogGroup
	// Migrated are the containers this inject moved from awslogs: their
	// logs were written with the execution role until now.
	Migrated []string
}

// templatePartRE-style placeholders become wildcards in ARNs.
func arnPart(s string) string {
	out := templateRE.ReplaceAllString(s, "*")
	if out == "" {
		return "*"
	}
	return out
}

// cloudWatchOutputs lists the FireLens CloudWatch Logs groups of a task.
func cloudWatchGroups(def *Object) []LogGroup {
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
		g := LogGroup{Name: arnPart(name), Region: arnPart(o.String("region")), Create: strings.EqualFold(o.String("auto_create_group"), "true") || o.String("auto_create_group") == "On"}
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

func newIAMNeeds(def *Object, migrated []string) *IAMNeeds {
	gs := cloudWatchGroups(def)
	if len(gs) == 0 {
		return nil
	}
	return &IAMNeeds{TaskRole: def.String("taskRoleArn"), ExecutionRole: def.String("executionRoleArn"), Groups: gs, Migrated: migrated}
}

// arnAccount returns the partition and account of a role ARN, or "aws"
// and "*".
func arnAccount(role string) (partition, account string) {
	p := strings.Split(role, ":")
	if len(p) >= 5 && p[0] == "arn" && p[1] != "" && p[4] != "" {
		return p[1], p[4]
	}
	return "aws", "*"
}

// policyStatement is one IAM statement.
type policyStatement struct {
	Sid      string   `json:"Sid"`
	Effect   string   `json:"Effect"`
	Action   []string `json:"Action"`
	Resource []string `json:"Resource"`
}

// Statements are what the task role needs: writing streams in every
// group, and creating the groups that auto_create_group creates.
func (n *IAMNeeds) Statements() []policyStatement {
	role := n.TaskRole
	if role == "" {
		role = n.ExecutionRole
	}
	partition, account := arnAccount(role)
	var write, create []string
	for _, g := range n.Groups {
		base := fmt.Sprintf("arn:%s:logs:%s:%s:log-group:%s", partition, g.Region, account, g.Name)
		write = append(write, base, base+":*")
		if g.Create {
			create = append(create, base, base+":*")
		}
	}
	st := []policyStatement{{
		Sid: "SidewatchFireLensWriteLogs", Effect: "Allow",
		Action:   []string{"logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"},
		Resource: write,
	}}
	if len(create) > 0 {
		st = append(st, policyStatement{
			Sid: "SidewatchFireLensCreateLogGroups", Effect: "Allow",
			Action: []string{"logs:CreateLogGroup"}, Resource: create,
		})
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
	var groups []string
	for _, g := range n.Groups {
		groups = append(groups, g.Name)
	}
	role := n.TaskRole
	if role == "" {
		role = "(none: add taskRoleArn)"
	}
	st, _ := json.Marshal(n.Statements())
	who := "the log_router writes CloudWatch Logs"
	if len(n.Migrated) > 0 {
		who = fmt.Sprintf("%s moved from awslogs (written with the execution role) to FireLens: the log_router now writes their logs", strings.Join(n.Migrated, ", "))
	}
	return fmt.Sprintf("%s to %s with the task role %s, which must allow: %s", who, strings.Join(groups, ", "), role, st)
}
