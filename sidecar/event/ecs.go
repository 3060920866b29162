package event

// ECS identifies the Amazon ECS task and container an event belongs to,
// written as the top-level object aws_ecs: a top-level "ecs" means Elastic
// Common Schema to Elastic's pipelines (ecs.version) and is not in
// Suricata's schema. The pipeline fills the task fields; producers set
// Container when they know it.
type ECS struct {
	Cluster          string    `json:"cluster,omitempty"`
	TaskARN          string    `json:"task_arn,omitempty"`
	Family           string    `json:"family,omitempty"`
	Revision         string    `json:"revision,omitempty"`
	AvailabilityZone string    `json:"availability_zone,omitempty"`
	LaunchType       string    `json:"launch_type,omitempty"`
	Container        Container `json:"container,omitzero"`
}

// Container is one container of the task.
type Container struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

func (c *ECS) appendJSON(dst []byte) []byte {
	dst = append(dst, `,"aws_ecs":{`...)
	start := len(dst)
	dst = appendStringField(dst, "cluster", c.Cluster)
	dst = appendStringField(dst, "task_arn", c.TaskARN)
	dst = appendStringField(dst, "family", c.Family)
	dst = appendStringField(dst, "revision", c.Revision)
	dst = appendStringField(dst, "availability_zone", c.AvailabilityZone)
	dst = appendStringField(dst, "launch_type", c.LaunchType)
	if c.Container != (Container{}) {
		dst = append(dst, `,"container":{`...)
		cstart := len(dst)
		dst = appendStringField(dst, "id", c.Container.ID)
		dst = appendStringField(dst, "name", c.Container.Name)
		dst = closeObject(dst, cstart)
	}
	return closeObject(dst, start)
}

// AppendMember appends the `,"aws_ecs":{…}` member exactly as Event.Append
// writes it, or nothing for a zero ECS. Event.Append writes it last, so an
// encoder may append an event without its ECS, drop the closing brace and
// append a member it encoded before: the pipeline does, since consecutive
// events mostly share their task and container.
func (c *ECS) AppendMember(dst []byte) []byte {
	if *c == (ECS{}) {
		return dst
	}
	return c.appendJSON(dst)
}
