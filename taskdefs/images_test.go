package taskdefs

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestClassifyImage(t *testing.T) {
	aws := []string{"/bin/sh", "-c", "/entrypoint.sh"}
	awsInit := []string{"/bin/sh", "-c", "/init/fluent_bit_init_entrypoint.sh"}
	upstreamCmd := []string{FluentBitPath, "-c", FireLensConfig}
	tests := []struct {
		name, ref string
		want      RouterImage
	}{
		{"aws_public_stable", "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable",
			RouterImage{Family: FamilyAWS, Cmd: aws, Known: true}},
		{"aws_dockerhub_version", "amazon/aws-for-fluent-bit:2.32.3",
			RouterImage{Family: FamilyAWS, Cmd: aws, Known: true, FluentBit: "1.9.10"}},
		{"aws_dated_version", "docker.io/amazon/aws-for-fluent-bit:2.32.2.20241008",
			RouterImage{Family: FamilyAWS, Cmd: aws, Known: true, FluentBit: "1.9.10"}},
		{"aws_ecr_classic", "906394416424.dkr.ecr.eu-west-1.amazonaws.com/aws-for-fluent-bit:3.0.1",
			RouterImage{Family: FamilyAWS, Cmd: aws, Known: true, FluentBit: "4.1.1"}},
		{"aws_ecr_china", "128054284489.dkr.ecr.cn-north-1.amazonaws.com.cn/aws-for-fluent-bit:2.28.4",
			RouterImage{Family: FamilyAWS, Cmd: aws, Known: true, FluentBit: "1.9"}},
		{"aws_3_2_1", "public.ecr.aws/aws-observability/aws-for-fluent-bit:3.2.1",
			RouterImage{Family: FamilyAWS, Cmd: aws, Known: true, FluentBit: "4.2.2"}},
		{"aws_old_line", "amazon/aws-for-fluent-bit:2.19.0",
			RouterImage{Family: FamilyAWS, Cmd: aws, Known: true, FluentBit: "1.8"}},
		{"aws_init_version", "public.ecr.aws/aws-observability/aws-for-fluent-bit:init-2.32.3",
			RouterImage{Family: FamilyAWS, Init: true, Cmd: awsInit, Known: true, FluentBit: "1.9.10"}},
		{"aws_init_latest", "amazon/aws-for-fluent-bit:init-latest",
			RouterImage{Family: FamilyAWS, Init: true, Cmd: awsInit, Known: true}},
		{"aws_init_debug_arch", "amazon/aws-for-fluent-bit:init-arm64-debug-2.32.3",
			RouterImage{Family: FamilyAWS, Init: true, Cmd: awsInit, Known: true, FluentBit: "1.9.10"}},
		{"aws_pull_through_cache", "210987654321.dkr.ecr.us-east-1.amazonaws.com/ecr-public/aws-observability/aws-for-fluent-bit:2.32.3",
			RouterImage{Family: FamilyAWS, Cmd: aws, Known: true, FluentBit: "1.9.10"}},
		{"aws_windows", "amazon/aws-for-fluent-bit:windowsservercore-stable",
			RouterImage{Family: FamilyAWS, Windows: true}},
		// A private repository of the same name may be a custom build.
		{"own_ecr_same_name", "210987654321.dkr.ecr.us-east-1.amazonaws.com/aws-for-fluent-bit:2.32.3-clicks",
			RouterImage{Family: FamilyUnknown}},
		{"upstream_version", "fluent/fluent-bit:5.1.1",
			RouterImage{Family: FamilyUpstream, Entrypoint: []string{FluentBitPath}, Cmd: upstreamCmd, Known: true, FluentBit: "5.1.1"}},
		{"upstream_minor", "cr.fluentbit.io/fluent/fluent-bit:3.2",
			RouterImage{Family: FamilyUpstream, Entrypoint: []string{FluentBitPath}, Cmd: upstreamCmd, Known: true, FluentBit: "3.2"}},
		{"upstream_debug", "fluent/fluent-bit:4.0.3-debug",
			RouterImage{Family: FamilyUpstream, Cmd: upstreamCmd, Known: true, FluentBit: "4.0.3"}},
		{"upstream_digest", "fluent/fluent-bit@sha256:0123abcd",
			RouterImage{Family: FamilyUpstream, Entrypoint: []string{FluentBitPath}, Cmd: upstreamCmd, Known: true}},
		{"upstream_windows", "fluent/fluent-bit:windows-2022-5.1.1", RouterImage{Family: FamilyUpstream, Windows: true}},
		{"unknown", "newrelic/newrelic-fluentbit-output:2.0.0", RouterImage{Family: FamilyUnknown}},
		{"unknown_windows", "example.com/fb:windows-ltsc2022", RouterImage{Family: FamilyUnknown, Windows: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.Ref = tt.ref
			if diff := cmp.Diff(tt.want, ClassifyImage(tt.ref)); diff != "" {
				t.Errorf("ClassifyImage(%q) (-want +got):\n%s", tt.ref, diff)
			}
		})
	}
}

func TestInterpretStart(t *testing.T) {
	awsImg := ClassifyImage("amazon/aws-for-fluent-bit:2.32.3")
	upstream := ClassifyImage("fluent/fluent-bit:5.1.1")
	unknown := ClassifyImage("example.com/fb:1")
	awsArgs := []string{"-e", "/fluent-bit/firehose.so", "-e", "/fluent-bit/cloudwatch.so", "-e", "/fluent-bit/kinesis.so"}
	tests := []struct {
		name    string
		img     RouterImage
		ep, cmd []string
		want    Start
		wantErr string
	}{
		{name: "aws_image", img: awsImg, want: Start{Run: FluentBitPath, Args: awsArgs}},
		{name: "aws_init_image", img: ClassifyImage("amazon/aws-for-fluent-bit:init-latest"), want: Start{AWSInit: true}},
		{name: "upstream_image_ignores_repeated_path", img: upstream, want: Start{Run: FluentBitPath}},
		{name: "upstream_command_only", img: upstream, cmd: []string{"-c", FireLensConfig, "-R", "/p.conf"}, want: Start{Run: FluentBitPath, Args: []string{"-R", "/p.conf"}}},
		{name: "entrypoint_and_command", img: unknown, ep: []string{"/opt/fluent-bit/bin/fluent-bit"}, cmd: []string{"--plugin=/x.so", "-c", FireLensConfig, "-v"},
			want: Start{Run: "/opt/fluent-bit/bin/fluent-bit", Args: []string{"--plugin=/x.so", "-v"}}},
		{name: "shell_form_entrypoint_script", img: awsImg, cmd: []string{"sh", "-c", "/entrypoint.sh"}, want: Start{Run: FluentBitPath, Args: awsArgs}},
		{name: "entrypoint_sh_of_unknown_image", img: unknown, ep: []string{"/entrypoint.sh"}, wantErr: "it starts /entrypoint.sh, which is not Fluent Bit"},
		{name: "shell_script", img: awsImg, cmd: []string{"/bin/bash", "-c", "envsubst < a > b && exec /entrypoint.sh"}, wantErr: "it starts with a shell script"},
		{name: "own_config", img: upstream, cmd: []string{"-c", "/fluent-bit/etc/mine.conf"}, wantErr: "its own config /fluent-bit/etc/mine.conf"},
		{name: "daemon", img: upstream, cmd: []string{"-d", "-c", FireLensConfig}, wantErr: "as a daemon"},
		{name: "unknown_command_only", img: unknown, cmd: []string{"-c", FireLensConfig}, wantErr: "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv, known := effectiveArgv(tt.img, tt.ep, tt.cmd)
			var got Start
			var err error
			if !known {
				err = errors.New("unknown")
			} else {
				got, err = interpretStart(tt.img, argv)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("interpretStart(%q) = %+v, %v; want an error containing %q", argv, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("interpretStart(%q) = %v", argv, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("interpretStart(%q) (-want +got):\n%s", argv, diff)
			}
		})
	}
}

func TestParseStartCommand(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: `/fluent-bit/bin/fluent-bit -e /x.so -c /fluent-bit/etc/fluent-bit.conf`, want: []string{"/fluent-bit/bin/fluent-bit", "-e", "/x.so", "-c", "/fluent-bit/etc/fluent-bit.conf"}},
		{in: `["/fluent-bit/bin/fluent-bit", "-p", "a b"]`, want: []string{"/fluent-bit/bin/fluent-bit", "-p", "a b"}},
		{in: `sh -c 'exec /entrypoint.sh'`, want: []string{"sh", "-c", "exec /entrypoint.sh"}},
		{in: `  a  "b c"d  `, want: []string{"a", "b cd"}},
		{in: `a 'b`, wantErr: true},
		{in: `["a"`, wantErr: true},
		{in: `   `, wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseStartCommand(tt.in)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("ParseStartCommand(%q) = %q, %v; want %q (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestStartLabelRoundTrip(t *testing.T) {
	for _, s := range []Start{
		{Run: FluentBitPath, Args: []string{"-e", "/fluent-bit/bin/out_newrelic.so"}},
		{AWSInit: true},
		{Run: "/opt/fb", FluentBit: "5.1.1"},
	} {
		got, err := parseStartLabel(s.label())
		if err != nil || !cmp.Equal(got, s) {
			t.Errorf("parseStartLabel(%s) = %+v, %v; want %+v", s.label(), got, err, s)
		}
	}
	for _, bad := range []string{`{"run":"relative"}`, `{"run":"/x","extra":1}`, `nope`} {
		if _, err := parseStartLabel(bad); err == nil {
			t.Errorf("parseStartLabel(%s) accepted it", bad)
		}
	}
}

func FuzzParseStartCommand(f *testing.F) {
	f.Add(`/fluent-bit/bin/fluent-bit -e /x.so -c /fluent-bit/etc/fluent-bit.conf`)
	f.Add(`["sh", "-c", "exec /entrypoint.sh"]`)
	f.Add(`a 'b c' "d`)
	f.Fuzz(func(t *testing.T, s string) {
		argv, err := ParseStartCommand(s)
		if err != nil {
			return
		}
		// Whatever parses, inject reads without panicking.
		interpretStart(ClassifyImage("fluent/fluent-bit:5.1.1"), argv)
	})
}

func FuzzParseStartLabel(f *testing.F) {
	f.Add(Start{Run: FluentBitPath, Args: []string{"-e", "/x.so"}}.label())
	f.Add(`{"awsInit":true}`)
	f.Fuzz(func(t *testing.T, s string) {
		st, err := parseStartLabel(s)
		if err != nil {
			return
		}
		again, err := parseStartLabel(st.label())
		if err != nil || again.label() != st.label() {
			t.Errorf("label of %+v does not read back: %+v, %v", st, again, err)
		}
	})
}
