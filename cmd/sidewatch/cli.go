package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/sidewatch/sidewatch/sidecar"
	"github.com/sidewatch/sidewatch/sidecar/health"
)

// cli is the command tree. Global flags configure sidewatch's own
// diagnostics, which go to stderr; events never do.
type cli struct {
	LogFormat string `name:"log-format" env:"SIDEWATCH_LOG_FORMAT" default:"json" enum:"json,text" help:"Diagnostics format on stderr: json or text."`
	LogLevel  string `name:"log-level" env:"SIDEWATCH_LOG_LEVEL" default:"info" enum:"debug,info,warn,error" help:"Diagnostics level: debug, info, warn or error."`

	Run             runCmd     `cmd:"" help:"Run the sidecar: receive logs, watch the network, write events."`
	Health          healthCmd  `cmd:"" help:"Exit 0 if the sidecar on --addr is healthy, 1 if not (for ECS healthCheck)."`
	Replay          ReplayCmd  `cmd:"" help:"Replay pcap/pcapng files through the flow path and print the events."`
	Rules           rulesCmd   `cmd:"" help:"Check Suricata-format rule files."`
	Version         versionCmd `cmd:"" help:"Print the version."`
	TaskdefCommands `embed:""`
}

// env carries what commands need from main.
type env struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
}

type runCmd struct {
	sidecar.Config `embed:""`
}

func (c *runCmd) Run(e *env) error {
	// A reader of stdout that goes away (`| head`) must fail the stdout
	// sink (EPIPE, counted), not kill the sidecar with SIGPIPE before it
	// drains the other sinks.
	signal.Ignore(syscall.SIGPIPE)
	return sidecar.Run(e.ctx, c.Config, e.stdout, e.log, version)
}

type healthCmd struct {
	Addr    string        `name:"addr" env:"SIDEWATCH_HEALTH_ADDR" default:"127.0.0.1:9901" help:"Address of the sidecar's health listener (its --health-addr)."`
	Timeout time.Duration `name:"timeout" env:"SIDEWATCH_HEALTH_TIMEOUT" default:"3s" help:"Give up after this long."`
}

func (c *healthCmd) Run(e *env) error {
	if c.Addr == "" {
		return errors.New("--addr (SIDEWATCH_HEALTH_ADDR) is empty: the sidecar's health listener is disabled")
	}
	ctx, cancel := context.WithTimeout(e.ctx, c.Timeout)
	defer cancel()
	if err := health.Check(ctx, c.Addr); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "ok")
	return nil
}

type versionCmd struct{}

func (versionCmd) Run(e *env) error {
	_, err := fmt.Fprintln(e.stdout, "sidewatch", version)
	return err
}

// exitCode carries kong's requested exit status out of its Exit hook.
type exitCode int

// Exit statuses of run.
const (
	exitOK        = 0
	exitFailed    = 1
	exitUsage     = 2
	exitDiscarded = 3 // `run` stopped but could not finish what it had accepted
)

// run parses args and runs the chosen command. It returns the process exit
// status: 0 ok, 1 the command failed, 2 bad usage or configuration, 3 the
// sidecar discarded accepted data at shutdown (counted and logged), or the
// status an error carries (ExitCode).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	var c cli
	parser, err := kong.New(&c,
		kong.Name("sidewatch"),
		kong.Description("Security sidecar for AWS ECS Fargate tasks. Events are EVE-compatible JSON lines."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(exitCode(code)) }),
		kong.UsageOnError(),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
	)
	if err != nil {
		fmt.Fprintln(stderr, "sidewatch:", err)
		return exitFailed
	}
	defer func() {
		if r := recover(); r != nil {
			c, ok := r.(exitCode)
			if !ok {
				panic(r)
			}
			code = int(c)
		}
	}()
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "sidewatch: error: %v\n", err)
		return exitUsage
	}
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr, log: newLogger(stderr, c.LogFormat, c.LogLevel)}
	// The selected command is called directly rather than through
	// kctx.Run, so that nothing holds kong's model of the flags (about
	// 1 MB of heap with its parser; dead once parsed, as parser and kctx
	// are not used below) while the sidecar runs for days.
	name := kctx.Command()
	cmd, ok := kctx.Selected().Target.Addr().Interface().(interface{ Run(*env) error })
	if !ok {
		fmt.Fprintf(stderr, "sidewatch: error: %s: not a command\n", name)
		return exitUsage
	}
	if err := cmd.Run(e); err != nil {
		if errors.Is(err, sidecar.ErrDiscarded) {
			e.log.Error(name+": shutdown discarded data", "err", err)
			return exitDiscarded
		}
		e.log.Error(name+" failed", "err", err)
		var ec interface{ ExitCode() int }
		if errors.As(err, &ec) {
			return ec.ExitCode()
		}
		return exitFailed
	}
	return exitOK
}

func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	lv.UnmarshalText([]byte(level)) // kong's enum has checked it
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
