package metadata

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Task is the parsed response of ${ECS_CONTAINER_METADATA_URI_V4}/task. It is
// immutable once returned: the Watcher shares one value between goroutines.
type Task struct {
	// Cluster is the cluster as the endpoint gives it: an ARN on Fargate, a
	// name on EC2. ClusterName returns the name in both cases.
	Cluster          string
	ServiceName      string // empty unless the task belongs to a service
	TaskARN          string
	Family           string
	Revision         string // a string in TMDE v4, e.g. "5"
	DesiredStatus    string
	KnownStatus      string
	AvailabilityZone string
	LaunchType       string // "FARGATE" or "EC2"; empty on old agents
	VPCID            string // EC2 only
	// Limits are task-level: CPU in vCPU (0.25), memory in MiB.
	Limits             Limits
	PullStartedAt      time.Time
	PullStoppedAt      time.Time
	ExecutionStoppedAt time.Time // set once the task is stopping
	ClockDrift         ClockDrift
	Containers         []Container
}

// Limits are resource limits. Task-level CPU is in vCPU, container-level CPU
// in CPU units (1024 per vCPU): TMDE uses the same field name for both.
type Limits struct {
	CPU    float64
	Memory int64 // MiB
}

// ClockDrift is the task's clock accuracy as reported by Fargate.
type ClockDrift struct {
	ClockErrorBound            float64 // milliseconds
	ReferenceTimestamp         time.Time
	ClockSynchronizationStatus string
}

// Container is one container of the task.
type Container struct {
	// DockerID is the runtime id: <32-hex task id>-<10 digits> on Fargate,
	// 64 hex characters on EC2. It is empty until the container is created.
	DockerID string
	// Name is the container name from the task definition.
	Name string
	// DockerName is the runtime name (on EC2 "ecs-<family>-<rev>-<name>-<hex>").
	DockerName    string
	Image         string
	ImageID       string
	Labels        map[string]string
	DesiredStatus string
	KnownStatus   string
	ExitCode      *int // nil until the container has exited
	Limits        Limits
	CreatedAt     time.Time
	StartedAt     time.Time
	FinishedAt    time.Time
	Type          string // NORMAL, or an ECS-managed type
	ContainerARN  string
	LogDriver     string
	LogOptions    map[string]string
	Networks      []Network
}

// Network is one network attachment of a container. In awsvpc mode every
// container of the task shows the same task ENI.
type Network struct {
	NetworkMode   string // awsvpc, bridge, host
	IPv4Addresses []netip.Addr
	IPv6Addresses []netip.Addr
	// MACAddress identifies the task ENI inside the task network namespace
	// (the capture interface); nil when the endpoint gives none.
	MACAddress      net.HardwareAddr
	AttachmentIndex int
	IPv4Subnet      netip.Prefix
	IPv6Subnet      netip.Prefix
	// SubnetGatewayIPv4 is the gateway address with the subnet's prefix
	// length: TMDE writes it as a CIDR ("172.31.32.1/20").
	SubnetGatewayIPv4    netip.Prefix
	PrivateDNSName       string
	DomainNameServers    []string
	DomainNameSearchList []string
}

// ClusterName returns the cluster name: the part after the last '/' of the
// cluster ARN, or Cluster itself when it is not an ARN.
func (t *Task) ClusterName() string {
	if !strings.HasPrefix(t.Cluster, "arn:") {
		return t.Cluster
	}
	if i := strings.LastIndexByte(t.Cluster, '/'); i >= 0 {
		return t.Cluster[i+1:]
	}
	return t.Cluster
}

// ENIs returns the task's distinct network attachments that have a MAC
// address, in order of appearance. In awsvpc mode (all of Fargate) every
// container lists the same task ENI, so there is one; its MACAddress
// identifies the capture interface inside the task's network namespace.
func (t *Task) ENIs() []Network {
	var out []Network
	for _, c := range t.Containers {
		for _, n := range c.Networks {
			if len(n.MACAddress) == 0 || slices.ContainsFunc(out, func(o Network) bool { return bytes.Equal(o.MACAddress, n.MACAddress) }) {
				continue
			}
			out = append(out, n)
		}
	}
	return out
}

// maxTaskBody bounds the /task response. Real ones are a few KiB per
// container.
const maxTaskBody = 4 << 20

// The wire types mirror the endpoint's JSON; ParseTask converts and checks
// them so that the exported types carry parsed addresses.
type (
	wireTask struct {
		Cluster            string
		ServiceName        string
		TaskARN            string
		Family             string
		Revision           string
		DesiredStatus      string
		KnownStatus        string
		AvailabilityZone   string
		LaunchType         string
		VPCID              string
		Limits             Limits
		PullStartedAt      wireTime
		PullStoppedAt      wireTime
		ExecutionStoppedAt wireTime
		ClockDrift         struct {
			ClockErrorBound            float64
			ReferenceTimestamp         wireTime
			ClockSynchronizationStatus string
		}
		Containers []wireContainer
	}
	wireContainer struct {
		DockerID      string `json:"DockerId"`
		Name          string
		DockerName    string
		Image         string
		ImageID       string
		Labels        map[string]string
		DesiredStatus string
		KnownStatus   string
		ExitCode      *int
		Limits        Limits
		CreatedAt     wireTime
		StartedAt     wireTime
		FinishedAt    wireTime
		Type          string
		ContainerARN  string
		LogDriver     string
		LogOptions    map[string]string
		Networks      []wireNetwork
	}
	wireNetwork struct {
		NetworkMode              string
		IPv4Addresses            []string
		IPv6Addresses            []string
		AttachmentIndex          int
		MACAddress               string
		IPv4SubnetCIDRBlock      string
		IPv6SubnetCIDRBlock      string
		SubnetGatewayIpv4Address string
		PrivateDNSName           string
		DomainNameServers        []string
		DomainNameSearchList     []string
	}
)

// wireTime accepts RFC 3339 timestamps, "" and null (absent times).
type wireTime struct{ time.Time }

func (t *wireTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" || string(b) == `""` {
		t.Time = time.Time{}
		return nil
	}
	return t.Time.UnmarshalJSON(b)
}

// ParseTask parses a TMDE v4 /task response. Unknown fields are ignored;
// malformed addresses, a missing TaskARN and trailing data are errors.
func ParseTask(data []byte) (*Task, error) {
	var w wireTask
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("decode task metadata: %w", err)
	}
	if w.TaskARN == "" {
		return nil, errors.New("task metadata has no TaskARN")
	}
	t := &Task{
		Cluster:            w.Cluster,
		ServiceName:        w.ServiceName,
		TaskARN:            w.TaskARN,
		Family:             w.Family,
		Revision:           w.Revision,
		DesiredStatus:      w.DesiredStatus,
		KnownStatus:        w.KnownStatus,
		AvailabilityZone:   w.AvailabilityZone,
		LaunchType:         w.LaunchType,
		VPCID:              w.VPCID,
		Limits:             w.Limits,
		PullStartedAt:      w.PullStartedAt.Time,
		PullStoppedAt:      w.PullStoppedAt.Time,
		ExecutionStoppedAt: w.ExecutionStoppedAt.Time,
		ClockDrift: ClockDrift{
			ClockErrorBound:            w.ClockDrift.ClockErrorBound,
			ReferenceTimestamp:         w.ClockDrift.ReferenceTimestamp.Time,
			ClockSynchronizationStatus: w.ClockDrift.ClockSynchronizationStatus,
		},
		Containers: make([]Container, 0, len(w.Containers)),
	}
	for i, wc := range w.Containers {
		c := Container{
			DockerID:      wc.DockerID,
			Name:          wc.Name,
			DockerName:    wc.DockerName,
			Image:         wc.Image,
			ImageID:       wc.ImageID,
			Labels:        wc.Labels,
			DesiredStatus: wc.DesiredStatus,
			KnownStatus:   wc.KnownStatus,
			ExitCode:      wc.ExitCode,
			Limits:        wc.Limits,
			CreatedAt:     wc.CreatedAt.Time,
			StartedAt:     wc.StartedAt.Time,
			FinishedAt:    wc.FinishedAt.Time,
			Type:          wc.Type,
			ContainerARN:  wc.ContainerARN,
			LogDriver:     wc.LogDriver,
			LogOptions:    wc.LogOptions,
		}
		for j, wn := range wc.Networks {
			n, err := wn.parse()
			if err != nil {
				return nil, fmt.Errorf("container %d (%q) network %d: %w", i, wc.Name, j, err)
			}
			c.Networks = append(c.Networks, n)
		}
		t.Containers = append(t.Containers, c)
	}
	return t, nil
}

func (wn wireNetwork) parse() (Network, error) {
	n := Network{
		NetworkMode:          wn.NetworkMode,
		AttachmentIndex:      wn.AttachmentIndex,
		PrivateDNSName:       wn.PrivateDNSName,
		DomainNameServers:    wn.DomainNameServers,
		DomainNameSearchList: wn.DomainNameSearchList,
	}
	var err error
	if n.IPv4Addresses, err = parseAddrs("IPv4Addresses", wn.IPv4Addresses); err != nil {
		return Network{}, err
	}
	if n.IPv6Addresses, err = parseAddrs("IPv6Addresses", wn.IPv6Addresses); err != nil {
		return Network{}, err
	}
	if wn.MACAddress != "" {
		if n.MACAddress, err = net.ParseMAC(wn.MACAddress); err != nil {
			return Network{}, fmt.Errorf("MACAddress: %w", err)
		}
	}
	if n.IPv4Subnet, err = parsePrefix("IPv4SubnetCIDRBlock", wn.IPv4SubnetCIDRBlock); err != nil {
		return Network{}, err
	}
	if n.IPv6Subnet, err = parsePrefix("IPv6SubnetCIDRBlock", wn.IPv6SubnetCIDRBlock); err != nil {
		return Network{}, err
	}
	if n.SubnetGatewayIPv4, err = parsePrefix("SubnetGatewayIpv4Address", wn.SubnetGatewayIpv4Address); err != nil {
		return Network{}, err
	}
	return n, nil
}

func parseAddrs(field string, ss []string) ([]netip.Addr, error) {
	if len(ss) == 0 {
		return nil, nil
	}
	out := make([]netip.Addr, 0, len(ss))
	for i, s := range ss {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", field, i, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// parsePrefix accepts a CIDR (keeping host bits, as in the gateway's
// "172.31.32.1/20") or a bare address, taken as a full-length prefix.
func parsePrefix(field, s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, nil
	}
	if strings.IndexByte(s, '/') < 0 {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%s: %w", field, err)
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s: %w", field, err)
	}
	return p, nil
}
