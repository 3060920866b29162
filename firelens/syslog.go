package firelens

import "strconv"

// Paths shared by the sidecar image, the log_router and task definitions.
const (
	// LauncherDir is the image VOLUME the log_router mounts with volumesFrom.
	LauncherDir = "/var/sidewatch/lib/fluent-bit"
	// LauncherPath is the log_router's entryPoint.
	LauncherPath = LauncherDir + "/fluent-launch"
	// PatchedConfigPath is fluent-launch's default -m: beside itself.
	PatchedConfigPath = LauncherDir + "/fluent-bit.conf"
)

// SyslogOutput is the Fluent Bit syslog output that copies every record to
// the sidecar's receiver.
type SyslogOutput struct {
	Mode        string // tcp or udp
	Host        string
	Port        int
	Format      string // rfc3164 or rfc5424
	Maxsize     int    // Syslog_Maxsize: caps the whole line, header included
	RetryLimit  string // "False": retry forever; Fluent Bit's default 1 drops after ~10 s
	HostnameKey string
	AppnameKey  string
	// ProcidKey is the record key sent as PROCID; "" sends none.
	ProcidKey  string
	MessageKey string
	// ProcidPreset is Syslog_Procid_Preset (Fluent Bit 2.0 and later):
	// the PROCID when the record has no ProcidKey. Set, it replaces the
	// record_modifier that adds "pid" to every record, which the user's
	// other outputs then receive too.
	ProcidPreset string
}

// DefaultSyslogOutput is the documented recipe: RFC 3164 over TCP to
// 127.0.0.1:1514, container id as HOSTNAME and container name as APP-NAME.
func DefaultSyslogOutput() SyslogOutput {
	return SyslogOutput{
		Mode:        "tcp",
		Host:        "127.0.0.1",
		Port:        1514,
		Format:      "rfc3164",
		Maxsize:     786432,
		RetryLimit:  "False",
		HostnameKey: "container_id",
		AppnameKey:  "container_name",
		ProcidKey:   "pid",
		MessageKey:  "log",
	}
}

// FluentBitArgs returns the output as Fluent Bit command-line arguments,
// one argv element per token.
func (o SyslogOutput) FluentBitArgs() []string {
	args := []string{
		"-o", "syslog", "-m", "*",
		"-p", "Mode=" + o.Mode,
		"-p", "Host=" + o.Host,
		"-p", "Port=" + strconv.Itoa(o.Port),
		"-p", "Retry_Limit=" + o.RetryLimit,
		"-p", "Syslog_Format=" + o.Format,
		"-p", "Syslog_Maxsize=" + strconv.Itoa(o.Maxsize),
		"-p", "Syslog_Hostname_Key=" + o.HostnameKey,
		"-p", "Syslog_Appname_Key=" + o.AppnameKey,
	}
	if o.ProcidKey != "" {
		args = append(args, "-p", "Syslog_Procid_Key="+o.ProcidKey)
	}
	if o.ProcidPreset != "" {
		args = append(args, "-p", "Syslog_Procid_Preset="+o.ProcidPreset)
	}
	return append(args, "-p", "Syslog_Message_Key="+o.MessageKey)
}

// LauncherCommand is the log_router's command (its entryPoint is
// LauncherPath): fluent-launch's own patches, then "--", then Fluent Bit's
// arguments. goPlugins are -e shared objects (the AWS image's
// /fluent-bit/cloudwatch.so and friends) needed by outputs in the file.
func LauncherCommand(o SyslogOutput, goPlugins ...string) []string {
	cmd := []string{"-s", "Scheduler.Cap", "60", "-i", "Mem_Buf_Limit", "50M", "--"}
	for _, p := range goPlugins {
		cmd = append(cmd, "-e", p)
	}
	if o.ProcidKey != "" && o.ProcidPreset == "" {
		// The documented recipe's constant PROCID, added to every record.
		cmd = append(cmd, "-F", "record_modifier", "-m", "*", "-p", "Record="+o.ProcidKey+" 1")
	}
	return append(cmd, o.FluentBitArgs()...)
}
